"""Real photos shipped inside installed wheels, each with one plain description, and a tiny
open_clip architecture for plumbing tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from real_photos import photo
from tiny_open_clip import TINY_OPEN_CLIP

# Each photo (real_photos.py) with one plain description: the encoder tests expect a photo to
# score its own description above the others.
DESCRIPTIONS = {
    "chelsea": "a photo of a cat",
    "coffee": "a cup of coffee",
    "rocket": "a rocket on a launch pad",
    "motorcycle": "a motorcycle",
    "china": "a Chinese palace",
    "flower": "a pink flower",
    "grace_hopper": "a woman in a military uniform",
}


@pytest.fixture(scope="session")
def photos() -> dict[str, tuple[Image.Image, str]]:
    return {name: (photo(name), description) for name, description in DESCRIPTIONS.items()}


@pytest.fixture(scope="session")
def tiny_open_clip_config(tmp_path_factory) -> Path:
    """A model config JSON; the encoder registers it with open_clip.add_model_config."""
    path = tmp_path_factory.mktemp("open_clip") / "realsyn-tiny-test.json"
    path.write_text(json.dumps(TINY_OPEN_CLIP))
    return path
