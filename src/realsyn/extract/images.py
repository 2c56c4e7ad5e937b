"""Safe image decoding, normalisation to RGB, and the paper's image quality filter.

Decoding never trusts the input: the pixel count is checked from the header before any pixel
is decoded (decompression bombs), truncated or unidentifiable data is rejected with a reason,
and every accepted image comes out as 8-bit RGB in its displayed orientation:

- animated images (GIF, APNG, WebP): the first frame;
- EXIF orientation applied (a portrait photo stored sideways has its displayed width/height);
- palette and alpha images composited on white (transparent pixels would otherwise turn black);
- CMYK, YCbCr, LAB, HSV, 1-bit converted by Pillow;
- 16-bit and 32-bit integer / float grey images rescaled to 8 bits from their full range,
  because Pillow's own conversion clips every value above 255 to white.

Every stage that looks at pixels (extract, embed, generate) decodes through `decode_image`, so
the embedding, the caption and the tags see the image the quality filter measured.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow's own decompression-bomb limit; extract.images.max_pixels defaults to it.
DEFAULT_MAX_PIXELS = 89_478_485

# Drop reasons (stats keys are "dropped_<reason>").
EMPTY = "empty"
UNIDENTIFIED = "unidentified"
TOO_MANY_PIXELS = "too_many_pixels"
DECODE_ERROR = "decode_error"
TOO_SMALL = "too_small"
ASPECT_RATIO = "aspect_ratio"


class ImageRejected(ValueError):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass
class DecodedImage:
    image: Image.Image  # RGB, displayed orientation
    width: int
    height: int
    format: str  # lower-case Pillow format name: "jpeg", "png", ...


def decode_image(data: bytes | None, max_pixels: int = DEFAULT_MAX_PIXELS,
                 draft_side: int | None = None) -> DecodedImage:
    """Decode and normalise one encoded image; raises ImageRejected with the drop reason.

    With `draft_side`, a JPEG decodes at the smallest libjpeg DCT scale (1/2, 1/4, 1/8) that
    keeps both sides >= draft_side: several times faster for large photos that a model will
    downsize anyway. The size recorded is then the reduced one."""
    if not data:
        raise ImageRejected(EMPTY)
    try:
        with warnings.catch_warnings():
            # Our own limit (checked from the header below) is the authority; Pillow still
            # refuses outright anything over twice its default (DecompressionBombError).
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise ImageRejected(TOO_MANY_PIXELS, f"{width}x{height}")
            image_format = (image.format or "unknown").lower()
            if getattr(image, "is_animated", False):
                image.seek(0)
            if draft_side:
                image.draft("RGB", (draft_side, draft_side))
            image.load()
            image = to_rgb(ImageOps.exif_transpose(image))
    except ImageRejected:
        raise
    except UnidentifiedImageError as error:
        raise ImageRejected(UNIDENTIFIED, str(error)) from None
    except Image.DecompressionBombError as error:
        raise ImageRejected(TOO_MANY_PIXELS, str(error)) from None
    except Exception as error:  # truncated data, broken codecs: any failure is a drop
        raise ImageRejected(DECODE_ERROR, f"{type(error).__name__}: {error}") from None
    return DecodedImage(image=image, width=image.width, height=image.height,
                        format=image_format)


def to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return _wide_grey_to_rgb(image)
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("LA", "PA", "La", "RGBa"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")


def _wide_grey_to_rgb(image: Image.Image) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        low, high = float(np.nanmin(pixels)), float(np.nanmax(pixels))
        scale = 255.0 / (high - low) if high > low else 0.0
        pixels = (pixels - low) * scale
    elif pixels.max(initial=0) > 255:  # 16-bit data: map 0..65535 onto 0..255
        pixels = pixels / 257.0
    grey = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")


def quality_reason(width: int, height: int, min_side: int, min_aspect: float,
                   max_aspect: float) -> str | None:
    """The paper's image quality rule: None if kept, else the drop reason.

    Kept: min(width, height) >= min_side and min_aspect <= width / height <= max_aspect (the
    bounds themselves are kept; a relative tolerance absorbs float rounding of e.g. 1/3).
    """
    if min(width, height) < min_side:
        return TOO_SMALL
    aspect = width / height
    tolerance = 1e-9
    if aspect < min_aspect * (1 - tolerance) or aspect > max_aspect * (1 + tolerance):
        return ASPECT_RATIO
    return None
