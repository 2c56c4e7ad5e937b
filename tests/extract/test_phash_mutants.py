"""pHash details the photo tests leave open: low-contrast images, where rounding the DCT
coefficients too coarsely changes bits, and the byte layout faiss receives."""

from __future__ import annotations

from pathlib import Path

import imagehash
import numpy as np
import pytest
import scipy.fft
from PIL import Image

from realsyn.extract.phash import linking_pairs, phash, to_codes


def test_low_contrast_images_hash_like_imagehash():
    # Pixel values 100..102: the DCT coefficients near the median differ by less than 1, so
    # only a fine rounding keeps every bit of the reference implementation.
    rng = np.random.default_rng(0)
    for _ in range(20):
        image = Image.fromarray((100 + rng.integers(0, 3, (40, 40))).astype(np.uint8))
        expected = np.uint64(int(str(imagehash.phash(image)), 16))
        assert np.int64(phash(image)).view(np.uint64) == expected


def test_median_coefficients_closer_than_the_rounding_tie():
    """The rounding is a tolerance, so it has its near ties: this 32x32 image (a symmetric
    random image plus 14 small pixel changes, found by a meet-in-the-middle search) has two
    median DCT coefficients 2.1e-7 apart. Rounded to 6 decimals they tie and neither bit is
    set; imagehash, which does not round, sets the larger one's (a finer rounding would too)."""
    image = Image.open(Path(__file__).parent / "data" / "phash_near_tie.png")
    pixels = np.asarray(image, dtype=np.float64)
    assert pixels.shape == (32, 32)  # hashed as it is: no resampling
    # the 2-D DCT-II by scipy, not the matrices of realsyn.extract.phash
    low = scipy.fft.dct(scipy.fft.dct(pixels, axis=0), axis=1)[:8, :8]
    middle = np.sort(low.ravel())[31:33]
    assert 1e-7 < middle[1] - middle[0] < 5e-7
    rounded = np.round(low, 6)
    expected = int("".join("1" if bit else "0"
                           for bit in (rounded > np.median(rounded)).ravel()), 2)
    assert np.int64(phash(image)).view(np.uint64) == np.uint64(expected)
    unrounded = np.uint64(int(str(imagehash.phash(image)), 16))
    assert bin(int(unrounded) ^ expected).count("1") == 1


def test_codes_are_big_endian_bytes_of_the_hash():
    hashes = np.array([1, -2, 0x0102030405060708], dtype=np.int64)
    assert to_codes(hashes).tolist() == [
        [0, 0, 0, 0, 0, 0, 0, 1],
        [255, 255, 255, 255, 255, 255, 255, 254],
        [1, 2, 3, 4, 5, 6, 7, 8],
    ]


def test_fewer_than_two_hashes_link_nothing():
    for hashes in ([], [7]):
        pairs = linking_pairs(np.array(hashes, dtype=np.int64), 4)
        assert pairs.shape == (0, 2) and pairs.dtype == np.int64


def _linked(hashes: list, distance: int) -> list[list[int]]:
    """The pairs, each in index order (a pair is undirected)."""
    return sorted(sorted(pair) for pair in linking_pairs(np.array(hashes), distance).tolist())


def test_two_hashes_link_exactly_when_within_the_distance():
    near, far = np.int64(0b1011), np.int64(0b1011 ^ 0b111)  # 3 bits apart
    assert _linked([near, near], 0) == [[0, 1]]
    assert _linked([near, far], 3) == [[0, 1]]
    assert _linked([near, far], 2) == []
    assert _linked([near, near ^ 1], 1) == [[0, 1]]
    assert _linked([near, near ^ 1], 0) == []


def test_distances_must_stay_below_the_hash_width():
    hashes = np.array([0, -1], dtype=np.int64)  # 64 bits apart
    assert linking_pairs(hashes, 63).tolist() == []
    with pytest.raises(ValueError, match="max_distance must be below 64"):
        linking_pairs(hashes, 64)
