"""The round-7 held-out perplexity set (tests/extract/perplexity_round7_set.py), drawn from
packages the project had never used and committed before it was first measured (issue #25
part 1, round 7)."""

from __future__ import annotations

from tests.extract import perplexity_fresh_set as tuning4
from tests.extract import perplexity_heldout_set as tuning2
from tests.extract import perplexity_labelled_set as tuning
from tests.extract import perplexity_round7_set as round7
from tests.extract import perplexity_unseen_set as tuning3

TUNING_SETS = (tuning, tuning2, tuning3, tuning4)


def test_round7_set_is_apart_from_the_four_tuning_sets():
    tuning.assert_apart(round7, TUNING_SETS, [200, 200])
    labels = set(tuning.read_lines("perplexity_round7_sgt_puzzles_labels.txt"))
    earlier = set(tuning.read_lines("perplexity_unseen_gui_labels.txt")) | set(
        tuning.read_lines("perplexity_fresh_xscreensaver_labels.txt"))
    # the boilerplate items are not the tuning sets' (three generic labels are there too)
    shared = labels & (set(tuning2.BOILERPLATE) | set(tuning.MENU_ITEMS) | earlier)
    assert shared == {"Grid size", "Print", "Undo"}
