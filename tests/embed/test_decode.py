from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from real_photos import photo, sideways_jpeg
from realsyn.embed.decode import decode_image, try_decode_image


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_large_jpeg_is_drafted_but_never_below_the_requested_side():
    pixels = np.random.default_rng(0).integers(0, 255, (1200, 1600, 3), dtype=np.uint8)
    data = encoded(Image.fromarray(pixels), "JPEG")
    drafted = decode_image(data, min_side=256)
    assert drafted.mode == "RGB"
    assert min(drafted.size) >= 256 and drafted.size[0] < 1600  # 1/4 scale: 400 x 300
    assert decode_image(data).size == (1600, 1200)


@pytest.mark.parametrize("mode", ["L", "CMYK", "I;16", "1"])
def test_other_modes_become_rgb(mode):
    image = Image.new(mode, (50, 40))
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    assert decode_image(encoded(image, fmt)).mode == "RGB"


def test_transparent_pixels_are_shown_on_white():
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    image.putpixel((0, 0), (255, 0, 0, 255))
    decoded = decode_image(encoded(image, "PNG"))
    assert decoded.getpixel((5, 5)) == (255, 255, 255)
    assert decoded.getpixel((0, 0)) == (255, 0, 0)
    palette = image.convert("P")
    palette.info["transparency"] = palette.getpixel((5, 5))
    assert decode_image(encoded(palette, "PNG", transparency=palette.getpixel((5, 5)))
                        ).getpixel((5, 5)) == (255, 255, 255)


def test_bad_input_gives_a_reason_not_an_exception():
    truncated = encoded(Image.new("RGB", (64, 64), "blue"), "JPEG")[:40]
    assert try_decode_image(None) == (None, "no_bytes")
    assert try_decode_image(b"") == (None, "no_bytes")
    assert try_decode_image(b"<html>not an image</html>") == (None, "undecodable")
    assert try_decode_image(truncated) == (None, "undecodable")
    image, reason = try_decode_image(encoded(Image.new("RGB", (8, 8)), "GIF"))
    assert reason is None and image.size == (8, 8)


def test_exif_orientation_is_applied_as_in_extract():
    cat = photo("chelsea")  # 451 x 300, displayed
    decoded = decode_image(sideways_jpeg(cat), min_side=64)
    assert decoded.width > decoded.height  # upright, like the photo, not the stored pixels
    small = cat.resize(decoded.size)
    difference = np.abs(np.asarray(decoded, float) - np.asarray(small, float)).mean()
    assert difference < 20  # same picture (JPEG and draft scaling aside)
