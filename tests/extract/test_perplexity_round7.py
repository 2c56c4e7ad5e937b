"""The default perplexity scorer on the round-7 held-out set (perplexity_round7_set.py), drawn
from packages the project had never used and committed before it was first measured
(issue #25 part 1, round 7). Measured once, with the v6 scorer and its window [7.9e-08, 77]
committed before it: AUC 0.995, 98.0% of the 400 clean sentences kept (Crawl 196 of 200, the
puzzles' help 196 of 200), 96.2% of the 500 bad ones dropped (95.25% without the code kind);
nothing was changed after that measurement. Issue #25's goal (>= 98% kept and >= 85% dropped)
holds, the keep goal with no margin: one clean sentence more lost would miss it. (In the same
run, v5 at [7.9e-08, 44]: AUC 0.995, 96.25% kept, 97.8% dropped; v4 at [1.1e-06, 23]: 0.991,
96.5%, 92.0%, shuffled word order 72%.)"""

from __future__ import annotations

import math

import pytest
from tests.extract import perplexity_fresh_set as tuning4
from tests.extract import perplexity_heldout_set as tuning2
from tests.extract import perplexity_labelled_set as tuning
from tests.extract import perplexity_round7_set as round7
from tests.extract import perplexity_unseen_set as tuning3

TUNING_SETS = (tuning, tuning2, tuning3, tuning4)
# issue #25: >= 98% of plain, well-formed sentences kept and >= 85% of machine-made bad ones
# dropped, on text no default was tuned on
GOAL_KEPT, GOAL_DROPPED = 0.98, 0.85


def test_round7_set_is_apart_from_the_four_tuning_sets():
    tuning.assert_apart(round7, TUNING_SETS, [200, 200])
    labels = set(tuning.read_lines("perplexity_round7_sgt_puzzles_labels.txt"))
    earlier = set(tuning.read_lines("perplexity_unseen_gui_labels.txt")) | set(
        tuning.read_lines("perplexity_fresh_xscreensaver_labels.txt"))
    # the boilerplate items are not the tuning sets' (three generic labels are there too)
    shared = labels & (set(tuning2.BOILERPLATE) | set(tuning.MENU_ITEMS) | earlier)
    assert shared == {"Grid size", "Print", "Undo"}


@pytest.fixture(scope="module")
def quality():
    return tuning.default_window_quality(tuning.default_ngram_scorer(), round7)


def test_issue_goal_on_the_round7_set(quality):
    clean = sum(map(len, round7.clean_sentences().values()))
    # counted in sentences: 392 of 400 is exactly 98%
    assert round(quality["clean_kept"] * clean) >= math.ceil(GOAL_KEPT * clean)
    assert quality["bad_dropped"] >= GOAL_DROPPED


def test_default_model_on_the_round7_set(quality):
    """The figures of the one measurement (v6 at [7.9e-08, 77])."""
    assert quality["auc"] >= 0.995  # 0.9952
    assert quality["kept_by_kind"] == {"crawl": 0.98, "sgt_puzzles": 0.98}  # 196 and 196 of 200
    assert quality["bad_dropped"] >= 0.96  # 481 of 500
    dropped = quality["dropped_by_kind"]
    assert dropped["repeated_words"] >= 0.965  # 97 of 100
    assert dropped["shuffled"] >= 0.915  # 92 (v4: 72)
    assert dropped["char_noise"] >= 0.935  # 94
    assert dropped["boilerplate"] >= 0.975  # 98
    assert dropped["code"] == 1.0  # 100 (jQuery: its "name(" calls and dotted names are marks)
