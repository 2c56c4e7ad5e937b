"""The `write` stage: dataset `balanced` -> WebDataset shards + release and extended parquet.

Output shard k holds rows [k * samples_per_shard, (k + 1) * samples_per_shard) of `balanced` (its
shards in order), so shards are independent: written in parallel, resumed one by one. Under the
output folder (config `write.output`, default `<workspace>/output`):

    shards/{00000..N}.tar       KEY.jpg, KEY.txt (text1), KEY.json (img2dataset layout)
    shards/00000_stats.json     per-shard counts
    shards/sizes.json           samples per shard (open_clip reads it for the dataset size)
    release/00000.parquet       raw_image_url, text1, text2, text3, syn_text
    extended/00000.parquet      every score and id, plus key, shard, size, sha256

Image bytes come from dataset `images_final`, located by the `image_shard` / `image_row`
columns that `balance` adds (and checked against image_id).
"""

from __future__ import annotations

import json
import math
import os
import posixpath
from collections import defaultdict
from typing import Any

import fsspec
import pyarrow as pa

from realsyn import datasets, progress
from realsyn.extract.funnel import FUNNEL_PATH
from realsyn.stage import RECORDS, Context, Stage
from realsyn.workspace import Workspace
from realsyn.write import card, parquet
from realsyn.write.webdataset import TarShardWriter, key_digits, make_key

INPUT = datasets.BALANCED
IMAGES = datasets.IMAGES_FINAL


def output_root(ctx: Context) -> str:
    """Where the output goes once committed (a running stage writes to its staging folder:
    `ctx.workspace.staged_url(output_root(ctx))`)."""
    return ctx.config.write.output or posixpath.join(ctx.workspace.url, datasets.OUTPUT)


def shard_row_counts(workspace: Workspace, dataset: str) -> list[tuple[str, int]]:
    return [(shard, workspace.shard_rows(dataset, shard)) for shard in workspace.shards(dataset)]


def read_row_range(workspace: Workspace, dataset: str, start: int, stop: int) -> pa.Table:
    """Rows [start, stop) of a dataset's shards taken in order, reading only the shards needed."""
    parts, offset = [], 0
    for shard, count in shard_row_counts(workspace, dataset):
        lo, hi = max(start, offset), min(stop, offset + count)
        if lo < hi:
            parts.append(workspace.read_table(dataset, shard).slice(lo - offset, hi - lo))
        offset += count
    if not parts:
        raise ValueError(f"rows {start}..{stop} are not in dataset {dataset!r}")
    return pa.concat_tables(parts)


def fetch_images(workspace: Workspace, rows: pa.Table, dataset: str = IMAGES
                 ) -> list[tuple[bytes | None, str | None]]:
    """(bytes, metadata JSON) of each row's image from `images_final`; (None, None) where the
    locator is wrong."""
    image_ids = rows.column("image_id").to_pylist()
    shards = rows.column("image_shard").to_pylist()
    positions = rows.column("image_row").to_pylist()
    wanted: dict[str, list[int]] = defaultdict(list)
    for i, shard in enumerate(shards):
        if shard is not None and positions[i] is not None:
            wanted[shard].append(i)
    out: list[tuple[bytes | None, str | None]] = [(None, None)] * rows.num_rows
    for shard, indices in sorted(wanted.items()):
        with workspace.parquet_file(dataset, shard) as handle:
            # `meta` (where the public URL is) may be absent from a hand-made dataset.
            columns = [name for name in ("image_id", "bytes", "meta")
                       if name in handle.schema_arrow.names]
            table = handle.read(columns=columns)
        metas = table.column("meta") if "meta" in columns else None
        for i in indices:
            row = positions[i]
            if 0 <= row < table.num_rows and table.column("image_id")[row].as_py() == image_ids[i]:
                out[i] = (table.column("bytes")[row].as_py(),
                          metas[row].as_py() if metas is not None else None)
    return out


def sample_meta(row: dict[str, Any]) -> dict[str, Any]:
    """What KEY.json carries: every balanced column except pixels (texts, scores, ids)."""
    return {k: v for k, v in row.items() if k not in parquet.EXCLUDED_COLUMNS}


def write_tables(root: str, shard: str, kept: pa.Table, release_rows: list[dict[str, Any]],
                 written: dict[str, list]) -> None:
    """A shard's release and extended parquet: its written rows, and what the writer made of
    each (key, size, digest, shard file)."""
    parquet.write_parquet(parquet.release_table(release_rows),
                          posixpath.join(root, "release", f"{shard}.parquet"))
    types = {"width": pa.int32(), "height": pa.int32(), "raw_image_url_is_local": pa.bool_()}
    # Every column, even for an empty shard, so the extended schema never varies.
    columns = {name: pa.array(written[name], types.get(name, pa.string()))
               for name in ("key", "width", "height", "sha256", "shard", "raw_image_url",
                            "raw_image_url_is_local")}
    parquet.write_parquet(parquet.extended_table(kept, columns),
                          posixpath.join(root, "extended", f"{shard}.parquet"))


class WriteStage(Stage):
    name = "write"
    description = "WebDataset shards (img2dataset layout) and the release parquet."
    config_paths = ("write",)
    report_reads = (FUNNEL_PATH,)  # the card's extraction funnel

    def __init__(self, balanced: str = INPUT, images: str = IMAGES) -> None:
        self.balanced, self.images = balanced, images

    def reads(self, config) -> list[str]:
        return [datasets.dataset(self.balanced), datasets.dataset(self.images)]

    def writes(self, config) -> list[str]:
        # The whole output folder (shards, sizes.json, release and extended parquet) is
        # replaced at once, so a rerun never leaves shards of an earlier run beside it.
        output = config.write.output
        if output and "://" not in output:
            output = os.path.abspath(output)  # as the writer's fsspec resolves it
        return [output or datasets.OUTPUT]

    def shards(self, ctx: Context) -> list[str]:
        if not ctx.workspace.shards(self.balanced):
            raise FileNotFoundError(f"dataset {self.balanced!r} is missing in "
                                    f"{ctx.workspace.url}: run the balance stage first")
        total = ctx.workspace.count_rows(self.balanced)
        per_shard = ctx.config.write.samples_per_shard
        return [f"{k:05d}" for k in range(math.ceil(total / per_shard))]

    def process(self, ctx: Context, shard: str) -> dict[str, Any]:
        config, workspace = ctx.config.write, ctx.workspace
        shard_id = int(shard)
        start = shard_id * config.samples_per_shard
        total = workspace.count_rows(self.balanced)
        rows = read_row_range(workspace, self.balanced, start,
                              min(start + config.samples_per_shard, total))
        progress.expect(rows.num_rows)
        images = fetch_images(workspace, rows, self.images)
        root = workspace.staged_url(output_root(ctx))
        writer = TarShardWriter(posixpath.join(root, "shards"), shard_id, config.image_size,
                                config.resize_mode, config.jpeg_quality)
        digits = key_digits(config.samples_per_shard)
        stats = {RECORDS: rows.num_rows, "dropped_missing_image": 0}
        written_rows, written, release_rows = [], defaultdict(list), []
        for index, (row, (image, meta)) in enumerate(zip(rows.to_pylist(), images, strict=True)):
            progress.advance()
            if image is None:
                stats["dropped_missing_image"] += 1
                continue
            key = make_key(shard_id, index, digits)
            row["raw_image_url"], is_local = parquet.release_url(row.get("url"), meta)
            if writer.write(image, key, row.get("text1"), sample_meta(row)) != "success":
                continue
            record = writer.last_record
            written_rows.append(index)
            for name in ("key", "width", "height", "sha256"):
                written[name].append(record[name])
            written["shard"].append(f"{shard}.tar")
            written["raw_image_url"].append(row["raw_image_url"])
            written["raw_image_url_is_local"].append(is_local)
            release_rows.append(row)
        shard_stats = writer.close()
        stats["dropped_failed_to_decode"] = shard_stats["failed_to_decode"]
        stats["records_out"] = shard_stats["successes"]
        stats["bytes_written"] = shard_stats["bytes"]

        write_tables(root, shard, rows.take(pa.array(written_rows, pa.int64())), release_rows,
                     written)
        return stats

    def finalize(self, ctx: Context, stats: dict[str, Any]) -> None:
        """`sizes.json` beside the shards: open_clip takes the dataset size from it."""
        root = ctx.workspace.staged_url(output_root(ctx))
        fs, folder = fsspec.core.url_to_fs(posixpath.join(root, "shards"))
        sizes, shards = {}, self.shards(ctx)
        for shard in shards:
            path = posixpath.join(folder, f"{shard}_stats.json")
            if fs.exists(path):
                with fs.open(path) as handle:
                    sizes[f"{shard}.tar"] = json.load(handle)["successes"]
        if not shards:
            # No sample at all (a text-only corpus): the release and extended parquet still
            # exist, empty, with their schemas, so that readers of the output never break.
            empty = ctx.workspace.read_table(self.balanced,
                                             ctx.workspace.shards(self.balanced)[0]).slice(0, 0)
            write_tables(root, f"{0:05d}", empty, [], defaultdict(list))
        fs.makedirs(folder, exist_ok=True)
        with fs.open(posixpath.join(folder, "sizes.json"), "w") as handle:
            json.dump(sizes, handle, indent=2, sort_keys=True)
        card.write_card(ctx.config, ctx.workspace, root, stats)  # swapped in with the rest

    def summary(self, ctx: Context, stats: dict[str, Any]) -> str:
        root = output_root(ctx)
        n = len(self.shards(ctx))
        last = f"{{00000..{n - 1:05d}}}.tar" if n else "(none)"
        return (f"wrote {stats.get('records_out', 0)} samples of {stats.get(RECORDS, 0)} "
                f"(missing image {stats.get('dropped_missing_image', 0)}, undecodable "
                f"{stats.get('dropped_failed_to_decode', 0)}) to {root}/shards/{last}; "
                f"release parquet: {root}/release/; extended parquet: {root}/extended/")
