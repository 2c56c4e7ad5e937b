"""Train a CLIP on the written shards with open_clip's own trainer, and keep what it measured.

`realsyn train` is a thin front end to `open_clip_train.main`: it finds the WebDataset shards
the write stage produced (`<workspace>/output/shards`, sized by `sizes.json`), holds the last
`val_shards` of them out, and runs open_clip in this process with logs and checkpoints under
`<workspace>/train/<name>/`. Each training sample's caption is drawn from its texts as
`texts` says (see `texts.py`); the held-out shards keep text1. open_clip evaluates on them after
every epoch (contrastive loss, image<->text mean/median rank and R@1/5/10; zero-shot ImageNet
too when `--imagenet-val` is passed through); the last evaluation is copied to
`<workspace>/report/train.json`. A rerun resumes from the latest checkpoint (open_clip's
`--resume latest`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realsyn.train import preflight
from realsyn.train.preflight import TrainError
from realsyn.train.texts import TEXT_MODES, choosing_texts
from realsyn.workspace import Workspace

REPORT_PATH = "report/train.json"


@dataclass
class TrainOptions:
    model: str = "ViT-B-32"  # an open_clip model name, or the path of a model-config JSON
    pretrained: str | None = None
    epochs: int = 1
    batch_size: int = 256
    lr: float = 5e-4
    warmup: int = 100
    val_shards: int = 1  # the last shards, held out for evaluation; 0: no evaluation
    workers: int = 2  # at most; fewer when the training shards cannot feed more
    device: str | None = None  # None: open_clip's choice (CUDA when available)
    precision: str | None = None  # None: fp32 on the CPU, amp elsewhere
    texts: str = "random4"  # which of each image's texts a step may use (TEXT_MODES)
    name: str = "realsyn"
    seed: int = 0
    shards: Path | None = None  # the shard folder; None: <workspace>/output/shards
    held_out_from: Path | None = None  # take the held-out shards (same names) from here
    runs: Path | None = None  # where run folders go; None: <workspace>/train
    report: bool = True  # copy the summary to report/train.json
    extra: list[str] = field(default_factory=list)  # more open_clip_train arguments


@dataclass
class TrainPlan:
    train_shards: list[Path]
    val_shards: list[Path]
    train_samples: int
    val_samples: int
    logs: Path
    model_name: str
    model_config: Path | None
    workers: int
    precision: str
    arguments: list[str]


def _local_root(workspace: Workspace) -> Path:
    if not workspace.is_local:
        raise TrainError(f"open_clip reads local shards; the workspace is {workspace.url}")
    return Path(workspace.root)


def shard_sizes(shards_dir: Path) -> dict[str, int]:
    sizes_file = shards_dir / "sizes.json"
    if not sizes_file.exists():
        raise TrainError(f"no shards in {shards_dir} (sizes.json is missing): run the write "
                         "stage first (`realsyn write CONFIG`)")
    sizes = json.loads(sizes_file.read_text())
    return {name: int(count) for name, count in sorted(sizes.items()) if count > 0}


def default_precision(device: str | None) -> str:
    """fp32 on the CPU (autocast there is bfloat16 and slower on most CPUs), amp elsewhere;
    no device means open_clip's choice: CUDA when there is one."""
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    return "fp32" if device.startswith("cpu") else "amp"


def plan_training(workspace: Workspace, options: TrainOptions) -> TrainPlan:
    root = _local_root(workspace)
    shards_dir = options.shards or root / "output" / "shards"
    sizes = shard_sizes(shards_dir)
    if options.val_shards < 0 or options.val_shards >= len(sizes):
        raise TrainError(f"--val-shards {options.val_shards}: there are {len(sizes)} non-empty "
                         "shards, and at least one must be left for training")
    if options.texts not in TEXT_MODES:
        raise TrainError(f"--texts {options.texts}: choose one of {', '.join(TEXT_MODES)}")
    preflight.check_extra_arguments(options.extra)
    model_name, model_config = options.model, None
    if options.model.endswith(".json"):
        model_config = Path(options.model).resolve()
        if not model_config.exists():
            raise TrainError(f"--model {options.model}: no such model-config file")
        model_name = model_config.stem
    # With held_out_from, that folder's shards decide the split (the training folder mirrors
    # it, maybe with some shards emptied).
    val_dir = options.held_out_from or shards_dir
    val_sizes = sizes if val_dir == shards_dir else shard_sizes(val_dir)
    names = list(val_sizes)
    split = len(names) - options.val_shards
    train = [shards_dir / name for name in names[:split] if name in sizes]
    val = [val_dir / name for name in names[split:]]
    if not train:
        raise TrainError(f"no training samples in {shards_dir} outside the held-out shards")
    train_samples = sum(sizes[path.name] for path in train)
    val_samples = sum(val_sizes.get(path.name, 0) for path in val)
    workers = preflight.loader_workers(options.workers, [sizes[p.name] for p in train],
                                       options.batch_size)
    precision = options.precision or default_precision(options.device)
    logs = options.runs or root / "train"
    arguments = [
        "--dataset-type", "webdataset",
        "--train-data", "::".join(map(str, train)),
        "--train-num-samples", str(train_samples),
        "--model", model_name,
        "--epochs", str(options.epochs),
        "--batch-size", str(options.batch_size),
        "--lr", str(options.lr),
        "--warmup", str(options.warmup),
        "--workers", str(workers),
        "--seed", str(options.seed),
        "--precision", precision,
        "--logs", str(logs),
        "--name", options.name,
        "--save-frequency", "1",
        "--resume", "latest",
    ]
    if options.pretrained:
        arguments += ["--pretrained", options.pretrained]
    if options.device:
        arguments += ["--device", options.device]
    if val:
        arguments += ["--val-data", "::".join(map(str, val)),
                      "--val-num-samples", str(val_samples), "--val-frequency", "1"]
    return TrainPlan(train_shards=train, val_shards=val, train_samples=train_samples,
                     val_samples=val_samples, logs=logs / options.name, model_name=model_name,
                     model_config=model_config, workers=workers, precision=precision,
                     arguments=arguments + list(options.extra))


def last_metrics(run_dir: Path) -> dict[str, Any]:
    """The last evaluation open_clip appended to results.jsonl ({} when it never evaluated)."""
    results = run_dir / "checkpoints" / "results.jsonl"
    if not results.exists():
        return {}
    lines = [line for line in results.read_text().splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else {}


def checkpoint_epoch(path: Path) -> int:
    return int(path.stem.removeprefix("epoch_"))


def latest_checkpoint(run_dir: Path) -> Path | None:
    checkpoints = sorted((run_dir / "checkpoints").glob("epoch_*.pt"), key=checkpoint_epoch)
    return checkpoints[-1] if checkpoints else None


def _run_restoring_logging(main, arguments: list[str]):
    """open_clip sets the root logger and every existing logger to its level and adds its
    handlers; give the caller's logging back afterwards."""
    root = logging.getLogger()
    handlers = root.handlers[:]
    levels = {name: logger.level for name, logger in root.manager.loggerDict.items()
              if isinstance(logger, logging.Logger)}
    root_level = root.level
    try:
        return main(arguments)
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(root_level)
        for name, logger in root.manager.loggerDict.items():
            if isinstance(logger, logging.Logger):
                logger.setLevel(levels.get(name, logging.NOTSET))


def _text_counts_file(run_dir: Path) -> Path:
    return run_dir / "text_counts.json"


def _add_text_counts(run_dir: Path, counts: dict[str, int]) -> dict[str, int]:
    """Texts drawn over every session of this run (a resumed run adds to the earlier ones)."""
    path = _text_counts_file(run_dir)
    total = json.loads(path.read_text()) if path.exists() else {}
    total = {name: total.get(name, 0) + counts.get(name, 0) for name in counts}
    path.write_text(json.dumps(total, indent=2))
    return total


def train(workspace: Workspace, options: TrainOptions) -> dict[str, Any]:
    """Run open_clip's trainer on the workspace's shards; returns (and stores) the summary."""
    try:
        import open_clip
        from open_clip_train.main import main as open_clip_main
    except ImportError as error:
        raise TrainError("training needs open_clip's trainer: pip install "
                         "'realsyn[clip]' (open-clip-torch[training])") from error
    plan = plan_training(workspace, options)
    if plan.model_config is not None:
        open_clip.add_model_config(plan.model_config)
    preflight.check_model(plan.model_name, options.pretrained)
    preflight.check_device(options.device, plan.precision)
    preflight.check_run_folder(plan.logs, plan.model_name)
    done = latest_checkpoint(plan.logs)
    if done is None or checkpoint_epoch(done) < options.epochs:
        with choosing_texts(options.texts, options.seed) as chooser:
            status = _run_restoring_logging(open_clip_main, plan.arguments)
        if status not in (None, 0):
            raise TrainError(f"open_clip_train stopped with status {status}; its log is in "
                             f"{plan.logs}")
        _add_text_counts(plan.logs, chooser.counted())
    counts_file = _text_counts_file(plan.logs)
    checkpoint = latest_checkpoint(plan.logs)
    summary = {
        "model": plan.model_name,
        "texts": options.texts,
        "text_fields": list(TEXT_MODES[options.texts]),
        "text_counts": json.loads(counts_file.read_text()) if counts_file.exists() else {},
        "train_shards": len(plan.train_shards), "train_samples": plan.train_samples,
        "val_shards": len(plan.val_shards), "val_samples": plan.val_samples,
        "epochs": options.epochs, "batch_size": options.batch_size,
        "workers": plan.workers, "device": options.device, "precision": plan.precision,
        "checkpoint": str(checkpoint) if checkpoint else None,
        "model_config": str(plan.model_config) if plan.model_config else None,
        "metrics": last_metrics(plan.logs),
        "open_clip_arguments": plan.arguments,
    }
    if options.report:
        workspace.write_json(REPORT_PATH, summary)
    return summary
