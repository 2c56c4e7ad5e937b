"""ImageNet-1k class names as readable words, in the classifier's output order.

The names come from timm's data files (`imagenet_synsets.txt`: the 1000 WordNet ids in class
order; `imagenet_synset_to_lemma.txt`: id -> comma-separated lemmas). They are read as plain
files, without importing timm (which would import torchvision).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

NUM_CLASSES = 1000


@dataclass(frozen=True)
class ImagenetClass:
    index: int
    synset: str  # WordNet id, e.g. "n02123045"
    lemmas: tuple[str, ...]  # e.g. ("tabby", "tabby cat")

    @property
    def name(self) -> str:
        """The first lemma: the short readable label ("tabby")."""
        return self.lemmas[0]


def _timm_info_dir() -> Path:
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the ImageNet label names are read from timm's data files: pip install timm")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "_info"


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[ImagenetClass, ...]:
    folder = _timm_info_dir()
    synsets = (folder / "imagenet_synsets.txt").read_text().split()
    lemmas: dict[str, str] = {}
    for line in (folder / "imagenet_synset_to_lemma.txt").read_text().splitlines():
        synset, _, words = line.partition("\t")
        lemmas[synset] = words
    if len(synsets) != NUM_CLASSES:
        raise ValueError(f"expected {NUM_CLASSES} ImageNet synsets, found {len(synsets)}")
    return tuple(
        ImagenetClass(index, synset,
                      tuple(word.strip() for word in lemmas[synset].split(",") if word.strip()))
        for index, synset in enumerate(synsets))


def imagenet_labels() -> list[str]:
    """The 1000 short readable labels, index-aligned with the classifier's logits."""
    return [cls.name for cls in imagenet_classes()]
