"""Base of the two dedup stages: they store the extraction funnel, which the pipeline prints
once (as the closing report)."""

from __future__ import annotations

from typing import Any

from realsyn.extract import funnel
from realsyn.stage import Context, SteppedStage


class FunnelStage(SteppedStage):
    def finalize(self, ctx: Context, stats: dict[str, Any]) -> None:
        funnel.store(ctx.workspace)

    def summary(self, ctx: Context, stats: dict[str, Any]) -> str:
        return (f"images {stats.get('images_in', 0)} -> {stats.get('images_out', 0)}, "
                f"sentences {stats.get('sentences_in', 0)} -> {stats.get('sentences_out', 0)}")

    def closing_report(self, ctx: Context) -> str | None:
        return funnel.format_funnel(funnel.build(ctx.workspace))
