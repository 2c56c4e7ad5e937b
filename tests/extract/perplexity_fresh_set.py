"""The fresh held-out perplexity set of issue #25 part 1, round 6: drawn, and committed before
it was first measured, from packages the project had never used, after the unseen set
(perplexity_unseen_set.py) had been measured and became the third tuning set. Only measured;
nothing is tuned on it.

Clean, prose the project did not write (files under data/, see their headers; chosen by
scripts/build_perplexity_labelled_set.py with its prose rule: 8-40 words, a capital first letter,
a full stop at the end, no digits or symbols; nothing else is left out):
- xscreensaver: every such sentence of the descriptions of the XScreenSaver display modes
  (Debian `xscreensaver-data` and `xscreensaver-data-extra` 6.06+dfsg1-3+deb12u1, the
  XScreenSaver licence: MIT-style, each hack's authors);
- stellarium: 200 sentences of the English sky culture descriptions of Stellarium (Debian
  `stellarium-data` 0.22.2-1), only the cultures licensed under the GPL v2.0 or CC BY-SA.

Bad, made by the held-out set's generators (machine_made) with a new seed from the sentences
above: repeated words, shuffled word order and character noise; boilerplate from the labels of
the XScreenSaver settings (sliders, check boxes, menu entries) joined by the same separators;
and 100 code lines of the Lua modules of Penlight (Debian `lua-penlight` 1.13.1-3, MIT), a
language the project had not looked at.
"""

from __future__ import annotations

from tests.extract.perplexity_heldout_set import BAD_KINDS, BAD_PER_KIND, machine_made
from tests.extract.perplexity_labelled_set import read_lines

__all__ = ["BAD_KINDS", "BAD_PER_KIND", "bad_sentences", "clean_sentences"]


def clean_sentences() -> dict[str, list[str]]:
    return {"xscreensaver": read_lines("perplexity_fresh_xscreensaver.txt"),
            "stellarium": read_lines("perplexity_fresh_stellarium.txt")}


def bad_sentences(seed: int = 2606) -> dict[str, list[str]]:
    """BAD_PER_KIND machine-made bad sentences of each kind (and the Lua code lines)."""
    clean = [s for group in clean_sentences().values() for s in group]
    return machine_made(seed, clean, read_lines("perplexity_fresh_xscreensaver_labels.txt"),
                        read_lines("perplexity_fresh_lua_code.txt"))
