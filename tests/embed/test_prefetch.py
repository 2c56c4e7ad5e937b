from __future__ import annotations

import threading
import time

import pytest

from realsyn.embed.prefetch import batched, prefetch_batches


def test_batched_covers_every_item_once():
    assert [list(b) for b in batched(list(range(7)), 3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batched([], 3)) == []


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_batches_come_back_in_order(workers):
    def prepare(batch):
        time.sleep(0.01 * (len(batch) % 2))  # uneven work: later batches may finish first
        return [item * 2 for item in batch]

    got = list(prefetch_batches(list(range(23)), 4, prepare, workers))
    assert [item for batch in got for item in batch] == [item * 2 for item in range(23)]


def test_preparation_overlaps_the_consumer():
    # While the consumer holds one batch, the next ones are being prepared on other threads.
    started = []

    def prepare(batch):
        started.append(batch[0])
        return threading.current_thread().name

    generator = prefetch_batches(list(range(10)), 2, prepare, workers=2)
    thread_name = next(generator)
    time.sleep(0.1)
    assert thread_name.startswith("prefetch")
    assert len(started) >= 3  # batch 0 consumed, batches 1 and 2 prepared meanwhile
    generator.close()


def test_errors_of_preparation_reach_the_consumer():
    def prepare(batch):
        if 6 in batch:
            raise ValueError("bad batch")
        return batch

    with pytest.raises(ValueError, match="bad batch"):
        list(prefetch_batches(list(range(10)), 3, prepare, workers=2))
