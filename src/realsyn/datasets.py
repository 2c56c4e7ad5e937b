"""The names of the pipeline's datasets: the one place each is spelled.

A stage's constructor takes the datasets it reads and writes, with these as defaults; the
workspace stores records under `datasets/<name>/` and row-aligned embeddings under
`arrays/<name>/` (see `dataset` and `array`).
"""

from __future__ import annotations

DOCUMENTS = "documents"
IMAGES = "images"
TEXTS = "texts"
IMAGES_FILTERED = "images_filtered"
SENTENCES_FILTERED = "sentences_filtered"
IMAGES_DEDUP = "images_dedup"
SENTENCES_DEDUP = "sentences_dedup"
IMAGES_FINAL = "images_final"
SENTENCES_FINAL = "sentences_final"
RETRIEVED = "retrieved"
GENERATED = "generated"
BALANCED = "balanced"
# Where the writer puts shards and parquet unless `write.output` says otherwise.
OUTPUT = "output"


def dataset(name: str) -> str:
    """The workspace folder of parquet dataset `name`."""
    return f"datasets/{name}"


def array(name: str) -> str:
    """The workspace folder of the arrays (embeddings) row-aligned with dataset `name`."""
    return f"arrays/{name}"


def excluded(stage: str) -> str:
    """The dataset of the records a stage's filters rejected, with their reason."""
    return f"excluded/{stage}"
