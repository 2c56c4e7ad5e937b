"""The unseen perplexity set of issue #25 part 1: drawn, and committed, before it was first
measured, from packages the project had never used, after the earlier held-out set
(perplexity_heldout_set.py) had been measured three times and became a second tuning set.
It was the held-out set of v4 (measured once); since v5 (issue #25 part 1, round 6) it is the
third tuning set, and the fresh set (perplexity_fresh_set.py) is the held-out one.

Clean, prose the project did not write (files under data/, see their headers; chosen by
scripts/build_perplexity_labelled_set.py):
- klavaro: every sentence of the English typing paragraphs of Klavaro (Debian `klavaro`,
  GPL-3+) that reads as ordinary prose: everyday web writing (blogs, news) on errands,
  spelling reform, Braille, e-mail outages;
- gnome_help: 200 sentences of the GNOME desktop help (Debian `gnome-user-docs`,
  CC-BY-SA-3.0).

Bad, made by the held-out set's generators with a new seed from the sentences above: repeated
words, shuffled word order and character noise; boilerplate from the GNOME help's <gui> labels
(buttons, menus, settings) joined by the same separators; and 100 code lines of Perl's core
modules (Debian `perl-modules-5.36`, GPL-1+ or Artistic).
"""

from __future__ import annotations

from tests.extract.perplexity_heldout_set import BAD_KINDS, BAD_PER_KIND, machine_made
from tests.extract.perplexity_labelled_set import read_lines

__all__ = ["BAD_KINDS", "BAD_PER_KIND", "bad_sentences", "clean_sentences"]


def clean_sentences() -> dict[str, list[str]]:
    return {"klavaro": read_lines("perplexity_unseen_klavaro.txt"),
            "gnome_help": read_lines("perplexity_unseen_gnome_help.txt")}


def bad_sentences(seed: int = 2501) -> dict[str, list[str]]:
    """BAD_PER_KIND machine-made bad sentences of each kind (and the Perl code lines)."""
    clean = [s for group in clean_sentences().values() for s in group]
    return machine_made(seed, clean, read_lines("perplexity_unseen_gui_labels.txt"),
                        read_lines("perplexity_unseen_perl_code.txt"))
