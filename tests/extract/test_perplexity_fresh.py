"""The fresh held-out perplexity set (tests/extract/perplexity_fresh_set.py), drawn from
packages the project had never used and committed before it was first measured (issue #25
part 1, round 6)."""

from __future__ import annotations

from tests.extract import perplexity_fresh_set as fresh
from tests.extract import perplexity_heldout_set as tuning2
from tests.extract import perplexity_labelled_set as tuning
from tests.extract import perplexity_unseen_set as tuning3

TUNING_SETS = (tuning, tuning2, tuning3)


def test_fresh_set_is_apart_from_the_three_tuning_sets():
    clean = fresh.clean_sentences()
    assert [len(v) for v in clean.values()] == [93, 200]
    seen = {s for module in TUNING_SETS for group in module.clean_sentences().values()
            for s in group}
    assert not seen & {s for group in clean.values() for s in group}
    bad = fresh.bad_sentences()
    assert set(bad) == set(fresh.BAD_KINDS)
    assert all(len(v) == fresh.BAD_PER_KIND for v in bad.values())
    assert bad == fresh.bad_sentences()  # a fixed seed: the same set every run
    seen_bad = {s for module in TUNING_SETS for group in module.bad_sentences().values()
                for s in group}
    assert not seen_bad & {s for group in bad.values() for s in group}
    # the boilerplate items are not the tuning sets' (two generic labels are in the GNOME help too)
    labels = set(tuning.read_lines("perplexity_fresh_xscreensaver_labels.txt"))
    earlier = set(tuning.read_lines("perplexity_unseen_gui_labels.txt"))
    assert labels & (set(tuning2.BOILERPLATE) | set(tuning.MENU_ITEMS) | earlier) == {"1", "Speed"}
