"""A writer that rolls over to a new tar shard every `samples_per_shard` samples and assigns the
keys itself: how tests and benchmarks lay out shards as the write stage does, without running the
stage (the stage plans its shards and keys itself and writes each with `TarShardWriter`)."""

from __future__ import annotations

from typing import Any

from realsyn.write.webdataset import ResizeMode, TarShardWriter, key_digits, make_key


class WebDatasetWriter:
    """Rolls over to a new shard every `samples_per_shard` samples; keys are assigned here."""

    def __init__(self, output: str, samples_per_shard: int = 10_000, first_shard: int = 0,
                 image_size: int | None = None, resize_mode: ResizeMode = "keep_ratio",
                 jpeg_quality: int = 95):
        self.output = output
        self.samples_per_shard = samples_per_shard
        self.digits = key_digits(samples_per_shard)
        self.options = {"image_size": image_size, "resize_mode": resize_mode,
                        "jpeg_quality": jpeg_quality}
        self.shard_id = first_shard
        self.index = 0
        self.current: TarShardWriter | None = None
        self.shard_stats: list[dict[str, Any]] = []

    def write(self, image: bytes | None, caption: str | None,
              meta: dict[str, Any] | None = None) -> str:
        if self.current is None:
            self.current = TarShardWriter(self.output, self.shard_id, **self.options)
        key = make_key(self.shard_id, self.index, self.digits)
        status = self.current.write(image, key, caption, meta)
        self.index += 1
        if self.index == self.samples_per_shard:
            self._roll()
        return status

    def _roll(self) -> None:
        if self.current is not None:
            self.shard_stats.append(self.current.close())
            self.current = None
            self.shard_id += 1
            self.index = 0

    def close(self) -> list[dict[str, Any]]:
        self._roll()
        return self.shard_stats
