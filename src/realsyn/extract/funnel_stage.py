"""Base of the two dedup stages: an images and a sentences dataset in, one of each out, the
same shard keys; they store the extraction funnel, which the pipeline prints once (as the
closing report)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa

from realsyn.extract import funnel
from realsyn.extract.dedup_steps import kept_mask, shard_index, split_task, task_key
from realsyn.stage import RECORDS, Context, SteppedStage

IMAGES, SENTENCES = "images", "sentences"


class FunnelStage(SteppedStage):
    reports = (funnel.FUNNEL_PATH,)

    def __init__(self, images: str, sentences: str, images_out: str,
                 sentences_out: str) -> None:
        self.images, self.sentences = images, sentences
        self.images_out, self.sentences_out = images_out, sentences_out

    def _source(self, kind: str) -> str:
        return self.images if kind == IMAGES else self.sentences

    def _target(self, kind: str) -> str:
        return self.images_out if kind == IMAGES else self.sentences_out

    def shard_tasks(self, ctx: Context) -> list[str]:
        """One task per shard of both inputs ("images-<shard>", "sentences-<shard>")."""
        return [task_key(kind, shard) for kind in (IMAGES, SENTENCES)
                for shard in ctx.workspace.shards(self._source(kind))]

    def write_kept(self, ctx: Context, task: str, dropped_folder: str,
                   reasons: list[str], prefix: str = "dropped_"
                   ) -> tuple[str, str, np.ndarray, dict[str, Any]]:
        """The filter step of a task "<kind>-<shard>": writes the rows of the shard that the
        groups step did not drop; returns (kind, shard, kept mask, stats)."""
        kind, shard = split_task(task)
        source = self._source(kind)
        table = ctx.workspace.read_table(source, shard)
        stats: Counter = Counter({f"{prefix}{reason}": 0 for reason in reasons})
        keep = kept_mask(ctx, dropped_folder, shard_index(ctx, source, shard), table.num_rows,
                         stats, prefix)
        ctx.workspace.write_table(self._target(kind), shard, table.filter(pa.array(keep)))
        stats.update({RECORDS: table.num_rows, f"{kind}_in": table.num_rows,
                      f"{kind}_out": int(keep.sum())})
        return kind, shard, keep, dict(stats)

    def finalize(self, ctx: Context, stats: dict[str, Any]) -> None:
        funnel.store(ctx.workspace)

    def summary(self, ctx: Context, stats: dict[str, Any]) -> str:
        return (f"images {stats.get('images_in', 0)} -> {stats.get('images_out', 0)}, "
                f"sentences {stats.get('sentences_in', 0)} -> {stats.get('sentences_out', 0)}")

    def closing_report(self, ctx: Context) -> str | None:
        return funnel.format_funnel(funnel.build(ctx.workspace))
