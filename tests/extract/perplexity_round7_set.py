"""The round-7 held-out perplexity set of issue #25 part 1: drawn, and committed before it was
first measured, from packages the project had never used, after the fresh set
(perplexity_fresh_set.py) had been measured once and became the fourth tuning set. Only
measured; nothing is tuned on it.

Clean, prose the project did not write (files under data/, see their headers; chosen by
scripts/build_perplexity_labelled_set.py with its prose rule: 8-40 words, a capital first letter,
a full stop at the end, no digits or symbols; nothing else is left out):
- crawl: 200 sentences of the English descriptions of Dungeon Crawl Stone Soup (Debian
  `crawl-common` 2:0.28.0-1.1, GPL-2+): monsters, items, spells, gods and places; its file of
  quotations from other works left out, and paragraphs whose words the game fills in (Lua) too;
- sgt_puzzles: 200 sentences of the English help of Simon Tatham's Portable Puzzle Collection
  (Debian `sgt-puzzles` 20230122.806ae71-2, MIT).

Bad, made by the held-out set's generators (machine_made) with a new seed from the sentences
above: repeated words, shuffled word order and character noise; boilerplate from the 66 terms
of the puzzles' help's definition lists (parameters, menu commands, keys) joined by the same
separators; and 100 code lines of jQuery (Debian `libjs-jquery` 3.6.1+dfsg+~3.5.14-1, MIT):
JavaScript, a language the project had not looked at.
"""

from __future__ import annotations

from tests.extract.perplexity_heldout_set import BAD_KINDS, BAD_PER_KIND, machine_made
from tests.extract.perplexity_labelled_set import read_lines

__all__ = ["BAD_KINDS", "BAD_PER_KIND", "bad_sentences", "clean_sentences"]


def clean_sentences() -> dict[str, list[str]]:
    return {"crawl": read_lines("perplexity_round7_crawl.txt"),
            "sgt_puzzles": read_lines("perplexity_round7_sgt_puzzles.txt")}


def bad_sentences(seed: int = 2707) -> dict[str, list[str]]:
    """BAD_PER_KIND machine-made bad sentences of each kind (and the JavaScript code lines)."""
    clean = [s for group in clean_sentences().values() for s in group]
    return machine_made(seed, clean, read_lines("perplexity_round7_sgt_puzzles_labels.txt"),
                        read_lines("perplexity_round7_js_code.txt"))
