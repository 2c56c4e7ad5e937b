"""Timing growth of a function on inputs 10x larger: linear code grows about 10x, quadratic
code about 100x. The minimum of a few runs keeps a loaded machine from deciding."""

from __future__ import annotations

import time
from collections.abc import Callable

MAX_RATIO = 30.0  # linear: ~10, quadratic: ~100


def best_time(call: Callable[[], object], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def growth(function: Callable[[str], object], make: Callable[[int], str], n: int) -> float:
    """t(make(10n)) / t(make(n)) for `function`."""
    small, large = make(n), make(10 * n)
    function(small)  # warm caches and lazy imports before timing
    return best_time(lambda: function(large), 2) / max(best_time(lambda: function(small)), 1e-4)
