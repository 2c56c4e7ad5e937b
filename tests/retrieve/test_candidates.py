import numpy as np

from realsyn.dataflow.rank import best_per_row, rank_within
from realsyn.retrieve.candidates import cap_uses, cap_uses_top_first
from realsyn.retrieve.quality import percentile_of_counts


def test_percentile_of_counts_is_numpys_percentile():
    rng = np.random.default_rng(0)
    for _ in range(20):
        values = rng.integers(1, 50, rng.integers(1, 300))
        distinct, counts = np.unique(values, return_counts=True)
        for q in (0, 50, 90, 99, 100):
            assert np.isclose(percentile_of_counts(distinct, counts, q), np.percentile(values, q))


def test_best_per_row_breaks_ties_by_key_and_drops_low_scores():
    rows = np.array([2, 1, 1, 1, 2, 1])
    scores = np.array([0.5, 0.9, 0.7, 0.9, -np.inf, 0.1], np.float32)
    keys = np.array([5, 8, 3, 4, 1, 9])
    picked = best_per_row(rows, scores, keys, 2, min_score=0.2)
    assert picked.tolist() == [3, 1, 0]  # row 1: 0.9 key 4, 0.9 key 8; row 2: 0.5
    assert rank_within(np.array([1, 1, 2, 3, 3, 3])).tolist() == [0, 1, 0, 0, 1, 2]


def test_cap_keeps_each_sentences_best_images():
    keys = np.array([7, 7, 7, 8, 8])
    scores = np.array([0.5, 0.9, 0.9, 0.3, 0.4])
    images = np.array([0, 2, 1, 0, 1])
    assert cap_uses(keys, scores, images, 2).tolist() == [1, 2, 3, 4]


def test_the_cap_serves_the_images_that_show_the_sentence_first():
    """Sentence 7 is the top-1 of images 0 and 1 and the 5th candidate of image 2, which scores
    it higher: one round would give it to images 2 and 0, taking image 1's text1 away; two
    rounds give it to 0 and 1 (their top-k), and image 2 keeps sentence 8 (issue 25)."""
    keys = np.array([7, 7, 7, 8])
    scores = np.array([0.60, 0.50, 0.70, 0.80])
    images = np.array([0, 1, 2, 2])
    ranks = np.array([0, 0, 4, 0])
    assert cap_uses(keys, scores, images, 2).tolist() == [0, 2, 3]
    assert cap_uses_top_first(keys, scores, images, ranks, 2, 3).tolist() == [0, 1, 3]
    # capacity left after the first round goes to further candidates, best first
    assert cap_uses_top_first(keys, scores, images, ranks, 3, 3).tolist() == [0, 1, 2, 3]
