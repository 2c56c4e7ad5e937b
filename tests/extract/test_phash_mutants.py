"""pHash details the photo tests leave open: low-contrast images, where rounding the DCT
coefficients too coarsely changes bits, and the byte layout faiss receives."""

from __future__ import annotations

import imagehash
import numpy as np
from PIL import Image

from realsyn.extract.phash import phash, to_codes


def test_low_contrast_images_hash_like_imagehash():
    # Pixel values 100..102: the DCT coefficients near the median differ by less than 1, so
    # only a fine rounding keeps every bit of the reference implementation.
    rng = np.random.default_rng(0)
    for _ in range(20):
        image = Image.fromarray((100 + rng.integers(0, 3, (40, 40))).astype(np.uint8))
        expected = np.uint64(int(str(imagehash.phash(image)), 16))
        assert np.int64(phash(image)).view(np.uint64) == expected


def test_codes_are_big_endian_bytes_of_the_hash():
    hashes = np.array([1, -2, 0x0102030405060708], dtype=np.int64)
    assert to_codes(hashes).tolist() == [
        [0, 0, 0, 0, 0, 0, 0, 1],
        [255, 255, 255, 255, 255, 255, 255, 254],
        [1, 2, 3, 4, 5, 6, 7, 8],
    ]
