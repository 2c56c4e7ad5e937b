"""Timing growth of a function on inputs 10x larger: linear code grows about 10x, quadratic
code about 100x. Timer noise and cache effects dominate calls of a few milliseconds, so a
fast call is repeated until the repetitions take MIN_SECONDS (the large input with a tenth of
the repetitions); the minimum of a few such measures keeps a loaded machine from deciding."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

MAX_RATIO = 30.0  # linear: ~10, quadratic: ~100
MIN_SECONDS = 0.05


def per_call(call: Callable[[], object], repeats: int, rounds: int = 3) -> float:
    """Best time per call; the garbage collector is paused as timeit does (its full passes
    cost in proportion to the whole heap, not to the input)."""
    best = float("inf")
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(repeats):
                call()
            best = min(best, (time.perf_counter() - start) / repeats)
    finally:
        if enabled:
            gc.enable()
    return best


def growth(function: Callable[[str], object], make: Callable[[int], str], n: int) -> float:
    """t(make(10n)) / t(make(n)) for `function`, per call."""
    small, large = make(n), make(10 * n)
    once = per_call(lambda: function(small), 1, 1)  # also warms caches and lazy imports
    repeats = max(10, int(MIN_SECONDS / max(once, 1e-7)) + 1) if once < MIN_SECONDS else 1
    small_time = per_call(lambda: function(small), repeats)
    large_time = per_call(lambda: function(large), max(1, repeats // 10))
    return large_time / small_time
