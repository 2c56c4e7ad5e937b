"""Prepare the next batches on threads while the model computes the current one."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Prepared = TypeVar("Prepared")


def batched(items: Sequence[Item], batch_size: int) -> Iterator[Sequence[Item]]:
    for start in range(0, len(items), batch_size):
        yield items[start:start + batch_size]


def prefetch_batches(items: Sequence[Item], batch_size: int,
                     prepare: Callable[[Sequence[Item]], Prepared],
                     workers: int) -> Iterator[Prepared]:
    """Yield `prepare(batch)` for consecutive batches, in order.

    With `workers` threads, up to workers + 1 batches are prepared ahead of the consumer, so
    decoding (PIL and numpy release the GIL) overlaps the model's forward pass. With 0
    workers everything runs inline.
    """
    if workers <= 0:
        for batch in batched(items, batch_size):
            yield prepare(batch)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="prefetch") as pool:
        pending: deque[Future[Prepared]] = deque()
        batches = batched(items, batch_size)
        try:
            for batch in batches:
                pending.append(pool.submit(prepare, batch))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:  # consumer stopped early or failed: drop queued work
                future.cancel()
