"""The default perplexity scorer on the fresh held-out set (tests/extract/perplexity_fresh_set.py),
drawn from packages the project had never used and committed before it was first measured
(issue #25 part 1, round 6). Measured once, with the v5 scorer and its window committed before
it: AUC 0.990, 95.9% of the 293 clean sentences kept (XScreenSaver 91 of 93, Stellarium 190 of
200), 96.0% of the 500 bad ones dropped at [7.9e-08, 44]; nothing was changed after that
measurement. Issue #25's goal (>= 98% kept and >= 85% dropped) is met for the bad sentences,
not for the clean ones. (v4 at its window [1.1e-06, 23], measured in the same run: AUC 0.986,
97.6% kept, 90.6% dropped, shuffled word order 69%.)"""

from __future__ import annotations

import pytest
from tests.extract import perplexity_fresh_set as fresh
from tests.extract import perplexity_heldout_set as tuning2
from tests.extract import perplexity_labelled_set as tuning
from tests.extract import perplexity_unseen_set as tuning3

from realsyn.models import ngram_corpus
from realsyn.models.perplexity import make_scorer, ngram_cache_path

TUNING_SETS = (tuning, tuning2, tuning3)


def test_fresh_set_is_apart_from_the_three_tuning_sets():
    tuning.assert_apart(fresh, TUNING_SETS, [93, 200])
    # the boilerplate items are not the tuning sets' (two generic labels are in the GNOME help too)
    labels = set(tuning.read_lines("perplexity_fresh_xscreensaver_labels.txt"))
    earlier = set(tuning.read_lines("perplexity_unseen_gui_labels.txt"))
    assert labels & (set(tuning2.BOILERPLATE) | set(tuning.MENU_ITEMS) | earlier) == {"1", "Speed"}


@pytest.fixture(scope="module")
def quality():
    if ngram_corpus.missing_packages() and not ngram_cache_path().exists():
        pytest.skip("needs the Debian packages of the n-gram corpus (make perplexity-model)")
    return tuning.default_window_quality(make_scorer("ngram"), fresh)


@pytest.mark.xfail(strict=True, reason="v5 keeps 95.9% of the fresh set's clean sentences "
                   "(the goal: 98%); it drops 96.0% of the bad ones (the goal: 85%)")
def test_issue_goal_on_the_fresh_set(quality):
    """Issue #25: >= 98% of plain, well-formed sentences kept and >= 85% of machine-made bad
    ones dropped, on text no default was tuned on."""
    assert quality["clean_kept"] >= 0.98 and quality["bad_dropped"] >= 0.85


def test_default_model_on_the_fresh_set(quality):
    """The figures of the one measurement (v5 at [7.9e-08, 44])."""
    assert quality["auc"] >= 0.99  # 0.9903
    assert quality["clean_kept"] >= 0.955  # 281 of 293
    assert quality["kept_by_kind"]["xscreensaver"] >= 0.975  # 91 of 93
    assert quality["kept_by_kind"]["stellarium"] >= 0.95  # 190 of 200
    assert quality["bad_dropped"] >= 0.955  # 480 of 500
    dropped = quality["dropped_by_kind"]
    assert dropped["repeated_words"] >= 0.965  # 97 of 100
    assert dropped["shuffled"] >= 0.905  # 91
    assert dropped["char_noise"] >= 0.925  # 93
    assert dropped["boilerplate"] == 1.0  # 100
    assert dropped["code"] >= 0.985  # 99
