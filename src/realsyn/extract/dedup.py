"""Text keys of the redundancy filters: the normalised text of exact duplicates and the
character shingles of near-exact (MinHash) ones, and groups from index pairs.

Connected components (realsyn.dataflow.components) close pairs into groups and
`keep_one_per_group` keeps one representative per group by a stated priority:
- images: the largest image (width x height); ties: the first in dataset order;
- sentences: the first occurrence in dataset order (shard order, then row order).
The single-process pair finders the partitioned stages reproduce are the tests' oracles
(tests/extract/oracle_dedup_pairs.py).
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

from realsyn.dataflow.components import component_labels

_NOT_WORD = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Key for exact duplicates: NFKC, case-folded, punctuation dropped, spaces collapsed
    ("A dog sitting next to a door." == "a dog sitting next to a door")."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACES.sub(" ", _NOT_WORD.sub(" ", text)).strip()


def shingles(text: str, size: int) -> set[bytes]:
    key = normalize_text(text)
    if len(key) <= size:
        return {key.encode()}
    return {key[i:i + size].encode() for i in range(len(key) - size + 1)}


def group_labels(count: int, *pair_sets: np.ndarray) -> np.ndarray:
    """Group labels of `count` items joined by the given pair arrays."""
    return component_labels(count, *pair_sets)
