import faiss
import numpy as np
import pytest
from oracle_index import BuildParams, build_index
from oracle_quality import exact_search
from synthetic_retrieval import topic_data, unit

from realsyn.dataflow.digest import signed_hashes
from realsyn.retrieve.search import HierarchicalSearcher

N_CLUSTERS = 12


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    sentences, _, images, _ = topic_data(n_topics=10, per_topic=150, n_images=400, seed=4)
    data = sentences.astype(np.float16)
    documents = [f"doc{i % 37}" for i in range(len(data))]
    index = build_index(tmp_path_factory.mktemp("idx") / "index", [data[:700], data[700:]],
                        signed_hashes(documents), BuildParams(n_clusters=N_CLUSTERS, seed=0))
    return index, data.astype(np.float32), images, documents


def global_rows(index, result):
    return np.where(result.positions >= 0, np.asarray(index.rows)[result.positions], -1)


@pytest.mark.parametrize("threads", [1, 2])
def test_all_probes_equal_exact_search(setup, threads):
    """Acceptance: nprobe == number of clusters gives exactly the brute-force top-k."""
    index, data, images, _ = setup
    result = HierarchicalSearcher(index, threads=threads).search(images, top_k=5,
                                                                 nprobe=N_CLUSTERS)
    scores, ids = exact_search(data, images, 5)
    assert np.array_equal(global_rows(index, result), ids)
    assert np.allclose(result.scores, scores, atol=1e-5)


def test_one_probe_is_exact_search_inside_the_nearest_cluster(setup):
    index, _, images, _ = setup
    result = HierarchicalSearcher(index).search(images, top_k=3, nprobe=1)
    vectors = np.asarray(index.vectors, np.float32)
    nearest = np.argmax(images @ index.centroids.T, axis=1)
    assert np.array_equal(result.probes[:, 0], nearest)
    for q in range(0, len(images), 7):
        lo, hi = index.list_bounds(nearest[q])
        scores = vectors[lo:hi] @ images[q]
        expected = lo + np.argsort(-scores)[:3]
        assert np.array_equal(result.positions[q], expected)
        assert np.allclose(result.scores[q], scores[expected - lo], atol=1e-5)


@pytest.mark.parametrize("nprobe", [1, 2, 4])
def test_same_results_as_faiss_ivfflat(setup, nprobe):
    index, _, images, _ = setup
    quantizer = faiss.IndexFlatIP(index.dim)
    quantizer.add(index.centroids)
    ivf = faiss.IndexIVFFlat(quantizer, index.dim, index.n_clusters, faiss.METRIC_INNER_PRODUCT)
    ivf.is_trained = True
    ivf.add_with_ids(np.asarray(index.vectors, np.float32), np.arange(index.ntotal))
    ivf.nprobe = nprobe
    scores, positions = ivf.search(images, 3)
    result = HierarchicalSearcher(index).search(images, top_k=3, nprobe=nprobe)
    assert np.array_equal(result.positions, positions)
    assert np.allclose(result.scores, scores, atol=1e-5)


def test_more_probes_never_lower_the_scores(setup):
    index, _, images, _ = setup
    searcher = HierarchicalSearcher(index)
    previous = searcher.search(images, 3, nprobe=1).scores.sum(axis=1)
    for nprobe in (2, 4, N_CLUSTERS):
        current = searcher.search(images, 3, nprobe=nprobe).scores.sum(axis=1)
        assert np.all(current >= previous - 1e-5)
        previous = current


def test_exclude_own_document(setup):
    index, data, images, documents = setup
    image_documents = [f"doc{i % 37}" for i in range(len(images))]
    result = HierarchicalSearcher(index).search(
        images, top_k=3, nprobe=N_CLUSTERS, query_doc_keys=signed_hashes(image_documents))
    rows = global_rows(index, result)
    for q, document in enumerate(image_documents):
        assert all(documents[r] != document for r in rows[q])
    # and it equals exact search over the other documents' sentences
    q = 5
    allowed = np.array([d != image_documents[q] for d in documents])
    scores = np.where(allowed, data @ images[q], -np.inf)
    assert np.array_equal(rows[q], np.argsort(-scores)[:3])


def test_min_score_leaves_gaps(setup):
    index, _, images, _ = setup
    plain = HierarchicalSearcher(index).search(images, top_k=3, nprobe=2)
    threshold = float(np.median(plain.scores[:, 1]))
    cut = HierarchicalSearcher(index).search(images, top_k=3, nprobe=2, min_score=threshold)
    below = plain.scores < threshold
    assert below.any() and (~below).any()
    assert np.all(cut.positions[below] == -1) and np.all(np.isnan(cut.scores[below]))
    assert np.array_equal(cut.positions[~below], plain.positions[~below])


def test_fewer_sentences_than_k(tmp_path):
    data = unit(np.random.default_rng(0).standard_normal((2, 8))).astype(np.float16)
    index = build_index(tmp_path / "i", [data], signed_hashes(["a", "b"]), BuildParams())
    result = HierarchicalSearcher(index).search(data.astype(np.float32), top_k=3)
    assert (result.positions >= 0).sum(axis=1).tolist() == [2, 2]
    assert np.all(result.positions[:, 2] == -1) and np.all(np.isnan(result.scores[:, 2]))
    assert result.positions[0, 0] == list(index.rows).index(0)
