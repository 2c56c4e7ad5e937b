"""The tar shard writers: img2dataset layout, resizing, failures, determinism, read-back."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
import webdataset as wds
from PIL import Image

from real_photos import photo, sideways_jpeg
from realsyn.write.webdataset import (
    TarShardWriter,
    key_digits,
    prepare_image,
    target_size,
)
from rolling_writer import WebDatasetWriter


def test_target_size_keeps_ratio_and_never_upscales():
    assert target_size(1200, 800, None, "keep_ratio") == (1200, 800)
    assert target_size(1200, 800, 256, "keep_ratio") == (384, 256)
    assert target_size(1200, 800, 256, "keep_ratio_largest") == (256, 171)
    assert target_size(200, 100, 256, "keep_ratio") == (200, 100)
    assert target_size(300, 200, 256, "keep_ratio_largest") == (256, 171)
    assert target_size(300, 200, 256, "keep_ratio") == (300, 200)


def test_prepare_image_cases(material):
    by_kind = dict(material)
    photo = by_kind["photo"]
    same = prepare_image(photo)
    assert same.data == photo  # a JPEG needing no resize is stored unchanged
    small = prepare_image(photo, image_size=64)
    assert min(small.width, small.height) == 64
    assert (small.original_width, small.original_height) == (same.width, same.height)
    with Image.open(io.BytesIO(small.data)) as image:
        assert image.format == "JPEG" and image.size == (small.width, small.height)

    png = prepare_image(by_kind["big_png_rgba"], image_size=300, resize_mode="keep_ratio_largest")
    assert (png.width, png.height) == (300, 200) and (png.original_width, png.original_height) == (
        900, 600)
    with Image.open(io.BytesIO(png.data)) as image:
        assert image.format == "JPEG" and image.mode == "RGB"

    assert prepare_image(by_kind["gray_jpeg"]).data == by_kind["gray_jpeg"]
    with Image.open(io.BytesIO(prepare_image(by_kind["cmyk_jpeg"]).data)) as image:
        assert image.mode == "RGB"  # CMYK JPEGs are re-encoded: many decoders mishandle them
    with pytest.raises(Exception):  # noqa: B017 - any Pillow error; the writer counts it
        prepare_image(by_kind["corrupt"])


def test_a_sideways_jpeg_is_stored_upright():
    cat = photo("chelsea")  # 451 x 300 as displayed
    prepared = prepare_image(sideways_jpeg(cat))  # no resize: still not passed through
    assert (prepared.width, prepared.height) == cat.size == (
        prepared.original_width, prepared.original_height)
    with Image.open(io.BytesIO(prepared.data)) as image:
        assert image.size == cat.size and image.getexif().get(0x0112, 1) == 1


def test_key_digits_as_img2dataset():
    assert key_digits(10_000) == 4
    assert key_digits(10) == 1
    assert key_digits(11) == 2
    assert key_digits(1) == 1


def write_all(folder, material, per_shard=4):
    writer = WebDatasetWriter(str(folder), samples_per_shard=per_shard, image_size=128)
    expected = {}
    for i, (kind, data) in enumerate(material):
        meta = {"text1": f"caption {i}", "text2": "second", "syn_text": f"syn {i}",
                "score1": 0.55, "bad_score": float("nan"), "kind": kind}
        status = writer.write(data, f"caption {i}", meta)
        expected[i] = (kind, status)
    return writer.close(), expected


def test_rolling_writer_shards_stats_and_read_back(tmp_path, material):
    stats, expected = write_all(tmp_path / "out", material)
    n = len(material)
    assert len(stats) == -(-n // 4)
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted([f"{k:05d}.tar" for k in range(len(stats))]
                           + [f"{k:05d}_stats.json" for k in range(len(stats))])
    assert sum(s["count"] for s in stats) == n
    assert sum(s["failed_to_decode"] for s in stats) == 1  # the corrupt bytes
    on_disk = json.loads((tmp_path / "out" / "00000_stats.json").read_text())
    assert on_disk == stats[0]

    # every member in img2dataset's layout, KEY.{jpg,txt,json}, in that order
    with tarfile.open(tmp_path / "out" / "00000.tar") as tar:
        members = tar.getnames()
    assert members[:3] == ["000000.jpg", "000000.txt", "000000.json"]

    urls = str(tmp_path / "out" / f"{{00000..{len(stats) - 1:05d}}}.tar")
    samples = list(wds.WebDataset(urls, shardshuffle=False).decode("pil"))
    assert len(samples) == n - 1
    for sample in samples:
        shard, index = int(sample["__key__"][:5]), int(sample["__key__"][5:])
        i = shard * 4 + index
        assert sample["txt"] == f"caption {i}"
        meta = sample["json"]
        assert meta["key"] == sample["__key__"] and meta["syn_text"] == f"syn {i}"
        assert meta["bad_score"] is None and meta["score1"] == 0.55
        assert sample["jpg"].size == (meta["width"], meta["height"])
        assert min(meta["width"], meta["height"]) <= 128
        assert expected[i][1] == "success"


def test_shards_are_byte_identical_across_runs(tmp_path, material):
    write_all(tmp_path / "a", material[:6])
    write_all(tmp_path / "b", material[:6])
    for name in ("00000.tar", "00001.tar", "00000_stats.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_unclosed_shard_leaves_no_final_file(tmp_path, material):
    writer = TarShardWriter(str(tmp_path), 3)
    writer.write(material[0][1], "000030000", "text")
    assert not (tmp_path / "00003.tar").exists()  # only a temporary name until close()
    writer.close()
    assert (tmp_path / "00003.tar").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
