"""WebDataset tar shards in img2dataset's layout, readable by webdataset and open_clip.

Each shard `{shard_id:05d}.tar` holds, per sample, `KEY.jpg`, `KEY.txt` (the caption: text1) and
`KEY.json` (texts, scores, provenance, sizes); beside it `{shard_id:05d}_stats.json` counts what was
written and what failed. Keys are the shard id followed by the sample's index in the shard
(`000120042`), as img2dataset makes them. Writers share img2dataset's two-method interface:
`write(image_bytes, key, caption, meta)` and `close()`.

Shards are byte-identical across reruns: tar members carry fixed owner, mode and mtime, and a
shard is written under a temporary name and renamed into place when closed.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import posixpath
import tarfile
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import fsspec
from PIL import ExifTags, Image

from realsyn.extract.images import decode_image

ResizeMode = Literal["keep_ratio", "keep_ratio_largest"]
# Pillow modes whose JPEG bytes can be stored unchanged (decoders read them as RGB / gray).
JPEG_PASSTHROUGH_MODES = {"RGB", "L"}


# ---------------------------------------------------------------- images
@dataclass
class PreparedImage:
    data: bytes  # JPEG
    width: int
    height: int
    original_width: int
    original_height: int


def target_size(width: int, height: int, image_size: int | None, mode: ResizeMode
                ) -> tuple[int, int]:
    """Keep-ratio size for `image_size` (shorter side, or longer side for keep_ratio_largest);
    the original size when the image is not bigger than that (never upscale)."""
    if image_size is None:
        return width, height
    side = min(width, height) if mode == "keep_ratio" else max(width, height)
    if side <= image_size:
        return width, height
    scale = image_size / side
    return max(1, round(width * scale)), max(1, round(height * scale))


def _upright(image: Image.Image) -> bool:
    """No EXIF orientation, or the normal one: the stored pixels are the displayed ones."""
    return image.getexif().get(ExifTags.Base.Orientation, 1) == 1


def prepare_image(data: bytes, image_size: int | None = None,
                  resize_mode: ResizeMode = "keep_ratio", quality: int = 95) -> PreparedImage:
    """JPEG bytes for a shard. An upright JPEG that needs no resizing is stored unchanged (no
    loss, no decoding); anything else is decoded as the extract stage does (displayed
    orientation, RGB, alpha on white: training loaders ignore EXIF rotation), resized, and
    encoded at `quality`. Raises on bytes Pillow cannot decode (the caller counts them)."""
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        if (image.format == "JPEG" and image.mode in JPEG_PASSTHROUGH_MODES
                and target_size(width, height, image_size, resize_mode) == (width, height)
                and _upright(image)):
            image.verify()  # catches truncated or corrupt files without a full decode
            return PreparedImage(data, width, height, width, height)
    rgb = decode_image(data).image
    width, height = rgb.size
    size = target_size(width, height, image_size, resize_mode)
    if size != (width, height):
        rgb = rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=quality)
    return PreparedImage(out.getvalue(), size[0], size[1], width, height)


# ---------------------------------------------------------------- one shard
def shard_name(shard_id: int) -> str:
    return f"{shard_id:05d}"


def key_digits(samples_per_shard: int) -> int:
    """Digits of the in-shard index: enough for samples_per_shard - 1 (img2dataset's rule)."""
    return max(1, math.ceil(math.log10(samples_per_shard))) if samples_per_shard > 1 else 1


def make_key(shard_id: int, index: int, digits: int) -> str:
    return f"{shard_name(shard_id)}{index:0{digits}d}"


def json_safe(value: Any) -> Any:
    """NaN/inf floats become null: they are not JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o444
    info.mtime = 0  # fixed, so reruns give byte-identical shards
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


class TarShardWriter:
    """Writes one shard `{shard_id:05d}.tar` and its `_stats.json` under `output` (any fsspec
    URL). `write` returns the status of the sample: "success" or "failed_to_decode"."""

    def __init__(self, output: str, shard_id: int, image_size: int | None = None,
                 resize_mode: ResizeMode = "keep_ratio", jpeg_quality: int = 95):
        self.fs, self.folder = fsspec.core.url_to_fs(output)
        self.fs.makedirs(self.folder, exist_ok=True)
        self.shard_id = shard_id
        self.image_size, self.resize_mode, self.quality = image_size, resize_mode, jpeg_quality
        self.final = posixpath.join(self.folder, f"{shard_name(shard_id)}.tar")
        self.temporary = posixpath.join(
            self.folder, f".tmp-{uuid.uuid4().hex}-{shard_name(shard_id)}.tar")
        self.handle = self.fs.open(self.temporary, "wb")
        # stays open across write() calls; close() closes it
        self.tar = tarfile.open(  # noqa: SIM115
            fileobj=self.handle, mode="w", format=tarfile.USTAR_FORMAT)
        self.stats: dict[str, Any] = {"count": 0, "successes": 0, "failed_to_decode": 0,
                                      "first_key": None, "last_key": None}
        self.last_record: dict[str, Any] | None = None  # JSON of the last sample written

    def _add(self, name: str, data: bytes) -> None:
        self.tar.addfile(_member(name, len(data)), io.BytesIO(data))

    def write(self, image: bytes | None, key: str, caption: str | None,
              meta: dict[str, Any] | None = None) -> str:
        self.stats["count"] += 1
        try:
            if not image:
                raise ValueError("no image bytes")
            prepared = prepare_image(image, self.image_size, self.resize_mode, self.quality)
        except Exception:  # any undecodable input is counted, never fatal
            self.stats["failed_to_decode"] += 1
            return "failed_to_decode"
        record = {"key": key, "caption": caption, **(meta or {}),
                  "width": prepared.width, "height": prepared.height,
                  "original_width": prepared.original_width,
                  "original_height": prepared.original_height,
                  "sha256": hashlib.sha256(prepared.data).hexdigest(), "status": "success"}
        self._add(f"{key}.jpg", prepared.data)
        self._add(f"{key}.txt", (caption or "").encode("utf-8"))
        self._add(f"{key}.json", json.dumps(json_safe(record), ensure_ascii=False,
                                            sort_keys=True).encode("utf-8"))
        self.stats["successes"] += 1
        self.stats["first_key"] = self.stats["first_key"] or key
        self.stats["last_key"] = key
        self.last_record = record
        return "success"

    def close(self) -> dict[str, Any]:
        """Finish the tar, move it into place, write `_stats.json`; returns the stats."""
        self.tar.close()
        self.handle.close()
        self.fs.mv(self.temporary, self.final)
        self.stats["bytes"] = int(self.fs.size(self.final))
        self.stats["shard"] = f"{shard_name(self.shard_id)}.tar"
        stats_path = posixpath.join(self.folder, f"{shard_name(self.shard_id)}_stats.json")
        temporary = posixpath.join(self.folder, f".tmp-{uuid.uuid4().hex}-stats.json")
        with self.fs.open(temporary, "w") as handle:
            json.dump(self.stats, handle, indent=2, sort_keys=True)
        self.fs.mv(temporary, stats_path)
        return self.stats
