"""Real photographs shipped inside installed wheels, and planted duplicates of them."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from real_photos import encode, photo


def real_photos() -> dict[str, Image.Image]:
    """Colour and grayscale photos (and one mask), in a fixed order: tests number groups by it."""
    return {name: photo(name) for name in (
        "astronaut", "chelsea", "coffee", "rocket", "camera", "moon", "coins", "clock",
        "immunohistochemistry", "hubble_deep_field", "retina", "horse", "page", "gravel",
        "china", "flower", "grace_hopper")}


def planted_copies(image: Image.Image) -> dict[str, Image.Image]:
    """Re-encoded, resized and slightly cropped copies of one photo."""
    width, height = image.size
    reencoded = Image.open(io.BytesIO(encode(image, quality=35))).convert("RGB")
    dx, dy = int(width * 0.02), int(height * 0.02)
    return {
        "reencoded": reencoded,
        "resized": image.resize((width * 3 // 5, height * 3 // 5), Image.Resampling.BILINEAR),
        "cropped": image.crop((dx, dy, width - dx, height - dy)),
        "cropped_one_side": image.crop((0, 0, width - int(width * 0.04), height)),
    }


def pair_precision_recall(labels: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Pairwise precision and recall of predicted groups against true groups."""
    same_pred = labels[:, None] == labels[None, :]
    same_true = truth[:, None] == truth[None, :]
    upper = np.triu(np.ones_like(same_pred, dtype=bool), k=1)
    tp = int((same_pred & same_true & upper).sum())
    predicted = int((same_pred & upper).sum())
    actual = int((same_true & upper).sum())
    return (tp / predicted if predicted else 1.0), (tp / actual if actual else 1.0)
