"""Safe decoding, normalisation to RGB and the paper's image quality filter."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from realsyn.extract import images as im
from realsyn.extract.images import ImageRejected, decode_image, quality_reason

from .photos import encode

LIMIT = 89_478_485


def test_plain_jpeg_keeps_size_and_format():
    decoded = decode_image(encode(Image.new("RGB", (320, 200), (10, 200, 30))), LIMIT)
    assert (decoded.width, decoded.height, decoded.format) == (320, 200, "jpeg")
    assert decoded.image.mode == "RGB"


def test_cmyk_jpeg_becomes_rgb():
    cmyk = Image.new("CMYK", (120, 150), (0, 255, 255, 0))  # pure red in CMYK
    decoded = decode_image(encode(cmyk), LIMIT)
    red, green, blue = decoded.image.getpixel((60, 75))
    assert decoded.image.mode == "RGB" and red > 200 and green < 60 and blue < 60


def test_palette_with_transparency_is_composited_on_white():
    palette = Image.new("P", (150, 150), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.paste(1, (0, 0, 75, 150))  # left half red, right half index 0 = transparent
    data = encode(palette, "PNG", transparency=0)
    decoded = decode_image(data, LIMIT)
    assert decoded.format == "png"
    assert decoded.image.getpixel((10, 10)) == (255, 0, 0)
    assert decoded.image.getpixel((140, 10)) == (255, 255, 255)


def test_rgba_alpha_is_composited_on_white():
    rgba = Image.new("RGBA", (200, 100), (0, 0, 255, 0))
    decoded = decode_image(encode(rgba, "PNG"), LIMIT)
    assert decoded.image.getpixel((5, 5)) == (255, 255, 255)


def test_sixteen_bit_grey_is_rescaled_not_clipped():
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (120, 1))
    data = encode(Image.fromarray(ramp), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    decoded = decode_image(data, LIMIT)
    values = np.asarray(decoded.image)[0, :, 0]
    assert values[0] == 0 and values[-1] == 255 and 120 <= values[128] <= 135


def test_animated_gif_uses_the_first_frame():
    frames = [Image.new("RGB", (130, 110), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    decoded = decode_image(buffer.getvalue(), LIMIT)
    assert decoded.format == "gif" and decoded.image.mode == "RGB"
    red, _, blue = decoded.image.getpixel((5, 5))
    assert red > 200 and blue < 50


def test_exif_rotation_is_applied():
    stored = Image.new("RGB", (300, 120), (0, 0, 0))
    stored.paste((255, 255, 255), (0, 0, 30, 120))  # white band on the stored left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise
    decoded = decode_image(encode(stored, exif=exif), LIMIT)
    assert (decoded.width, decoded.height) == (120, 300)
    assert decoded.image.getpixel((60, 10))[0] > 200  # the band is now at the top


@pytest.mark.parametrize(("data", "reason"), [
    (b"", im.EMPTY),
    (None, im.EMPTY),
    (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", im.UNIDENTIFIED),
    (b"not an image at all", im.UNIDENTIFIED),
])
def test_undecodable_inputs_have_reasons(data, reason):
    with pytest.raises(ImageRejected) as caught:
        decode_image(data, LIMIT)
    assert caught.value.reason == reason


def test_truncated_jpeg_is_a_decode_error():
    data = encode(Image.effect_noise((400, 400), 64).convert("RGB"), quality=95)
    with pytest.raises(ImageRejected) as caught:
        decode_image(data[: len(data) // 2], LIMIT)
    assert caught.value.reason == im.DECODE_ERROR


def test_pixel_limit_rejects_before_decoding():
    data = encode(Image.new("RGB", (400, 300)), "PNG")
    with pytest.raises(ImageRejected) as caught:
        decode_image(data, max_pixels=400 * 300 - 1)
    assert caught.value.reason == im.TOO_MANY_PIXELS
    assert decode_image(data, max_pixels=400 * 300).width == 400


@pytest.mark.parametrize(("width", "height", "reason"), [
    (100, 100, None),  # shorter side exactly 100: kept
    (99, 200, im.TOO_SMALL),
    (250, 99, im.TOO_SMALL),
    (300, 100, None),  # aspect exactly 3: kept
    (100, 300, None),  # aspect exactly 1/3: kept
    (301, 100, im.ASPECT_RATIO),
    (100, 301, im.ASPECT_RATIO),
    (1000, 120, im.ASPECT_RATIO),
    (640, 480, None),
])
def test_quality_edges(width, height, reason):
    assert quality_reason(width, height, 100, 1 / 3, 3.0) == reason


def test_decompression_bomb_is_rejected_from_the_header():
    bomb = encode(Image.new("1", (12_000, 8_000)), "PNG")  # 96M pixels in a few kB
    assert len(bomb) < 100_000
    with pytest.raises(ImageRejected) as caught:
        decode_image(bomb, LIMIT)
    assert caught.value.reason == im.TOO_MANY_PIXELS
