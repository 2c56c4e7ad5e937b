"""Corpora as they come: slices of the sample corpus reshaped into the cases real corpora hold
(text-only pages, image galleries, a shard of pure chrome, a single page), so that shards and
partitions with zero rows reach every stage."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from small_pipeline import DOCUMENTS, slice_corpus

Row = dict[str, Any]
# small_config's executor.shard_size: the first shard holds the first four documents.
FIRST_SHARD = 4


def _keep_items(row: Row, keep: Callable[[str | None], bool]) -> Row:
    """The document with only the items whose image slot passes `keep` (None: a text)."""
    positions = [i for i, image in enumerate(row["images"]) if keep(image)]
    metadata = json.loads(row["metadata"])
    return {**row, "texts": [row["texts"][i] for i in positions],
            "images": [row["images"][i] for i in positions],
            "metadata": json.dumps([metadata[i] for i in positions])}


def _texts_only(row: Row) -> Row:
    return _keep_items(row, lambda image: image is None)


def _images_only(row: Row) -> Row:
    return _keep_items(row, lambda image: image is not None)


def _chrome_only(row: Row) -> Row:
    # Every text item is a two-word link label: the sentence filters drop all of them.
    return {**row, "texts": [None if text is None else "Next page" for text in row["texts"]]}


def _first_shard(change: Callable[[Row], Row]) -> Callable[[int, Row], Row]:
    return lambda index, row: change(row) if index < FIRST_SHARD else row


def _all(change: Callable[[Row], Row]) -> Callable[[int, Row], Row]:
    return lambda index, row: change(row)


VARIANTS: dict[str, tuple[Callable[[int, Row], Row], int]] = {
    # name: (how each document changes, documents kept)
    "images_empty_in_first_shard": (_first_shard(_texts_only), DOCUMENTS),
    "sentences_empty_in_first_shard": (_first_shard(_images_only), DOCUMENTS),
    "every_sentence_of_a_shard_filtered": (_first_shard(_chrome_only), DOCUMENTS),
    "text_only": (_all(_texts_only), DOCUMENTS),
    "image_only": (_all(_images_only), DOCUMENTS),
    "one_document": (_all(lambda row: row), 1),
}


def variant_corpus(folder: Path, name: str) -> Path:
    """The sample slice reshaped as variant `name`, written in place of the slice."""
    change, documents = VARIANTS[name]
    corpus = slice_corpus(folder)
    schema = pq.read_schema(corpus)
    rows = pq.read_table(corpus).to_pylist()[:documents]
    pq.write_table(pa.Table.from_pylist([change(i, row) for i, row in enumerate(rows)],
                                        schema=schema), corpus)
    return corpus


def html_site(folder: Path, documents: int = DOCUMENTS) -> Path:
    """The first `documents` sample documents as HTML pages, one file each (so that
    ingest.files_per_shard decides the shard plan), images beside them."""
    corpus = slice_corpus(folder)
    for index, row in enumerate(pq.read_table(corpus).to_pylist()[:documents]):
        body = [f"<p>{html.escape(text)}</p>" if text is not None
                else f'<img src="{html.escape(image)}" alt="">'
                for text, image in zip(row["texts"], row["images"], strict=True)]
        (folder / f"doc{index:03d}.html").write_text(
            "<!DOCTYPE html><html><body><main>" + "\n".join(body) + "</main></body></html>",
            encoding="utf-8")
    corpus.unlink()
    return folder
