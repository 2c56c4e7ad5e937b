"""Real photos shipped inside installed wheels (scikit-image, scikit-learn, matplotlib), by name.

Tests use them instead of synthetic pixels: encoders, perceptual hashes and captioners behave
differently on noise. The test helpers load them from here, so each photo's location is
written once.
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
from PIL import Image

# name -> (package, path inside it). skimage names are those of its `skimage.data.<name>()`
# loaders, which read these files; china / flower are what sklearn's load_sample_image returns,
# grace_hopper what matplotlib's cbook.get_sample_data returns: the pixels are the same.
_FILES = {
    "astronaut": ("skimage", "data", "astronaut.png"),
    "chelsea": ("skimage", "data", "chelsea.png"),
    "coffee": ("skimage", "data", "coffee.png"),
    "rocket": ("skimage", "data", "rocket.jpg"),
    "motorcycle": ("skimage", "data", "motorcycle_left.png"),  # stereo_motorcycle()'s left view
    "camera": ("skimage", "data", "camera.png"),
    "moon": ("skimage", "data", "moon.png"),
    "coins": ("skimage", "data", "coins.png"),
    "clock": ("skimage", "data", "clock_motion.png"),
    "immunohistochemistry": ("skimage", "data", "ihc.png"),
    "hubble_deep_field": ("skimage", "data", "hubble_deep_field.jpg"),
    "retina": ("skimage", "data", "retina.jpg"),
    "page": ("skimage", "data", "page.png"),
    "gravel": ("skimage", "data", "gravel.png"),
    "china": ("sklearn", "datasets", "images", "china.jpg"),
    "flower": ("sklearn", "datasets", "images", "flower.jpg"),
    "grace_hopper": ("matplotlib", "mpl-data", "sample_data", "grace_hopper.jpg"),
}


def photo_path(name: str) -> Path:
    """The file of a named photo. Found without importing its package (sklearn is slow to)."""
    package, *parts = _FILES[name]
    spec = importlib.util.find_spec(package)
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)


def photo(name: str) -> Image.Image:
    """A named photo as an RGB image (grayscale ones repeated over three channels)."""
    if name == "horse":
        # No file holds these pixels: skimage.data.horse() thresholds horse.png (RGBA) to a mask.
        from skimage import data

        return Image.fromarray(data.horse().astype(np.uint8) * 255).convert("RGB")
    with Image.open(photo_path(name)) as image:
        return image.convert("RGB")


def encode(image: Image.Image, fmt: str = "JPEG", **options) -> bytes:
    """The image as file bytes; `options` go to PIL's save (quality, optimize, ...)."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def sideways_jpeg(image: Image.Image) -> bytes:
    """JPEG bytes that *display* as `image` but store it turned 90 degrees, with EXIF
    orientation 6 (rotate clockwise to display), as phone cameras write photos."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(image.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif, quality=95)
