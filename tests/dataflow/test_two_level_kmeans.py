"""Two-level k-means (dataflow/kmeans.py): above `flat_centre_limit` centres, coarse cells
trained first, each cell's share of the centres trained within it, and the nearest centre
found through the same hierarchy (a faiss IVF over the centres)."""

import numpy as np
import pytest

from realsyn.config import BalanceConfig, ConfigError, RetrieveConfig, parse_config
from realsyn.dataflow import kmeans


def clustered(n=6000, topics=60, dim=16, seed=0, noise=0.35):
    """Points around `topics` random directions (cosine to their topic about 0.8)."""
    rng = np.random.default_rng(seed)
    basis = kmeans._normalise(rng.standard_normal((topics, dim)).astype(np.float32))
    points = basis[rng.integers(0, topics, n)] + noise * rng.standard_normal(
        (n, dim)).astype(np.float32) / np.sqrt(dim) * 4
    return kmeans._normalise(points)


def test_allocation_is_proportional_by_largest_remainder():
    # quotas 10 x (5, 3, 2) / 10 = 5, 3, 2: exact
    assert kmeans.allocate(np.array([5, 3, 2]), 10).tolist() == [5, 3, 2]
    # quotas 4 x (5, 3, 2) / 10 = 2.0, 1.2, 0.8: floors 2, 1, 1 (at least one each) = 4
    assert kmeans.allocate(np.array([5, 3, 2]), 4).tolist() == [2, 1, 1]
    # quotas 7 x (4, 3, 3) / 10 = 2.8, 2.1, 2.1: floors 2, 2, 2, the largest remainder gets 1
    assert kmeans.allocate(np.array([4, 3, 3]), 7).tolist() == [3, 2, 2]
    # quotas 3 x (98, 1, 1) / 100 = 2.94, 0.03, 0.03: raised to 1 each, the largest gives back
    assert kmeans.allocate(np.array([98, 1, 1]), 3).tolist() == [1, 1, 1]
    # never more centres than points: quota 9 x 10 / 12 = 7.5 for the big cell, its 2 points
    # cap the small ones and the rest goes where there is room
    assert kmeans.allocate(np.array([10, 1, 1]), 9).tolist() == [7, 1, 1]
    assert kmeans.allocate(np.array([2, 2, 8]), 11).tolist() == [2, 2, 7]
    rng = np.random.default_rng(0)
    for _ in range(200):
        points = rng.integers(1, 50, rng.integers(1, 30))
        total = int(rng.integers(len(points), points.sum() + 1))
        share = kmeans.allocate(points, total)
        assert share.sum() == total and (share >= 1).all() and (share <= points).all()
        quota = total * points / points.sum()
        assert (np.abs(share - quota) < 1 + 1e-9)[(quota >= 1) & (share < points)].all()


def test_allocation_refuses_what_cannot_be_shared():
    with pytest.raises(ValueError, match="cannot share 2 centres"):
        kmeans.allocate(np.array([1, 1, 1]), 2)  # fewer centres than cells
    with pytest.raises(ValueError, match="cannot share 4 centres"):
        kmeans.allocate(np.array([1, 2]), 4)  # more centres than points


def test_two_level_training_gives_exactly_k_normalised_centres_by_the_allocation_rule():
    sample = clustered()
    centres = kmeans.train_centres(sample, 150, iterations=8, seed=0, flat_limit=100)
    assert centres.two_level and centres.fine.shape == (150, 16)
    assert centres.fine.dtype == centres.coarse.dtype == np.float32
    assert np.allclose(np.linalg.norm(centres.fine, axis=1), 1, atol=1e-5)
    assert np.allclose(np.linalg.norm(centres.coarse, axis=1), 1, atol=1e-5)
    assert len(centres.coarse) == kmeans.coarse_count(150) == 12
    assert (np.diff(centres.cells) >= 0).all()  # the fine centres are ordered by cell
    # each cell's share follows its sample points (the nearest coarse centre)
    home = kmeans.nearest_centres(kmeans.centroid_index(centres.coarse), sample)[:, 0]
    points = np.bincount(home, minlength=len(centres.coarse))
    assert np.bincount(centres.cells).tolist() == kmeans.allocate(points, 150).tolist()
    # a cell's centres are trained on its points: each lies nearest its own coarse centre
    own = kmeans.nearest_centres(kmeans.centroid_index(centres.coarse), centres.fine)[:, 0]
    assert (own == centres.cells).mean() > 0.95
    again = kmeans.train_centres(sample, 150, iterations=8, seed=0, flat_limit=100)
    for a, b in zip((again.fine, again.coarse, again.cells),
                    (centres.fine, centres.coarse, centres.cells), strict=True):
        assert a.tobytes() == b.tobytes()  # seeded: the same centres


def test_up_to_the_limit_training_is_the_flat_one_byte_for_byte():
    sample = clustered(n=2000)
    flat = kmeans.train_centres(sample, 40, iterations=5, seed=3, flat_limit=40)
    assert not flat.two_level and len(flat.cells) == 0
    assert flat.fine.tobytes() == kmeans.train_centroids(sample, 40, 5, 3).tobytes()
    index = flat.index(probes=1)
    assert index.ntotal == 40 and type(index).__name__ == "IndexFlatIP"
    with pytest.raises(ValueError, match="cannot make 3000 clusters from 2000"):
        kmeans.train_centres(sample, 3000, iterations=5, seed=3, flat_limit=10)


def test_a_cell_with_as_many_centres_as_points_keeps_its_points():
    sample = clustered(n=300, topics=3)
    centres = kmeans.train_centres(sample, 300, iterations=5, seed=0, flat_limit=10)
    assert len(centres.fine) == 300
    assert sorted(map(bytes, centres.fine)) == sorted(map(bytes, kmeans._normalise(sample)))


def test_assignment_through_the_hierarchy_agrees_with_the_flat_search():
    """Measured here: 99.9% of the points get their exact nearest centre at the default 16
    probes of 30 cells (73.0% at 1, 92.3% at 4, 97.8% at 8; 20,000 points, 900 centres)."""
    sample = clustered(n=20000, topics=150, dim=32)
    centres = kmeans.train_centres(sample, 900, iterations=8, seed=0, flat_limit=100)
    exact = kmeans.assign(kmeans.centroid_index(centres.fine), [sample])
    probes = RetrieveConfig().centre_probes
    assert probes == BalanceConfig().centre_probes == 16
    found = kmeans.assign(centres.index(probes), [sample[:7000], sample[7000:]])
    assert found.dtype == np.int64 and found.min() >= 0 and found.max() < 900
    assert (found == exact).mean() >= 0.99
    one = kmeans.assign(centres.index(1), [sample])
    assert 0.5 < (one == exact).mean() < (found == exact).mean()  # probes matter
    every = kmeans.assign(centres.index(len(centres.coarse)), [sample])
    assert (every == exact).all()  # every cell probed: the flat search
    # the k nearest come nearest first, as the flat index gives them
    top = kmeans.nearest_centres(centres.index(len(centres.coarse)), sample[:50], 3)
    assert top.tolist() == kmeans.nearest_centres(kmeans.centroid_index(centres.fine),
                                                  sample[:50], 3).tolist()


def test_the_routing_probes_name_their_field():
    assert RetrieveConfig().routing_centre_probes is None  # flat routing unless asked
    with pytest.raises(ConfigError, match=r"retrieve\.routing_centre_probes"):
        parse_config({"workspace": "/tmp/x", "retrieve": {"routing_centre_probes": 0}})


@pytest.mark.parametrize("section", ["retrieve", "balance"])
@pytest.mark.parametrize("field", ["flat_centre_limit", "centre_probes"])
def test_bad_settings_name_the_field(section, field):
    with pytest.raises(ConfigError, match=f"{section}.{field}"):
        parse_config({"workspace": "/tmp/x", section: {field: 0}})


def test_refining_moves_each_centre_to_the_mean_of_its_points():
    sample = clustered(n=3000, topics=30)
    rough = kmeans.train_centres(sample, 60, iterations=2, seed=0, flat_limit=10)
    cells = len(rough.coarse)
    refined = kmeans.refine(rough, sample, probes=cells)
    labels = kmeans.assign(kmeans.centroid_index(rough.fine), [sample])
    for centre in np.unique(labels)[:10]:
        mean = sample[labels == centre].mean(axis=0)
        assert np.allclose(refined.fine[centre], mean / np.linalg.norm(mean), atol=1e-5)
    assert refined.cells.tobytes() == rough.cells.tobytes()
    assert refined.coarse.tobytes() == rough.coarse.tobytes()

    def fit(centres):  # mean cosine of each point to its nearest centre: Lloyd never lowers it
        return (sample @ centres.fine.T).max(axis=1).mean()

    assert fit(refined) >= fit(rough) - 1e-6
    assert kmeans.REFINE_ITERATIONS == 5
