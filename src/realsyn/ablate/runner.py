"""`realsyn ablate`: the paper's text ablation on one workspace.

Five CLIPs of the same architecture and schedule are trained on the same images: a baseline
without retrieval (nearest text item of the image's own document), then RealSyn's shards with
text1 only, the three real texts, the synthetic text only, and all four (the paper's recipe).
Each is scored on the same held-out pairs (the last written shards with text1, by open_clip's
evaluation) and on the benchmarks named with --dataset (CLIP_benchmark, as `realsyn eval`);
one table compares them, and `report/ablate.json` keeps it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from realsyn.ablate.baseline import write_baseline_shards
from realsyn.evaluate import EvalOptions, evaluate
from realsyn.train import TrainOptions, train
from realsyn.workspace import Workspace

REPORT_PATH = "report/ablate.json"
# (row label, text mode, trained on the baseline shards?)
VARIANTS = (
    ("baseline (no retrieval)", "text1", True),
    ("text1", "text1", False),
    ("real3 (text1-3)", "real3", False),
    ("syn", "syn", False),
    ("random4 (RealSyn)", "random4", False),
)
# What the runs default to: the paper's model on a GPU; a tiny CLIP on the CPU, whose numbers
# measure the plumbing only.
GPU_PROFILE = {"model": "ViT-B-32", "epochs": 32, "batch_size": 256, "warmup": 100}
CPU_PROFILE = {"model": str(resources.files("realsyn.ablate") / "tiny-clip.json"),
               "epochs": 4, "batch_size": 8, "warmup": 2}


@dataclass
class AblateOptions:
    train: TrainOptions  # model, schedule, device; texts, name and folders are set per run
    datasets: list[str] = field(default_factory=list)  # benchmarks for `realsyn eval`
    tasks: list[str] = field(default_factory=list)
    dataset_root: str | None = None
    eval_precision: str | None = None


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def profile(device: str | None) -> dict[str, Any]:
    return GPU_PROFILE if (device or default_device()).startswith("cuda") else CPU_PROFILE


def _columns(result: dict[str, Any]) -> dict[str, float]:
    """One row of the table: held-out retrieval, then averages per benchmark task (%)."""
    metrics = result["train"]["metrics"]
    row = {"held-out I2T R@1": metrics.get("image_to_text_R@1"),
           "held-out T2I R@1": metrics.get("text_to_image_R@1")}
    groups = {"zero-shot acc1": ("zeroshot_classification", "acc1"),
              "linear probe acc1": ("linear_probe", "lp_acc1"),
              "I2T R@1": ("zeroshot_retrieval", "text_retrieval_recall@1"),
              "T2I R@1": ("zeroshot_retrieval", "image_retrieval_recall@1")}
    for column, (task, metric) in groups.items():
        values = [r["value"] for r in result.get("eval", []) if (r["task"], r["metric"]) ==
                  (task, metric)]
        if values:
            row[column] = sum(values) / len(values)
    return {name: 100 * value for name, value in row.items() if value is not None}


def format_table(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(name for row in rows for name in row["scores"]))
    header = ["texts", "pairs", *columns]
    lines = [[row["variant"], str(row["train_samples"]),
              *(f"{row['scores'][c]:.1f}" if c in row["scores"] else "-" for c in columns)]
             for row in rows]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    def render(line):
        return " | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
    return "\n".join([render(header), "-+-".join("-" * width for width in widths),
                      *map(render, lines)])


def ablate(workspace: Workspace, options: AblateOptions, echo=print) -> dict[str, Any]:
    started = time.monotonic()
    root = Path(workspace.root)
    shards = options.train.shards or root / "output" / "shards"
    folder = root / "ablate"
    baseline_dir = folder / "baseline-shards"
    baseline_stats = write_baseline_shards(workspace, shards, baseline_dir)
    echo(f"baseline: {baseline_stats['records_out']} of {baseline_stats['records_in']} images "
         "paired with the nearest text item of their document")
    rows = []
    for label, texts, on_baseline in VARIANTS:
        name = "baseline" if on_baseline else texts
        run = replace(options.train, texts=texts, name=name, report=False, runs=folder / "runs",
                      shards=baseline_dir if on_baseline else shards, held_out_from=shards)
        echo(f"training {label} ...")
        summary = train(workspace, run)
        result: dict[str, Any] = {"train": summary}
        if options.datasets:
            result["eval"] = evaluate(workspace, EvalOptions(
                datasets=options.datasets, tasks=options.tasks,
                dataset_root=options.dataset_root, checkpoint=summary["checkpoint"],
                model=options.train.model, device=options.train.device,
                precision=options.eval_precision, seed=options.train.seed,
                report=False))["rows"]
        rows.append({"variant": label, "texts": texts, "train_samples": summary["train_samples"],
                     "checkpoint": summary["checkpoint"], "scores": _columns(result),
                     "eval": result.get("eval", [])})
    report = {"model": options.train.model, "epochs": options.train.epochs,
              "batch_size": options.train.batch_size, "device": options.train.device,
              "datasets": options.datasets, "baseline": baseline_stats, "rows": rows,
              "seconds": round(time.monotonic() - started, 1)}
    report["table"] = format_table(rows)
    workspace.write_json(REPORT_PATH, report)
    (folder / "table.txt").write_text(report["table"] + "\n")
    return report
