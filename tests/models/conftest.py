"""Real photos shipped inside installed wheels, each with one plain description, and a tiny
open_clip architecture for plumbing tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from tiny_open_clip import TINY_OPEN_CLIP


def photo_catalogue() -> dict[str, tuple[Path, str]]:
    import matplotlib.cbook
    import skimage
    import sklearn.datasets

    skimage_data = Path(skimage.__file__).parent / "data"
    sklearn_images = Path(sklearn.datasets.__file__).parent / "images"
    return {
        "chelsea": (skimage_data / "chelsea.png", "a photo of a cat"),
        "coffee": (skimage_data / "coffee.png", "a cup of coffee"),
        "rocket": (skimage_data / "rocket.jpg", "a rocket on a launch pad"),
        "motorcycle": (skimage_data / "motorcycle_left.png", "a motorcycle"),
        "china": (sklearn_images / "china.jpg", "a Chinese palace"),
        "flower": (sklearn_images / "flower.jpg", "a pink flower"),
        "grace_hopper": (Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg",
                                                               asfileobj=False)),
                         "a woman in a military uniform"),
    }


@pytest.fixture(scope="session")
def photos() -> dict[str, tuple[Image.Image, str]]:
    loaded = {}
    for name, (path, description) in photo_catalogue().items():
        with Image.open(path) as image:
            loaded[name] = (image.convert("RGB"), description)
    return loaded


@pytest.fixture(scope="session")
def tiny_open_clip_config(tmp_path_factory) -> Path:
    """A model config JSON; the encoder registers it with open_clip.add_model_config."""
    path = tmp_path_factory.mktemp("open_clip") / "realsyn-tiny-test.json"
    path.write_text(json.dumps(TINY_OPEN_CLIP))
    return path
