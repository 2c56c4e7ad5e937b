import json
import os
import subprocess
import sys
import time
from pathlib import Path

import killed_build
import numpy as np
import pytest
from oracle_index import BuildParams, build_index, load_index
from synthetic_retrieval import topic_data

from realsyn.dataflow.digest import signed_hashes


@pytest.fixture
def built(tmp_path):
    sentences, _, _, _ = topic_data(n_topics=6, per_topic=50, n_images=0, seed=1)
    data = sentences.astype(np.float16)
    data[17] = np.nan  # a broken embedding
    data[200] = 0  # an empty one
    blocks = [data[:120], data[120:121], data[121:]]
    keys = signed_hashes([f"doc{i // 7}" for i in range(len(data))])
    index = build_index(tmp_path / "index", blocks, keys, BuildParams(n_clusters=6, seed=2))
    return index, data, keys, tmp_path / "index"


def test_lists_partition_the_usable_rows(built):
    index, data, keys, _ = built
    assert index.meta["dropped_bad_embedding"] == 2
    assert index.ntotal == len(data) - 2 == index.offsets[-1]
    assert sorted(index.rows.tolist()) == [i for i in range(len(data)) if i not in (17, 200)]
    assert np.all(np.diff(index.offsets) >= 0) and index.offsets[0] == 0
    # sorted rows hold the input rows, their document keys, and sit in their nearest centre
    assert np.array_equal(np.asarray(index.vectors), data[index.rows])
    assert np.array_equal(index.doc_keys, keys[index.rows])
    nearest = np.argmax(np.asarray(index.vectors, np.float32) @ index.centroids.T, axis=1)
    assert np.array_equal(nearest, index.cluster_of_sorted(np.arange(index.ntotal)))


def test_index_persists_memory_mapped(built):
    index, _, _, folder = built
    loaded = load_index(folder)
    assert isinstance(loaded.vectors, np.memmap)
    assert np.array_equal(np.asarray(loaded.vectors), np.asarray(index.vectors))
    assert np.array_equal(loaded.centroids, index.centroids)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["n_clusters"] == 6 and meta["dim"] == data_dim(index)
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".tmp-")]


def data_dim(index):
    return index.vectors.shape[1]


def test_rebuild_replaces_the_old_index(built):
    _, data, keys, folder = built
    rebuilt = build_index(folder, [data], keys, BuildParams(n_clusters=3))
    assert load_index(folder).n_clusters == rebuilt.n_clusters == 3


def test_each_cluster_is_split_into_lists_per_cluster_lists(built):
    _, data, keys, folder = built
    index = build_index(folder, [data], keys, BuildParams(n_clusters=2, lists_per_cluster=3))
    assert index.n_clusters == 6 and index.meta["n_clusters"] == 6
    assert index.list_sizes().sum() == index.ntotal


def test_default_cluster_count_for_a_tiny_corpus(tmp_path):
    data = np.eye(5, 8, dtype=np.float16)
    index = build_index(tmp_path / "i", [data], signed_hashes(list("abcde")), BuildParams())
    assert index.n_clusters == 1 and index.ntotal == 5


def test_no_usable_rows_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no usable"):
        build_index(tmp_path / "i", [np.zeros((3, 4), np.float16)], signed_hashes(list("abc")),
                    BuildParams())


def test_doc_keys_are_stable_and_distinct():
    a, b, again = signed_hashes(["a", "b", "a"]).tolist()
    assert a == again != b


def test_a_killed_build_leaves_no_orphan_on_the_next_build(tmp_path):
    folder = tmp_path / "index"
    here = Path(__file__).parent
    build = subprocess.Popen([sys.executable, str(here / "killed_build.py"), str(folder)],
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".tmp-*-index/vectors.npy")):
            assert build.poll() is None and time.monotonic() < deadline, "the build never began"
            time.sleep(0.05)
    finally:
        build.kill()  # mid-copy: the vectors' copy is half written
        build.wait()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")], \
        "the kill must leave the temporary copy a test is about"

    data, keys = killed_build.corpus()
    index = build_index(folder, [data], keys, BuildParams(n_clusters=4))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]
    assert np.array_equal(np.asarray(index.vectors), data[index.rows])
