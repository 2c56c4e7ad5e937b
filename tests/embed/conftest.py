"""Fixtures of the embed tests: workspaces built here, since the upstream stages are tested
elsewhere."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from PIL import Image

# embed_helpers.py is imported by the tests of this folder.
sys.path.insert(0, str(Path(__file__).parent))

from embed_helpers import (
    IMAGE_NAMES,
    SENTENCES,
    encode,
    images_table,
    sample_photo_paths,
    sentences_table,
)

from realsyn.workspace import Workspace
from tiny_open_clip import TINY_OPEN_CLIP


@pytest.fixture(scope="session")
def photo_bytes() -> dict[str, bytes]:
    out = {}
    for name, path in sample_photo_paths().items():
        with Image.open(path) as image:
            out[name] = encode(image.convert("RGB"), "JPEG")
    return out


@pytest.fixture
def filled_workspace(tmp_path, photo_bytes) -> Workspace:
    workspace = Workspace(str(tmp_path / "ws"))
    for number, names in enumerate(IMAGE_NAMES):
        blobs = [photo_bytes.get(name) for name in names]
        blobs = [b"\xff\xd8\xff\xe0 not really a jpeg" if name == "broken" else blob
                 for name, blob in zip(names, blobs, strict=True)]
        if "flower" in names:
            flower = Image.open(io.BytesIO(photo_bytes["flower"]))
            blobs[names.index("flower")] = encode(flower, "PNG")
        workspace.write_table("images_dedup", f"{number:05d}", images_table(blobs, f"d{number}"))
    for number, texts in enumerate(SENTENCES):
        workspace.write_table("sentences_dedup", f"{number:05d}",
                              sentences_table(texts, f"d{number}"))
    return workspace


@pytest.fixture(scope="session")
def tiny_model_json(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("open_clip") / "realsyn-tiny-embed.json"
    path.write_text(json.dumps(TINY_OPEN_CLIP))
    return str(path)
