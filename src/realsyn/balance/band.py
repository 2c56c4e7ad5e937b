"""The similarity band of the balance stage, as cosines or as quantiles of the run's own scores.

The paper's band [0.51, 0.61] is an absolute cosine range for EVA02-CLIP; another encoder has
another cosine scale (the offline encoder's image-text cosines sit around 0.2-0.4), so the same
numbers would drop almost everything. A quantile band drops the same share for any encoder.

Quantiles are found from exact counts in fine bins of the score, summed over the shards, so no
task holds every score (198M in the paper); the cut is exact to one bin (QUANTILE_BIN).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from realsyn.config import BalanceConfig, EncoderConfig

QUANTILE_BIN = 1e-4
# Bin b holds EDGES[b] <= score < EDGES[b + 1]; cosines lie in [-1, 1].
EDGES = np.linspace(-1.0, 1.0, round(2 / QUANTILE_BIN) + 1)


def fine_counts(scores: np.ndarray) -> np.ndarray:
    """Counts of the finite scores per bin of EDGES (the last bin also holds 1.0)."""
    scores = np.asarray(scores, dtype=np.float64)
    scores = np.clip(scores[np.isfinite(scores)], -1.0, 1.0)
    bins = np.minimum(np.searchsorted(EDGES, scores, side="right") - 1, len(EDGES) - 2)
    return np.bincount(bins, minlength=len(EDGES) - 1).astype(np.int64)


def quantile_cuts(counts: np.ndarray, low: float, high: float) -> tuple[float, float]:
    """(lower, upper) cosines such that at most `low` of the scores lie below `lower` and at
    most 1 - `high` above `upper`, each as close to that share as one bin allows."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return float(EDGES[0]), float(EDGES[-1])
    cumulative = np.cumsum(counts)
    # The first bin that takes the count below past low * total starts the band...
    first = int(np.searchsorted(cumulative, low * total, side="right"))
    # ...and the first bin that brings the kept count to high * total ends it.
    last = int(np.searchsorted(cumulative, high * total, side="left"))
    last = min(max(last, first), len(counts) - 1)
    return float(EDGES[first]), float(EDGES[last + 1])


def resolve_band(config: BalanceConfig, encoder: EncoderConfig, counts: np.ndarray
                 ) -> dict[str, Any]:
    """The band this run applies: its kind, the cosines, and the setting that decided each
    edge (named in reports and drop warnings)."""
    kind = config.band_kind(encoder)
    if kind == "cosines":
        return {"kind": kind, "low": config.min_similarity, "high": config.max_similarity,
                "low_setting": ["balance.min_similarity", config.min_similarity],
                "high_setting": ["balance.max_similarity", config.max_similarity]}
    low, high = quantile_cuts(counts, config.low_quantile, config.high_quantile)
    return {"kind": kind, "low": low, "high": high,
            "low_setting": ["balance.low_quantile", config.low_quantile],
            "high_setting": ["balance.high_quantile", config.high_quantile]}


def band_quantiles(below: int, above: int, scored: int) -> list[float | None]:
    """Where the band's edges fall in the run's scores: [share below, share at or under the
    upper edge] (None without scores)."""
    if not scored:
        return [None, None]
    return [round(below / scored, 6), round(1 - above / scored, 6)]
