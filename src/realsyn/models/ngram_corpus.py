"""The English training text of the default n-gram perplexity model, from Debian packages.

Both sources are permissively licensed and install with apt from the registries:

- `wordnet-base` (WordNet 3.0, Princeton's WordNet licence, BSD-like): the glosses and example
  sentences of its 117,659 synsets, about 184,000 lines and 1.5M words of general vocabulary.
- `python3.11-doc` (the Python documentation, PSF License 2.0): the paragraphs of its HTML
  pages, about 1.5M words of instructional prose, the register of software manuals such as
  the demo's GIMP manual.

Neither package is used by the tests or the labelled set the model is measured on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

WORDNET = Path("/usr/share/wordnet")
PYTHON_DOCS = Path("/usr/share/doc/python3.11/html")
PACKAGES = {"wordnet-base": WORDNET, "python3.11-doc": PYTHON_DOCS}
_WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


class CorpusMissing(RuntimeError):
    """A Debian package of the training corpus is not installed."""


def missing_packages() -> list[str]:
    return [name for name, path in PACKAGES.items() if not path.is_dir()]


def wordnet_lines(root: Path = WORDNET) -> Iterator[str]:
    """Glosses and example sentences (each one line) of every synset."""
    for name in _WORDNET_FILES:
        with open(root / name, encoding="latin-1") as lines:
            for line in lines:
                if line.startswith("  "):  # the licence header
                    continue
                _, bar, gloss = line.partition(" | ")
                if not bar:
                    continue
                for part in gloss.split(";"):
                    part = part.strip().strip('"').strip()
                    if part:
                        yield part


def python_doc_lines(root: Path = PYTHON_DOCS) -> Iterator[str]:
    """Sentences of the prose paragraphs of the Python documentation (code blocks skipped)."""
    from selectolax.lexbor import LexborHTMLParser

    for page in sorted(root.rglob("*.html")):
        tree = LexborHTMLParser(page.read_text(encoding="utf-8", errors="replace"))
        for paragraph in tree.css("p"):
            text = " ".join(paragraph.text(separator=" ").split())
            yield from _SENTENCE_END.split(text)


def training_lines() -> Iterator[str]:
    missing = missing_packages()
    if missing:
        raise CorpusMissing(
            f"the n-gram model's training text needs the Debian packages {', '.join(missing)} "
            f"(apt-get install {' '.join(missing)}; `make perplexity-model` does it)")
    yield from wordnet_lines()
    yield from python_doc_lines()
