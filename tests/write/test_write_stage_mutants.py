"""The write stage on a small hand-made workspace whose every row has a known fate
(scripts/mutation.py mutates realsyn/write/stage.py).

`balanced` is written here directly (no balance stage): ten rows over three shards whose image
locators are right, wrong (out of range, negative, another image's row, missing) or point at
undecodable bytes; the output shards cut across the input shards.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from realsyn import progress
from realsyn.executors.local import LocalExecutor
from realsyn.write.stage import WriteStage, read_row_range

PER_SHARD = 4
SIZE = (48, 32)


def png(shade: int) -> bytes:
    """A noisy picture (so that JPEG qualities give different sizes)."""
    noise = np.random.default_rng(shade).integers(0, 256, (SIZE[1], SIZE[0], 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise // 2 + shade // 2, "RGB").save(buffer, "PNG")
    return buffer.getvalue()


# images_final: shard 00000 with a `meta` column, shard 00001 without one (a hand-made dataset).
IMAGES = {
    "00000": {"image_id": ["i0", "i1", "i2"], "bytes": [png(10), png(60), b"not an image"],
              "meta": [json.dumps({"raw_url": "https://pub.example/i0.jpg"}), "{}", "{}"]},
    "00001": {"image_id": ["i3", "i4"], "bytes": [png(110), png(160)]},
}
URLS = {"i0": "pages/i0.png", "i1": "http://cdn.example/i1.png", "i2": "pages/i2.png",
        "i3": "pages/i3.png", "i4": "pages/i4.png"}
# (image_id, image_shard, image_row, fate): fate is the release URL and whether it is a local
# path, or why the row is dropped.
ROWS = [
    ("i0", "00000", 0, ("https://pub.example/i0.jpg", False)),  # the document's URL from meta
    ("i3", "00001", 0, ("pages/i3.png", True)),                  # no meta column: the location
    ("i1", "00000", 3, "missing"),                               # just past the shard's end
    ("i2", "00000", 1, "missing"),                               # that row is another image
    ("i4", None, None, "missing"),                               # no locator
    ("i1", "00000", 1, ("http://cdn.example/i1.png", False)),    # a URL location
    ("i4", "00001", -1, "missing"),                              # negative row
    ("i2", "00000", 2, "undecodable"),
    ("i0", "00000", None, "missing"),
    ("i4", "00001", 1, ("pages/i4.png", True)),
]
BALANCED_SHARDS = [(0, 6), (6, 9), (9, 10)]  # output shards of 4 cut across these


def balanced_rows() -> list[dict]:
    return [{"image_id": image_id, "image_shard": shard, "image_row": row,
             "url": URLS[image_id], "doc_id": f"doc{n}", "text1": f"first {n}",
             "text2": f"second {n}", "text3": f"third {n}", "syn_text": f"synthetic {n}",
             "score1": 0.25 + n / 100, "image_bytes": b"pixels"}
            for n, (image_id, shard, row, _) in enumerate(ROWS)]


def build(workspace, balanced: str = "balanced", images: str = "images_final") -> None:
    for shard, columns in IMAGES.items():
        workspace.write_table(images, shard, pa.table(
            {**columns, "bytes": pa.array(columns["bytes"], pa.binary())}))
    table = pa.Table.from_pylist(balanced_rows(), schema=pa.schema([
        ("image_id", pa.string()), ("image_shard", pa.string()), ("image_row", pa.int64()),
        ("url", pa.string()), ("doc_id", pa.string()), ("text1", pa.string()),
        ("text2", pa.string()), ("text3", pa.string()), ("syn_text", pa.string()),
        ("score1", pa.float64()), ("image_bytes", pa.binary())]))
    for k, (lo, hi) in enumerate(BALANCED_SHARDS):
        workspace.write_table(balanced, f"{k:05d}", table.slice(lo, hi - lo))


def tar_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {member.name: tar.extractfile(member).read() for member in tar.getmembers()}


@pytest.fixture
def run(make_context):
    ctx = make_context({"samples_per_shard": PER_SHARD})
    build(ctx.workspace)
    stats = LocalExecutor(1).run(WriteStage(), ctx)
    return ctx, stats, Path(ctx.workspace.root) / "output"


def test_every_row_meets_its_fate_and_the_counts_add_up(run):
    _, stats, output = run
    fates = [fate for *_, fate in ROWS]
    assert stats["records_in"] == len(ROWS)
    assert stats["dropped_missing_image"] == fates.count("missing")
    assert stats["dropped_failed_to_decode"] == fates.count("undecodable")
    assert stats["records_out"] == sum(isinstance(fate, tuple) for fate in fates)
    assert stats["bytes_written"] == sum(path.stat().st_size
                                         for path in (output / "shards").glob("*.tar"))
    written = {}
    for k in range(3):  # 10 rows, 4 per shard
        shard_rows = list(enumerate(ROWS[k * PER_SHARD:(k + 1) * PER_SHARD]))
        expected = {f"{k:05d}{index}": (k * PER_SHARD + index, fate)
                    for index, (_, _, _, fate) in shard_rows if isinstance(fate, tuple)}
        members = tar_members(output / "shards" / f"{k:05d}.tar")
        assert sorted(members) == sorted(f"{key}.{ext}" for key in expected
                                         for ext in ("jpg", "json", "txt"))
        for key, (n, (url, _)) in expected.items():
            meta = json.loads(members[f"{key}.json"])
            row = balanced_rows()[n]
            assert members[f"{key}.txt"].decode() == row["text1"]
            assert {name: meta[name] for name in ("image_id", "url", "doc_id", "text2",
                                                  "syn_text", "score1", "key", "width",
                                                  "height")} == {
                **{name: row[name] for name in ("image_id", "url", "doc_id", "text2",
                                                "syn_text", "score1")},
                "key": key, "width": SIZE[0], "height": SIZE[1]}
            assert meta["raw_image_url"] == url and "image_bytes" not in meta
            assert meta["sha256"] == hashlib.sha256(members[f"{key}.jpg"]).hexdigest()
            written[key] = (n, meta["sha256"])
        shard_stats = json.loads((output / "shards" / f"{k:05d}_stats.json").read_text())
        assert shard_stats["successes"] == len(expected)
    assert json.loads((output / "shards" / "sizes.json").read_text()) == {
        "00000.tar": 2, "00001.tar": 1, "00002.tar": 1}
    assert sorted(written) == ["000000", "000001", "000011", "000021"]


def test_the_parquet_holds_the_written_rows_with_their_writer_columns(run):
    _, _, output = run
    for k in range(3):
        release = pq.read_table(output / "release" / f"{k:05d}.parquet")
        extended = pq.read_table(output / "extended" / f"{k:05d}.parquet")
        kept = [(k * PER_SHARD + index, fate) for index, (*_, fate)
                in enumerate(ROWS[k * PER_SHARD:(k + 1) * PER_SHARD]) if isinstance(fate, tuple)]
        rows = [balanced_rows()[n] for n, _ in kept]
        assert release.to_pylist() == [
            {"raw_image_url": url, **{name: row[name] for name in
                                      ("text1", "text2", "text3", "syn_text")}}
            for row, (_, (url, _)) in zip(rows, kept, strict=True)]
        assert extended.schema.names == [
            "image_id", "image_shard", "image_row", "url", "doc_id", "text1", "text2", "text3",
            "syn_text", "score1", "key", "width", "height", "sha256", "shard", "raw_image_url",
            "raw_image_url_is_local"]
        assert [extended.schema.field(name).type for name in (
            "key", "width", "height", "sha256", "shard", "raw_image_url",
            "raw_image_url_is_local")] == [pa.string(), pa.int32(), pa.int32(), pa.string(),
                                           pa.string(), pa.string(), pa.bool_()]
        got = extended.to_pylist()
        assert [r["image_id"] for r in got] == [row["image_id"] for row in rows]
        assert [r["doc_id"] for r in got] == [row["doc_id"] for row in rows]
        assert [(r["raw_image_url"], r["raw_image_url_is_local"]) for r in got] == [
            fate for _, fate in kept]
        assert {(r["shard"], r["width"], r["height"]) for r in got} == {
            (f"{k:05d}.tar", *SIZE)}
        members = tar_members(output / "shards" / f"{k:05d}.tar")
        assert [r["sha256"] for r in got] == [
            hashlib.sha256(members[f"{r['key']}.jpg"]).hexdigest() for r in got]


def test_the_summary_names_the_counts_and_the_folders(run):
    ctx, stats, _ = run
    root = f"{ctx.workspace.url}/output"
    assert WriteStage().summary(ctx, stats) == (
        f"wrote 4 samples of 10 (missing image 5, undecodable 1) to {root}/shards/"
        f"{{00000..00002}}.tar; release parquet: {root}/release/; extended parquet: "
        f"{root}/extended/")
    assert WriteStage().summary(ctx, {}) == (
        f"wrote 0 samples of 0 (missing image 0, undecodable 0) to {root}/shards/"
        f"{{00000..00002}}.tar; release parquet: {root}/release/; extended parquet: "
        f"{root}/extended/")


def test_a_shard_counts_its_rows_for_the_progress_lines(make_context):
    ctx = make_context({"samples_per_shard": PER_SHARD})
    build(ctx.workspace)
    sent: list[tuple] = []
    with progress.sending_to(lambda *message: sent.append(message)), progress.task("00001"):
        WriteStage().process(ctx, "00001")
    assert sent == [("00001", 0, None), ("00001", 0, 4), ("00001", 1, 4), ("00001", 2, 4),
                    ("00001", 3, 4), ("00001", 4, 4)]


def test_row_ranges_cross_shards_and_outside_ones_fail(make_context):
    ctx = make_context()
    build(ctx.workspace)
    ids = [image_id for image_id, *_ in ROWS]
    for start, stop in ((0, 10), (5, 7), (6, 9), (8, 10), (9, 10), (0, 1), (3, 4)):
        table = read_row_range(ctx.workspace, "balanced", start, stop)
        assert table.column("image_id").to_pylist() == ids[start:stop]
        assert table.column("doc_id").to_pylist() == [f"doc{n}" for n in range(start, stop)]
    for start, stop in ((10, 12), (4, 4)):
        with pytest.raises(ValueError, match=rf"^rows {start}\.\.{stop} are not in dataset "
                                             r"'balanced'$"):
            read_row_range(ctx.workspace, "balanced", start, stop)


def test_the_stage_reads_and_replaces_what_it_names(make_context, tmp_path, monkeypatch):
    ctx = make_context()
    assert WriteStage().reads(ctx.config) == ["datasets/balanced", "datasets/images_final"]
    assert WriteStage("b2", "i2").reads(ctx.config) == ["datasets/b2", "datasets/i2"]
    assert WriteStage().writes(ctx.config) == ["output"]
    monkeypatch.chdir(tmp_path)
    relative = make_context({"output": "rel/out"}, name="relative")
    assert WriteStage().writes(relative.config) == [str(tmp_path / "rel" / "out")]
    remote = make_context({"output": "memory://bucket/out"}, name="remote")
    assert WriteStage().writes(remote.config) == ["memory://bucket/out"]


def test_a_missing_input_names_the_stage_to_run(make_context):
    ctx = make_context()
    with pytest.raises(FileNotFoundError, match=r"^dataset 'balanced' is missing in .*ws: run "
                                                r"the balance stage first$"):
        WriteStage().shards(ctx)


def test_output_elsewhere_holds_everything_and_the_summary_names_it(make_context, tmp_path):
    output = tmp_path / "published"
    ctx = make_context({"samples_per_shard": 5, "output": str(output)})
    build(ctx.workspace)
    stats = LocalExecutor(1).run(WriteStage(), ctx)
    assert not (Path(ctx.workspace.root) / "output").exists()
    assert sorted(p.name for p in (output / "shards").glob("*.tar")) == ["00000.tar",
                                                                         "00001.tar"]
    assert json.loads((output / "shards" / "sizes.json").read_text()) == {
        "00000.tar": 2, "00001.tar": 2}
    assert (output / "README.md").exists() and (output / "shards" / "README.md").exists()
    assert WriteStage().summary(ctx, stats).endswith(
        f"to {output}/shards/{{00000..00001}}.tar; release parquet: {output}/release/; "
        f"extended parquet: {output}/extended/")


def test_no_sample_at_all_still_writes_empty_tables_with_their_schemas(make_context):
    ctx = make_context({"samples_per_shard": PER_SHARD})
    build(ctx.workspace)
    empty = ctx.workspace.read_table("balanced", "00000").slice(0, 0)
    for k in range(3):
        ctx.workspace.fs.rm(ctx.workspace.path(f"datasets/balanced/{k:05d}.parquet"))
    ctx.workspace.write_table("balanced", "00000", empty)
    stats = LocalExecutor(1).run(WriteStage(), ctx)
    output = Path(ctx.workspace.root) / "output"
    assert json.loads((output / "shards" / "sizes.json").read_text()) == {}
    assert not list((output / "shards").glob("*.tar"))
    release = pq.read_table(output / "release" / "00000.parquet")
    extended = pq.read_table(output / "extended" / "00000.parquet")
    assert release.num_rows == extended.num_rows == 0
    assert release.schema.names == ["raw_image_url", "text1", "text2", "text3", "syn_text"]
    assert extended.schema.names[-7:] == ["key", "width", "height", "sha256", "shard",
                                          "raw_image_url", "raw_image_url_is_local"]
    assert extended.schema.field("width").type == pa.int32()
    assert extended.schema.field("raw_image_url_is_local").type == pa.bool_()
    assert "image_bytes" not in extended.schema.names
    assert "\n- samples written: 0 (missing image 0, undecodable 0)\n" in (
        output / "README.md").read_text()
    assert WriteStage().summary(ctx, stats).startswith(
        "wrote 0 samples of 0 (missing image 0, undecodable 0) to ")
    assert "/output/shards/(none); release parquet: " in WriteStage().summary(ctx, stats)


def test_the_stage_reads_the_datasets_it_is_given(make_context):
    ctx = make_context({"samples_per_shard": PER_SHARD})
    build(ctx.workspace, balanced="kept", images="pixels")
    stats = LocalExecutor(1).run(WriteStage("kept", "pixels"), ctx)
    assert (stats["records_out"], stats["dropped_missing_image"]) == (4, 5)
    output = Path(ctx.workspace.root) / "output"
    assert json.loads((output / "shards" / "sizes.json").read_text()) == {
        "00000.tar": 2, "00001.tar": 1, "00002.tar": 1}


def written_sizes(make_context, name: str, **write) -> list[tuple[int, int, int]]:
    """(width, height, JPEG bytes) of every sample a run with these settings writes."""
    ctx = make_context({"samples_per_shard": PER_SHARD, **write}, name=name)
    build(ctx.workspace)
    LocalExecutor(1).run(WriteStage(), ctx)
    sizes = []
    for k in range(3):
        members = tar_members(Path(ctx.workspace.root) / "output" / "shards" / f"{k:05d}.tar")
        for name_, data in sorted(members.items()):
            if name_.endswith(".jpg"):
                with Image.open(io.BytesIO(data)) as image:
                    sizes.append((*image.size, len(data)))
    return sizes


def test_the_configured_size_mode_and_quality_reach_the_images(make_context):
    """48 x 32 pictures: keep_ratio brings the shorter side to image_size, keep_ratio_largest
    the longer one; a lower JPEG quality gives smaller files."""
    shorter = written_sizes(make_context, "shorter", image_size=20, resize_mode="keep_ratio")
    longer = written_sizes(make_context, "longer", image_size=20,
                           resize_mode="keep_ratio_largest")
    assert len(shorter) == len(longer) == 4
    assert all(min(w, h) == 20 and max(w, h) > 20 for w, h, _ in shorter)
    assert all(max(w, h) == 20 and min(w, h) < 20 for w, h, _ in longer)
    fine = written_sizes(make_context, "fine", jpeg_quality=95)
    coarse = written_sizes(make_context, "coarse", jpeg_quality=20)
    assert [size[:2] for size in fine] == [size[:2] for size in coarse] == [SIZE] * 4
    assert all(c < f for (*_, f), (*_, c) in zip(fine, coarse, strict=True))


def test_a_shard_with_nothing_written_still_has_its_files(make_context):
    """Shards of 2: rows 2-3 both lack their image, rows 6-7 are missing and undecodable."""
    ctx = make_context({"samples_per_shard": 2})
    build(ctx.workspace)
    stats = LocalExecutor(1).run(WriteStage(), ctx)
    output = Path(ctx.workspace.root) / "output"
    assert stats["records_out"] == 4
    assert json.loads((output / "shards" / "sizes.json").read_text()) == {
        "00000.tar": 2, "00001.tar": 0, "00002.tar": 1, "00003.tar": 0, "00004.tar": 1}
    for shard in ("00001", "00003"):
        assert tar_members(output / "shards" / f"{shard}.tar") == {}
        release = pq.read_table(output / "release" / f"{shard}.parquet")
        extended = pq.read_table(output / "extended" / f"{shard}.parquet")
        assert release.num_rows == extended.num_rows == 0
        assert release.schema.names == ["raw_image_url", "text1", "text2", "text3",
                                        "syn_text"]
        assert extended.schema.field("height").type == pa.int32()
        assert extended.schema.names[:2] == ["image_id", "image_shard"]
        # the extended schema never varies: an empty shard's is that of a full one
        full = pq.read_table(output / "extended" / "00000.parquet")
        assert extended.schema.remove_metadata() == full.schema.remove_metadata()
