"""The English training data of the default n-gram perplexity model, from the registries.

The text comes from two permissively licensed Debian packages:

- `wordnet-base` (WordNet 3.0, Princeton's WordNet licence, BSD-like): the glosses and example
  sentences of its 117,659 synsets, about 184,000 lines and 1.5M words of general vocabulary.
- `python3.11-doc` (the Python documentation, PSF License 2.0): the sentences of its HTML
  pages' paragraphs that hold no inline code, about 1M words of instructional prose, the
  register of software manuals such as the demo's GIMP manual.

Both are narrow registers (definitions, software manuals), so everyday words such as "tabby",
"barista" or "windowsill" are rare or absent in them. Broad English enters through the PyPI
package `wordfreq` 3.1.1 (code Apache-2.0, data CC-BY-SA-4.0: word frequencies merged from
Wikipedia, subtitles, news, books, web text and social media): its 321,180 English word
frequencies form the unigram prior of the model (PRIOR_WEIGHT), and the model scores with a
rarity discount (RARITY_DISCOUNT), a repeat penalty (REPEAT_PENALTY), an order contrast
(ORDER_CONTRAST), a symbol penalty (SYMBOL_PENALTY), an unknown-word penalty
(UNKNOWN_PENALTY), a skeleton score (SKELETON_*) and a cap on the cost of proper names
(NAME_COST), see ngram_lm.

Neither package is used by the tests or the labelled sets the model is measured on.
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
_CODE_MARK = "\x00"  # stands for inline code while a paragraph is split into sentences
# All chosen on the tuning set only (tests/extract/perplexity_labelled_set.py), by the highest
# ROC AUC of clean against bad sentences: the prior weight over 0.15-0.6 with discounts 0-0.9
# (v2: 0.945 against 0.934 for v1); for v3 the discount (0-0.6), the repeat penalty (8-64 nats)
# and the order contrast (0.5-3) together: the AUCs within 0.001 of the best (0.996, less than
# one clean sentence's worth) span discounts 0-0.4, so the discount stayed at 0.2 (chosen with
# the penalty alone: 0.990), where the best penalty and contrast are 32 and 3 (0.9957; v2
# 0.945). v4 (issue #25 part 1) was chosen on both tuning sets together (the first and the
# former held-out set, tests/extract/perplexity_heldout_set.py), by the ROC AUC of all their
# clean sentences against all their bad ones: the symbol penalty (0-128 nats) and the unknown
# penalty (0-32) with the discount (0-0.6) and the contrast (3-8); the best there is 64, 16,
# 0.4 and 3 (0.9892; v3's settings: 0.9784; 128 nats gained 0.0003 more, within noise, and
# would drop any short sentence with one mark). The unseen set, measured once for v4, is the
# third tuning set since v5; the fresh set (perplexity_fresh_set.py) is measured, never tuned on.
PRIOR_WEIGHT = 0.15  # share of the unigram level taken from wordfreq's frequencies
RARITY_DISCOUNT = 0.4  # share of each known word's unigram surprisal refunded in scoring
REPEAT_PENALTY = 32.0  # nats added to a repeated token's unigram surprisal in scoring
ORDER_CONTRAST = 3.0  # weight of (cost forwards - cost backwards) added to the cost
SYMBOL_PENALTY = 64.0  # nats added to a sentence's cost per mark of code or markup
UNKNOWN_PENALTY = 16.0  # nats added to an unknown (misspelt, garbled) token's cost
# v5 (issue #25 part 1, round 6): the skeleton model (ngram_skeleton), for shuffled word order,
# v4's weak kind (53% dropped on the unseen set). Chosen on the three tuning sets (the first,
# the former held-out and the former unseen set) by the mean share of bad sentences dropped
# at the window their clean sentences calibrate (99% kept), with every set keeping >= 98%:
# kept words 50-400, orders 4-5, weights 0-3 and contrasts 0-3 were searched; 100 words, order
# 4 and 1 and 1 are the best there (dropped 96.7%, 90.8%, 94.4%; v4 87.5%, 84.2%, 86.8% at the
# window recalibrated the same way; union AUC 0.9912 against 0.9896).
SKELETON_WORDS = 100  # the most frequent English words the skeleton keeps (the grammar words)
SKELETON_ORDER = 4  # the skeleton model's order: its vocabulary is small, so it sees further
SKELETON_WEIGHT = 1.0  # weight of the skeleton's cost per token added to the cost
SKELETON_CONTRAST = 1.0  # weight of (skeleton cost forwards - backwards) added to the cost
# v6 (issue #25 part 1, round 7): proper names (a capitalised word inside a sentence that is
# not a grammar word) cost at most NAME_COST nats, so names of other languages ("Hun Tavan Od")
# are not charged as garbled words. Chosen on the four tuning sets (the round-6 fresh set is the
# fourth) by the mean share of bad sentences dropped at the window calibrated by the rule of
# tests/extract/perplexity_labelled_set.py's calibrate_per_source (every source keeps >= 98%):
# 0 (v5) 91.6%, 3 90.0%, 4 90.7%, 5 91.3%, 6 91.7%, 7 91.6%, 8 91.6%, 10 91.7% (union AUC
# 0.9909-0.9913; 6: 0.9913, the best).
NAME_COST = 6.0  # nats a proper name costs at most (a rare known word costs about as much)
WORDFREQ_LIST = "large"  # wordfreq's list of every English word down to 1 per 100 million


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
    """Sentences of the prose paragraphs of the Python documentation: code blocks skipped, and
    sentences with inline code (`os.path.join()`) left out, so that code does not read as
    English to the model."""
    from selectolax.lexbor import LexborHTMLParser

    for page in sorted(root.rglob("*.html")):
        tree = LexborHTMLParser(page.read_text(encoding="utf-8", errors="replace"))
        for node in tree.css("p code, p tt, p span.pre"):
            node.replace_with(_CODE_MARK)
        for paragraph in tree.css("p"):
            text = " ".join(paragraph.text(separator=" ").split())
            yield from (sentence for sentence in _SENTENCE_END.split(text)
                        if _CODE_MARK not in sentence)


def wordfreq_prior() -> dict[str, float]:
    """Frequency of every word of wordfreq's English list (its bins are centibels: bin i holds
    the words of frequency 10 ** (-i / 100))."""
    try:
        import wordfreq
    except ImportError:
        raise CorpusMissing("the n-gram model's unigram prior needs the PyPI package wordfreq "
                            "(pip install wordfreq==3.1.1)") from None
    return {word: 10 ** (-centibels / 100)
            for centibels, words in enumerate(wordfreq.get_frequency_list("en", WORDFREQ_LIST))
            for word in words}


def training_lines() -> Iterator[str]:
    missing = missing_packages()
    if missing:
        raise CorpusMissing(
            f"the n-gram model's training text needs the Debian packages {', '.join(missing)} "
            f"(apt-get install {' '.join(missing)}; `make perplexity-model` does it)")
    yield from wordnet_lines()
    yield from python_doc_lines()
