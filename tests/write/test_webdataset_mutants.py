"""The tar shard writers tested alone (scripts/mutation.py mutates realsyn/write/webdataset.py):
keys, JSON-safe metadata, tar members, the stats of a shard, and the options a rolling writer
hands to each shard."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import fsspec.implementations.local
import pytest
from PIL import Image

from real_photos import encode, photo, sideways_jpeg
from realsyn.write.webdataset import (
    TarShardWriter,
    json_safe,
    key_digits,
    make_key,
    prepare_image,
    shard_name,
    target_size,
)
from rolling_writer import WebDatasetWriter


def test_keys_are_the_shard_then_the_index():
    assert shard_name(7) == "00007"
    assert make_key(12, 42, 4) == "000120042"
    assert [key_digits(n) for n in (1, 2, 10, 11, 100, 101, 1000)] == [1, 1, 1, 2, 2, 3, 3]


def test_target_size_never_rounds_a_side_to_zero():
    assert target_size(10_000, 10, 5, "keep_ratio_largest") == (5, 1)
    assert target_size(10, 10_000, 5, "keep_ratio_largest") == (1, 5)
    assert target_size(257, 256, 256, "keep_ratio") == (257, 256)  # shorter side fits
    assert target_size(257, 256, 256, "keep_ratio_largest") == (256, 255)


def test_json_safe_nulls_only_non_finite_floats_at_any_depth():
    value = {"a": float("nan"), "b": [1.5, float("inf"), (float("-inf"), "x")],
             "c": {"d": float("nan"), "e": 0.0}, "f": None, "g": 3}
    assert json_safe(value) == {"a": None, "b": [1.5, None, [None, "x"]],
                                "c": {"d": None, "e": 0.0}, "f": None, "g": 3}
    assert json_safe((1, 2)) == [1, 2]


def test_jpeg_quality_and_orientation_decide_the_bytes():
    cat = photo("chelsea")
    png = encode(cat, "PNG")
    low, high = prepare_image(png, quality=30), prepare_image(png)
    assert len(low.data) < len(high.data)
    with Image.open(io.BytesIO(high.data)) as image:
        assert image.format == "JPEG" and image.size == cat.size
    upright = encode(cat, "JPEG", quality=95)
    assert prepare_image(upright).data == upright
    assert prepare_image(sideways_jpeg(cat)).data != sideways_jpeg(cat)


def read_members(path) -> dict[str, tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(path) as tar:
        return {m.name: (m, tar.extractfile(m).read()) for m in tar.getmembers()}


def test_a_shard_holds_fixed_members_and_counts_what_it_wrote(tmp_path):
    jpeg = encode(photo("chelsea"), "JPEG", quality=90)
    writer = TarShardWriter(str(tmp_path / "shards"), 3)
    assert writer.write(None, "000030000", "none") == "failed_to_decode"
    assert writer.write(b"", "000030001", "empty") == "failed_to_decode"
    assert writer.last_record is None  # nothing written yet
    assert writer.write(jpeg, "000030002", "café", {"score": float("nan"), "kind": "été"}) == \
        "success"
    assert writer.write(jpeg, "000030003", None) == "success"
    assert writer.last_record["key"] == "000030003"
    stats = writer.close()
    shard = tmp_path / "shards" / "00003.tar"
    assert stats == {"count": 4, "successes": 2, "failed_to_decode": 2,
                     "first_key": "000030002", "last_key": "000030003",
                     "bytes": shard.stat().st_size, "shard": "00003.tar"}
    assert json.loads((tmp_path / "shards" / "00003_stats.json").read_text()) == stats
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == [
        "00003.tar", "00003_stats.json"]

    members = read_members(shard)
    assert list(members) == [f"00003000{i}.{ext}" for i in (2, 3) for ext in ("jpg", "txt", "json")]
    for info, _ in members.values():
        assert (info.mode, info.mtime, info.uid, info.gid, info.uname, info.gname) == (
            0o444, 0, 0, 0, "", "")
    assert members["000030002.jpg"][1] == jpeg
    assert members["000030002.txt"][1] == "café".encode()
    assert members["000030003.txt"][1] == b""
    raw = members["000030002.json"][1]
    assert "été".encode() in raw  # UTF-8, not \\u escapes
    record = json.loads(raw)
    assert list(record) == sorted(record)
    assert record["score"] is None and record["caption"] == "café"
    assert record["status"] == "success" and record["key"] == "000030002"
    assert (record["width"], record["height"]) == photo("chelsea").size
    assert (record["original_width"], record["original_height"]) == photo("chelsea").size
    assert record["sha256"] == hashlib.sha256(jpeg).hexdigest()


def test_the_rolling_writer_starts_at_its_first_shard_and_passes_its_options(tmp_path):
    png = encode(photo("chelsea"), "PNG")  # 451 x 300
    writer = WebDatasetWriter(str(tmp_path), samples_per_shard=2, first_shard=5, image_size=100,
                              resize_mode="keep_ratio_largest", jpeg_quality=40)
    for i in range(3):
        assert writer.write(png, f"caption {i}") == "success"
    stats = writer.close()
    assert [s["shard"] for s in stats] == ["00005.tar", "00006.tar"]
    assert [s["count"] for s in stats] == [2, 1]
    assert writer.close() == stats  # nothing more to close
    members = read_members(tmp_path / "00006.tar")
    assert list(members) == ["000060.jpg", "000060.txt", "000060.json"]
    record = json.loads(members["000060.json"][1])
    assert (record["width"], record["height"]) == (100, 67)
    expected = prepare_image(png, 100, "keep_ratio_largest", 40).data
    assert members["000060.jpg"][1] == expected


def test_the_rolling_writers_defaults_are_img2datasets(tmp_path):
    png = encode(photo("chelsea"), "PNG")  # 451 x 300
    writer = WebDatasetWriter(str(tmp_path), image_size=100)
    assert writer.write(png, "caption") == "success"
    writer.close()
    members = read_members(tmp_path / "00000.tar")
    # 10,000 samples per shard: four index digits; the shorter side resized; quality 95
    assert list(members) == ["000000000.jpg", "000000000.txt", "000000000.json"]
    assert members["000000000.jpg"][1] == prepare_image(png, 100, "keep_ratio", 95).data
    record = json.loads(members["000000000.json"][1])
    assert (record["width"], record["height"]) == (150, 100)


def test_key_digits_of_a_shard_of_at_most_one_sample():
    assert key_digits(0) == 1 and key_digits(-5) == 1


def test_a_shard_writer_resizes_the_shorter_side_by_default(tmp_path):
    png = encode(photo("chelsea"), "PNG")  # 451 x 300
    writer = TarShardWriter(str(tmp_path), 0, image_size=100)
    assert writer.write(png, "00000000", "caption") == "success"
    assert (writer.last_record["width"], writer.last_record["height"]) == (150, 100)
    assert writer.last_record["sha256"] == hashlib.sha256(
        prepare_image(png, 100, "keep_ratio", 95).data).hexdigest()  # quality 95
    writer.close()


def test_prepare_image_defaults_and_when_a_jpeg_passes_through():
    cat = photo("chelsea")  # 451 x 300
    png, jpeg = encode(cat, "PNG"), encode(cat, "JPEG", quality=90)
    # defaults: the shorter side, quality 95
    default = prepare_image(png, 100)
    assert (default.width, default.height) == (150, 100)
    assert default.data == prepare_image(png, 100, "keep_ratio", 95).data
    # the shorter side fits 350: nothing to resize, the JPEG is kept and the PNG keeps its size
    assert prepare_image(jpeg, 350).data == jpeg
    kept = prepare_image(png, 350)
    assert (kept.width, kept.height) == (451, 300)


def test_the_stats_file_is_written_whole_beside_the_shard(tmp_path, monkeypatch):
    writer = TarShardWriter(str(tmp_path / "shards"), 0)
    writer.write(encode(photo("chelsea"), "JPEG"), "00000000", "caption")
    stats = writer.close()
    text = (tmp_path / "shards" / "00000_stats.json").read_text()
    assert text == json.dumps(stats, indent=2, sort_keys=True)  # deterministic bytes

    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    real_mv = fsspec.implementations.local.LocalFileSystem.mv

    def killed_at_the_stats(self, source, target, **kwargs):
        if str(source).endswith("-stats.json"):
            raise KeyboardInterrupt
        return real_mv(self, source, target, **kwargs)

    monkeypatch.setattr(fsspec.implementations.local.LocalFileSystem, "mv", killed_at_the_stats)
    writer = TarShardWriter(str(tmp_path / "other"), 1)
    with pytest.raises(KeyboardInterrupt):
        writer.close()
    left = sorted(p.name for p in (tmp_path / "other").iterdir())
    assert left[0].startswith(".tmp-") and left[0].endswith("-stats.json")
    assert left[1:] == ["00001.tar"]
    assert list(elsewhere.iterdir()) == []
