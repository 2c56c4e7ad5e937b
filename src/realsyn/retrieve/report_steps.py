"""The retrieve stage's report: how many images use each sentence as text1 (reuse, per list
partition), then the reuse and audit figures in `report/retrieve.json` (report), and the
CLI's summary lines."""

from __future__ import annotations

from typing import Any

import numpy as np

from realsyn.retrieve import quality
from realsyn.retrieve.lists import AUDIT_SUMS, REUSE, ROUTING, TEXT1
from realsyn.retrieve.preview import preview
from realsyn.stage import Context

REPORT = "report/retrieve.json"


class ReportSteps:
    """reuse and report of `RetrieveStage`, and its summary."""

    def reuse(self, ctx: Context, shard: str) -> dict[str, Any]:
        """One sentence partition: how many images use each sentence as text1."""
        text1 = ctx.workspace.read_partition(ctx.scratch_read(TEXT1), int(shard))
        keys, first, uses = np.unique(np.asarray(text1.column("key")), return_index=True,
                                      return_counts=True)
        values, counts = np.unique(uses, return_counts=True)
        order = np.lexsort((keys, -uses))[:quality.TOP_REUSED]
        top = [{"uses": int(uses[i]), "key": int(keys[i]),
                "sentence_id": text1.column("sentence_id")[int(first[i])].as_py(),
                "text": text1.column("text")[int(first[i])].as_py()} for i in order]
        ctx.workspace.write_json(ctx.scratch_write(REUSE, f"{shard}.json"), {
            "uses": values.tolist(), "sentences": counts.tolist(), "top": top})
        return {}

    def report(self, ctx: Context, shard: str) -> dict[str, Any]:
        """The run's reuse and audit figures from the partial sums, and report/retrieve.json."""
        workspace = ctx.workspace
        stats = workspace.committed.merge_stats(self.name)  # every task finished so far
        routing = (workspace.read_json(ctx.scratch_read(ROUTING), {})
                   if workspace.exists(ctx.scratch_read(ROUTING)) else {})
        parts = [workspace.read_json(ctx.scratch_read(REUSE, f"{p}.json"))
                 for p in self.list_partitions(ctx)]
        reuse = quality.reuse_report(parts)
        audit = quality.audit_figures(stats, ctx.config.retrieve.top_k)
        out = {**reuse["stats"], **audit}
        config = ctx.config.retrieve
        report_audit = ({"audit_queries": stats.get("audit_queries", 0), **audit,
                         "routing": routing.get("routing"),
                         "nprobe": routing.get("lists_probed", config.lists_probed),
                         "seed": config.seed,
                         "note": "routed search vs exact search (every list) on a seeded sample "
                                 "of images kept apart from the routing fit sample; before any "
                                 "cap"} if audit else None)
        warnings = quality.warnings(out, config)
        workspace.write_json(REPORT, {
            "routing": {"routing": routing.get("routing"),
                        **{k: v for k, v in routing.items() if k != "routing"}},
            "audit": report_audit, "text1_reuse": reuse, "warnings": warnings,
            "stats": {**stats, **out}})
        return {**out, "quality_warnings": len(warnings)}

    def summary(self, ctx: Context, stats: dict[str, Any]) -> str:
        lines = [", ".join(f"{key}={value}" for key, value in stats.items()
                           if not key.startswith(AUDIT_SUMS))]
        report = ctx.workspace.read_json(REPORT)
        lines += [f"  WARNING: {warning}" for warning in report.get("warnings", [])]
        lines += quality.reuse_lines(report.get("text1_reuse", {}))
        lines += preview(ctx.workspace, ctx.config.retrieve.preview_images,
                         ctx.config.retrieve.top_k, self.output)
        return "\n".join(lines)
