"""Encoded image bytes to RGB PIL images for the encoder, without ever raising.

The decoding itself is the extract stage's (extract/images.py: EXIF orientation, first frame,
alpha on white, 16-bit rescaling), with a JPEG draft at the encoder's input side for speed.
"""

from __future__ import annotations

from PIL import Image

from realsyn.extract.images import DEFAULT_MAX_PIXELS, EMPTY, ImageRejected
from realsyn.extract.images import decode_image as decode_and_normalise


def decode_image(data: bytes, min_side: int | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """`data` as an RGB image, drafted to keep both sides >= `min_side` when given.
    Raises ImageRejected on bad data."""
    return decode_and_normalise(data, max_pixels, draft_side=min_side).image


def try_decode_image(data: bytes | None, min_side: int | None = None,
                     max_pixels: int = DEFAULT_MAX_PIXELS
                     ) -> tuple[Image.Image | None, str | None]:
    """(image, None) or (None, reason): "no_bytes" or "undecodable"."""
    try:
        return decode_image(data, min_side, max_pixels), None
    except ImageRejected as rejected:
        return None, "no_bytes" if rejected.reason == EMPTY else "undecodable"
