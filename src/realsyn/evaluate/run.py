"""`realsyn eval`: score an open_clip checkpoint on the datasets a user names, one row per
(dataset, task, metric), stored in `<workspace>/report/eval.json`:

    {"checkpoint": str, "model": str,
     "rows": [{"dataset": str, "task": str, "metric": str, "value": float}]}
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realsyn.evaluate.datasets import EvalError, resolve
from realsyn.evaluate.tasks import METRICS, Scorer, run_task, tasks_for
from realsyn.train import REPORT_PATH as TRAIN_REPORT
from realsyn.workspace import Workspace

REPORT_PATH = "report/eval.json"
PRECISIONS = ("amp", "fp32")
log = logging.getLogger(__name__)


@dataclass
class EvalOptions:
    datasets: list[str]
    tasks: list[str] = field(default_factory=list)  # empty: every task a dataset supports
    dataset_root: str | None = None
    download: bool = False
    checkpoint: str | None = None  # a file or an open_clip pretrained tag; None: last train
    model: str | None = None  # open_clip name or model-config JSON; None: last train's
    device: str | None = None  # None: cuda when available
    precision: str | None = None  # amp | fp32; None: amp on cuda, fp32 on the CPU
    batch_size: int = 64
    workers: int = 0
    seed: int = 0
    report: bool = True  # write report/eval.json


def _model_and_checkpoint(workspace: Workspace, options: EvalOptions) -> tuple[str, str]:
    trained = workspace.read_json(TRAIN_REPORT, {}) or {}
    checkpoint = options.checkpoint or trained.get("checkpoint")
    model = options.model or trained.get("model_config") or trained.get("model")
    if not checkpoint:
        raise EvalError("--checkpoint: none given and `realsyn train` has not written one "
                        f"({TRAIN_REPORT} is missing)")
    if not model:
        raise EvalError("--model: name the checkpoint's open_clip model (or its config JSON)")
    return model, checkpoint


def load_scorer(model: str, checkpoint: str, options: EvalOptions) -> tuple[Scorer, str]:
    """The open_clip model with its weights; returns it and the model's name."""
    import open_clip
    import torch

    name = model
    if model.endswith(".json"):
        config = Path(model)
        if not config.exists():
            raise EvalError(f"--model {model}: no such model-config file")
        open_clip.add_model_config(config)
        name = config.stem
    if name not in open_clip.list_models():
        raise EvalError(f"--model {model}: not an open_clip model nor a model-config JSON")
    if not Path(checkpoint).is_file() and checkpoint not in (
            open_clip.list_pretrained_tags_by_model(name)):
        raise EvalError(f"--checkpoint {checkpoint}: no such file, nor a pretrained tag of "
                        f"{name}")
    device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EvalError(f"--device {device}: torch sees no CUDA device here (use --device cpu)")
    precision = options.precision or ("amp" if device.startswith("cuda") else "fp32")
    if precision not in PRECISIONS:
        raise EvalError(f"--precision {precision}: choose one of {', '.join(PRECISIONS)}")
    created, _, transform = open_clip.create_model_and_transforms(name, pretrained=checkpoint,
                                                                  device=device)
    created.eval()
    return Scorer(created, transform, open_clip.get_tokenizer(name), device,
                  precision == "amp", options.batch_size, options.workers, options.seed), name


def evaluate(workspace: Workspace, options: EvalOptions) -> dict[str, Any]:
    if not options.datasets:
        raise EvalError("--dataset: name at least one (a CLIP_benchmark dataset with "
                        "--dataset-root, or a local folder)")
    unknown = [task for task in options.tasks if task not in METRICS]
    if unknown:
        raise EvalError(f"--task {unknown[0]}: choose among {', '.join(METRICS)}")
    datasets = [resolve(name, options.dataset_root, options.download)
                for name in options.datasets]
    plan = [(dataset, task) for dataset in datasets
            for task in tasks_for(dataset, options.tasks)]
    if not plan:
        raise EvalError(f"--task {' '.join(options.tasks)}: none of them applies to "
                        f"{', '.join(options.datasets)}")
    model, checkpoint = _model_and_checkpoint(workspace, options)
    scorer, name = load_scorer(model, checkpoint, options)
    rows = []
    for dataset, task in plan:
        log.info("%s on %s", task, dataset.name)
        for metric, value in run_task(scorer, dataset, task).items():
            rows.append({"dataset": dataset.name, "task": task, "metric": metric,
                         "value": value})
    result = {"checkpoint": str(checkpoint), "model": name, "rows": rows}
    if options.report:
        workspace.write_json(REPORT_PATH, result)
    return result


def format_rows(rows: list[dict[str, Any]]) -> str:
    """The rows as an aligned text table."""
    header = ("dataset", "task", "metric", "value")
    lines = [(str(row["dataset"]), row["task"], row["metric"], f"{row['value']:.4f}")
             for row in rows]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths,
                                                                      strict=True)).rstrip()
                     for line in [header, *lines])
