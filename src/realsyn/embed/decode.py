"""Decode encoded image bytes into RGB PIL images, fast and without ever raising."""

from __future__ import annotations

import io
import warnings

from PIL import Image


def decode_image(data: bytes, min_side: int | None = None) -> Image.Image:
    """Decode `data` to an RGB image. With `min_side`, JPEGs decode at a reduced scale that
    keeps both sides at least `min_side` (libjpeg DCT scaling): several times faster for
    large photos, and the encoder downsizes to that side anyway. Raises on bad data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # palette-transparency and bomb warnings: not errors
        image = Image.open(io.BytesIO(data))
        if min_side:
            image.draft("RGB", (min_side, min_side))
        image.load()
        if image.mode == "RGB":
            return image
        if image.mode in ("RGBA", "LA", "P", "PA") or "transparency" in image.info:
            # Transparent pixels often hide arbitrary colours: show them on white.
            rgba = image.convert("RGBA")
            background = Image.new("RGB", rgba.size, (255, 255, 255))
            background.paste(rgba, mask=rgba.getchannel("A"))
            return background
        return image.convert("RGB")


def try_decode_image(data: bytes | None, min_side: int | None = None
                     ) -> tuple[Image.Image | None, str | None]:
    """(image, None) or (None, reason): "no_bytes" or "undecodable"."""
    if not data:
        return None, "no_bytes"
    try:
        return decode_image(data, min_side), None
    except Exception:  # any malformed file: PIL raises many types
        return None, "undecodable"
