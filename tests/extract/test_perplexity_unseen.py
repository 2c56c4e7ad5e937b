"""The default perplexity scorer on the unseen set (tests/extract/perplexity_unseen_set.py),
drawn from packages the project had never used and committed before it was first measured
(issue #25 part 1)."""

from __future__ import annotations

from tests.extract import perplexity_heldout_set as tuning2
from tests.extract import perplexity_labelled_set as tuning
from tests.extract import perplexity_unseen_set as unseen


def test_unseen_set_is_apart_from_both_tuning_sets():
    clean = unseen.clean_sentences()
    assert [len(v) for v in clean.values()] == [42, 200]
    seen = {s for module in (tuning, tuning2) for group in module.clean_sentences().values()
            for s in group}
    assert not seen & {s for group in clean.values() for s in group}
    bad = unseen.bad_sentences()
    assert set(bad) == set(unseen.BAD_KINDS)
    assert all(len(v) == unseen.BAD_PER_KIND for v in bad.values())
    assert bad == unseen.bad_sentences()  # a fixed seed: the same set every run
    seen_bad = {s for module in (tuning, tuning2) for group in module.bad_sentences().values()
                for s in group}
    assert not seen_bad & {s for group in bad.values() for s in group}
    # the boilerplate items are neither tuning set's
    labels = set(tuning2.read_lines("perplexity_unseen_gui_labels.txt"))
    assert not labels & (set(tuning2.BOILERPLATE) | set(tuning.MENU_ITEMS))
