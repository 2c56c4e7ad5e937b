"""Builds an index whose input rows stall once the copy into the index has begun, so that a
test can kill the build mid-copy: `python killed_build.py FOLDER`."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from oracle_index import BuildParams, build_index
from synthetic_retrieval import topic_data

from realsyn.dataflow.digest import signed_hashes


def corpus() -> tuple[np.ndarray, np.ndarray]:
    sentences, _, _, _ = topic_data(n_topics=4, per_topic=40, n_images=0, seed=3)
    return sentences.astype(np.float16), signed_hashes([f"doc{i}" for i in range(len(sentences))])


class StallingRows:
    """Rows of an array; once the build's temporary folder exists, reading rows hangs."""

    def __init__(self, data: np.ndarray, folder: Path):
        self.data, self.folder = data, folder
        self.shape, self.dtype = data.shape, data.dtype

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, key):
        if any(self.folder.parent.glob(f".tmp-*-{self.folder.name}")):
            time.sleep(600)
        return self.data[key]


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    data, keys = corpus()
    build_index(folder, [StallingRows(data, folder)], keys, BuildParams(n_clusters=4))
