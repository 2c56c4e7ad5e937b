"""The default perplexity scorer on the round-6 fresh set (tests/extract/perplexity_fresh_set.py),
drawn from packages the project had never used and committed before it was first measured
(issue #25 part 1, round 6); since v6 (round 7) the fourth tuning set. Measured once as the
held-out set, with the v5 scorer and its window committed before it: AUC 0.990, 95.9% of the
293 clean sentences kept (XScreenSaver 91 of 93, Stellarium 190 of 200), 96.0% of the 500 bad
ones dropped at [7.9e-08, 44]: issue #25's keep goal (98%) was not met there. (v4 at its window
[1.1e-06, 23], measured in the same run: AUC 0.986, 97.6% kept, 90.6% dropped.) The v6 name cost
and window were chosen on it and the other three tuning sets; the figures on text nobody tuned
to: test_perplexity_round7.py."""

from __future__ import annotations

import pytest
from tests.extract import perplexity_fresh_set as fresh
from tests.extract import perplexity_heldout_set as tuning2
from tests.extract import perplexity_labelled_set as tuning
from tests.extract import perplexity_unseen_set as tuning3

TUNING_SETS = (tuning, tuning2, tuning3)


def test_fresh_set_is_apart_from_the_three_tuning_sets():
    tuning.assert_apart(fresh, TUNING_SETS, [93, 200])
    # the boilerplate items are not the tuning sets' (two generic labels are in the GNOME help too)
    labels = set(tuning.read_lines("perplexity_fresh_xscreensaver_labels.txt"))
    earlier = set(tuning.read_lines("perplexity_unseen_gui_labels.txt"))
    assert labels & (set(tuning2.BOILERPLATE) | set(tuning.MENU_ITEMS) | earlier) == {"1", "Speed"}


@pytest.fixture(scope="module")
def quality():
    return tuning.default_window_quality(tuning.default_ngram_scorer(), fresh)


def test_default_model_on_the_fourth_tuning_set(quality):
    """v6 at the window the four tuning sets calibrate by source, [7.9e-08, 77] (tuned on):
    AUC 0.991, 99.0% kept, 92.6% dropped (v5 at [7.9e-08, 44], measured once while held out:
    0.990, 95.9%, 96.0%)."""
    assert quality["auc"] >= 0.99  # 0.9909
    assert quality["clean_kept"] >= 0.989  # 290 of 293 (v5: 281)
    assert quality["kept_by_kind"]["xscreensaver"] >= 0.985  # 92 of 93 (v5: 91)
    assert quality["kept_by_kind"]["stellarium"] >= 0.985  # 198 of 200 (v5: 190)
    assert quality["bad_dropped"] >= 0.925  # 463 of 500 (v5: 480)
    dropped = quality["dropped_by_kind"]
    assert dropped["repeated_words"] >= 0.965  # 97 of 100
    assert dropped["shuffled"] >= 0.835  # 84 (v5: 91)
    assert dropped["char_noise"] >= 0.875  # 88 (v5: 93)
    assert dropped["boilerplate"] >= 0.955  # 96 (v5: 100)
    assert dropped["code"] >= 0.975  # 98 (v5: 99)
