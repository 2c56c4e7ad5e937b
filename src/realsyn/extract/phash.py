"""64-bit perceptual hashes and grouping of hashes within a Hamming distance.

pHash (Zauner 2010, as popularised by imagehash): grey, resize to 32x32 (Lanczos), 2-D DCT-II,
keep the 8x8 lowest frequencies, one bit per coefficient: above the median of the 64 or not.
Bits are packed row-major, first bit most significant, and stored as signed int64 (Arrow and
numpy have no convenient uint64 path everywhere). The value equals int(str(imagehash.phash(im)),
16) read as two's complement, except for flat images, where imagehash hashes float noise
(coefficients are rounded here, so a flat image always hashes to its DC bit alone), and for
images whose two median coefficients are closer than the rounding (1e-6): they tie here; such
images exist (tests/extract/data/phash_near_tie.png, 2.1e-7 apart) but need constructing.

Grouping avoids an O(n^2) scan with multi-index hashing: split the 64 bits into m disjoint
chunks (m = min(r + 1, 4)); two hashes within distance r differ in at most floor(r / m) bits
of at least one chunk (pigeonhole), so a faiss `IndexBinaryMultiHash` with m tables, probing
every bucket within floor(r / m) flips of the query's chunk, finds every pair within r; the
candidates are then checked exactly, so only those are returned.
Identical hashes are collapsed first, so many exact copies never flood one bucket.
"""

from __future__ import annotations

import faiss
import numpy as np
from PIL import Image

HASH_BITS = 64
# Rows 0..7 of the (unnormalised) 32-point DCT-II basis: only the 8x8 lowest frequencies are
# kept, so two small matrix products replace a full 2-D transform (and a scipy dependency).
_DCT_LOW = 2.0 * np.cos(np.pi * np.outer(np.arange(8), 2 * np.arange(32) + 1) / 64.0)
# At most 4 tables of 16 bits: beyond that, buckets get so coarse that candidates grow with n.
MAX_TABLES = 4


def phash(image: Image.Image) -> int:
    """The 64-bit pHash of an image, as a signed int64 value."""
    grey = image.convert("L").resize((32, 32), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.float64)
    # Rounding removes float noise (~1e-10) so flat images hash the same on every platform.
    low = np.round(_DCT_LOW @ pixels @ _DCT_LOW.T, 6)
    bits = (low > np.median(low)).ravel()
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return int(np.array([value], dtype=np.uint64).view(np.int64)[0])


def to_codes(hashes: np.ndarray) -> np.ndarray:
    """int64 hashes -> [n, 8] uint8 codes for faiss (big-endian, so bit order is kept)."""
    return np.ascontiguousarray(np.asarray(hashes, dtype=">i8")).view(np.uint8).reshape(-1, 8)


def linking_pairs(hashes: np.ndarray, max_distance: int) -> np.ndarray:
    """Index pairs [m, 2] whose union-find closure joins every two hashes within
    `max_distance` bits: chains over identical values, plus one pair (first occurrences) for
    every two distinct values within the distance."""
    hashes = np.asarray(hashes, dtype=np.int64)
    if len(hashes) < 2:
        return np.empty((0, 2), dtype=np.int64)
    if max_distance >= HASH_BITS:
        raise ValueError(f"max_distance must be below {HASH_BITS}")
    unique, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    pairs = [_same_value_pairs(inverse)]
    if max_distance > 0 and len(unique) > 1:
        tables = min(max_distance + 1, MAX_TABLES)
        index = faiss.IndexBinaryMultiHash(HASH_BITS, tables, HASH_BITS // tables)
        index.nflip = max_distance // tables
        codes = to_codes(unique)
        index.add(codes)
        limits, _, found = index.range_search(codes, max_distance + 1)  # radius is strict
        queries = np.repeat(np.arange(len(unique)), np.diff(limits.astype(np.int64)))
        close = queries < found
        pairs.append(np.stack([first[queries[close]], first[found[close]]], axis=1))
    return np.concatenate(pairs).astype(np.int64)


def _same_value_pairs(inverse: np.ndarray) -> np.ndarray:
    """Chain pairs linking the members of each identical value (enough for union-find)."""
    order = np.argsort(inverse, kind="stable")
    same = inverse[order][1:] == inverse[order][:-1]
    return np.stack([order[:-1][same], order[1:][same]], axis=1).astype(np.int64)
