"""The persistent cluster index's contract in detail: file types, meta fields, chunked copies,
edge inputs and clean failures (written to kill the mutants mutmut found surviving
test_cluster_index.py; expectations worked out by hand or by brute force here)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from oracle_index import BuildParams, EmptyIndexError, build_index, index_exists, load_index
from synthetic_retrieval import topic_data

from realsyn.dataflow import rows
from realsyn.dataflow.digest import signed_hashes
from realsyn.dataflow.rows import usable_rows
from realsyn.workspace import TEMPORARY_PREFIX


def temporaries(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".tmp-")]


@pytest.fixture(scope="module")
def corpus():
    sentences, _, _, _ = topic_data(n_topics=5, per_topic=30, n_images=0, seed=3)
    return sentences.astype(np.float16), signed_hashes([f"doc{i // 4}" for i in range(150)])


def test_files_types_lists_and_meta(tmp_path, corpus):
    data, keys = corpus
    started = time.perf_counter()
    index = build_index(tmp_path / "nested" / "index", [data[:70], data[70:]], keys,
                        BuildParams(n_clusters=7, seed=1), extra_meta={"encoder": "e"})
    elapsed = time.perf_counter() - started
    assert index_exists(tmp_path / "nested" / "index")
    assert not index_exists(tmp_path / "nested")
    assert index.vectors.dtype == np.float16 and index.offsets.dtype == np.int64
    assert index.rows.dtype == np.int64 and index.doc_keys.dtype == np.int64
    # each list is the rows nearest its centre, in input order
    nearest = np.argmax(data.astype(np.float32) @ index.centroids.T, axis=1)
    for cluster in range(7):
        lo, hi = index.list_bounds(cluster)
        assert index.rows[lo:hi].tolist() == np.flatnonzero(nearest == cluster).tolist()
    assert index.list_sizes().tolist() == np.bincount(nearest, minlength=7).tolist()
    assert index.cluster_of_sorted(np.array([-1, 0, index.ntotal - 1, -5])).tolist() == [
        -1, index.cluster_of_sorted(np.array([0]))[0], nearest[index.rows[-1]], -1]
    meta = dict(index.meta)
    train, build = meta.pop("train_seconds"), meta.pop("build_seconds")
    # seconds as floats rounded to the millisecond, within the call's own wall time
    assert isinstance(train, float) and isinstance(build, float)
    assert 0 <= train <= build <= round(elapsed, 3) + 0.001
    assert train == round(train, 3) and build == round(build, 3)
    assert meta == {
        "format_version": 1, "n_input": 150, "ntotal": 150, "dim": data.shape[1],
        "n_clusters": 7, "dropped_bad_embedding": 0, "training_points": 150,
        "kmeans_iterations": 20, "seed": 1, "empty_clusters": 0,
        "largest_cluster": int(np.bincount(nearest).max()), "encoder": "e"}


def test_identical_rows_leave_trailing_lists_empty(tmp_path):
    data = np.zeros((6, 4), np.float16)
    data[:, 0] = 1
    index = build_index(tmp_path / "i", [data], signed_hashes(list("abcdef")),
                        BuildParams(n_clusters=3))
    assert index.offsets.tolist() == [0, 6, 6, 6]
    assert index.meta["empty_clusters"] == 2 and index.meta["largest_cluster"] == 6


def test_a_sampled_training_set_is_reproducible(tmp_path, corpus):
    data, keys = corpus
    params = BuildParams(n_clusters=6, training_points_per_cluster=3, seed=5)
    first = build_index(tmp_path / "a", [data], keys, params)
    assert first.meta["training_points"] == 18
    for name in ("b", "c", "d"):
        again = build_index(tmp_path / name, [data], keys, params)
        assert np.array_equal(again.centroids, first.centroids)
        assert np.array_equal(again.rows, first.rows)


def test_chunked_checks_and_copies_cross_chunk_borders(tmp_path, corpus, monkeypatch):
    monkeypatch.setattr(rows, "CHUNK_ROWS", 7)
    data, keys = corpus
    data = data.copy()
    data[[0, 9, 30]] = np.nan  # bad rows in the first and later chunks
    data[100, :] = 0
    blocks = [data[:1], data[1:45], data[45:]]
    index = build_index(tmp_path / "i", blocks, keys, BuildParams(n_clusters=5))
    kept = [i for i in range(150) if i not in (0, 9, 30, 100)]
    assert sorted(index.rows.tolist()) == kept
    assert np.array_equal(np.asarray(index.vectors), data[index.rows])
    assert index.meta["dropped_bad_embedding"] == 4


def test_the_zero_floor_is_exclusive(tmp_path):
    data = np.eye(3, 4, dtype=np.float32)
    data[2] = [1e-3, 0, 0, 0]  # norm exactly the floor (in float32): not a usable embedding
    index = build_index(tmp_path / "i", [data], signed_hashes(list("abc")), BuildParams())
    assert sorted(index.rows.tolist()) == [0, 1]


def test_the_usable_row_mask_is_boolean_and_selects_rows():
    # The stage and the query reader index embeddings with the mask itself (part[usable]):
    # numpy refuses a 0/1 float mask there, so the retrieve stage would crash.
    data = np.eye(5, 4, dtype=np.float32)
    data[1] = np.inf
    data[3] = 0
    mask = usable_rows(data)
    assert mask.dtype == np.bool_
    assert mask.tolist() == [True, False, True, False, False]
    assert np.array_equal(data[mask], data[[0, 2]])


def test_a_float16_embedding_with_a_small_norm_is_kept():
    # 512 values of 1e-4 have norm 2.3e-3, above the 1e-3 floor; squared in float16 each
    # value underflows to 0 (smallest float16 ~6e-8), which would read as a zero embedding.
    small = np.full((2, 512), 1e-4, dtype=np.float16)
    small[1] = 0
    assert usable_rows(small).tolist() == [True, False]


def test_a_stale_temporary_that_is_a_plain_file_does_not_stop_the_build(tmp_path, corpus):
    # build_index is the reference builder (the stage builds its lists in retrieve.lists):
    # a leftover that cannot be removed as a folder must not abort the build.
    data, keys = corpus
    (tmp_path / f"{TEMPORARY_PREFIX}0123-index").write_bytes(b"left by something else")
    index = build_index(tmp_path / "index", [data], keys, BuildParams(n_clusters=3))
    assert index.ntotal == 150 and index.meta["n_input"] == 150


def test_no_blocks_and_bad_keys_are_clear_errors(tmp_path):
    with pytest.raises(EmptyIndexError) as error:
        build_index(tmp_path / "i", [], np.zeros(0, np.int64), BuildParams())
    assert str(error.value) == "no usable sentence embeddings to index"
    with pytest.raises(ValueError) as error:
        build_index(tmp_path / "i", [np.eye(3, 4, dtype=np.float16)], signed_hashes(["a"]),
                    BuildParams())
    assert str(error.value) == "1 document keys for 3 embedding rows"


def test_a_failing_build_leaves_neither_index_nor_temporary(tmp_path):
    data = np.eye(4, 6, dtype=np.float16)
    with pytest.raises(ValueError, match="invalid literal"):
        build_index(tmp_path / "i", [data], ["k0", "k1", "k2", "k3"], BuildParams())
    assert list(tmp_path.iterdir()) == []


def test_load_refuses_another_format_and_pickles(tmp_path, corpus):
    data, keys = corpus
    folder = tmp_path / "i"
    build_index(folder, [data], keys, BuildParams(n_clusters=3))
    loaded = load_index(folder, mmap=False)
    assert not isinstance(loaded.vectors, np.memmap) and loaded.ntotal == 150
    np.save(folder / "rows.npy", np.array([{"row": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickle"):
        load_index(folder, mmap=False)
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ValueError) as error:
        load_index(folder)
    assert str(error.value) == f"index in {folder} has format 99, expected 1; rebuild it"


def test_document_keys_never_change():
    """Keys are stored in built indexes: the same id must give the same key in every
    version (little-endian signed 64 bits of an 8-byte BLAKE2b digest)."""
    assert signed_hashes(["doc"]).tolist() == [4080457647860294904]
    assert signed_hashes([None]).tolist() == signed_hashes(["None"]).tolist()
