"""What open_clip's trainer assumes, checked before it starts, each failure one line naming the
option to change (inside open_clip they surface as assertions, hangs or silent fallbacks)."""

from __future__ import annotations

from pathlib import Path

# open_clip_train's --precision choices (open_clip_train/params.py).
PRECISIONS = ("amp", "amp_bf16", "amp_bfloat16", "bf16", "fp16", "pure_bf16", "pure_fp16",
              "fp32")
# Options realsyn sets itself from its own flags or the workspace; passing them again after
# `--` would leave the checks below checking something open_clip does not use.
OWNED_ARGUMENTS = {
    "--dataset-type": "", "--train-data": "", "--train-num-samples": "", "--val-data": "",
    "--val-num-samples": "", "--model": "--model", "--epochs": "--epochs",
    "--batch-size": "--batch-size", "--lr": "--lr", "--warmup": "--warmup",
    "--workers": "--workers", "--seed": "--seed", "--logs": "", "--name": "--name",
    "--resume": "", "--pretrained": "--pretrained", "--device": "--device",
    "--precision": "--precision",
}


class TrainError(ValueError):
    """Training cannot start; the message says what is missing and which option to change."""


def check_extra_arguments(extra: list[str]) -> None:
    for argument in extra:
        name = argument.split("=", 1)[0]
        if name in OWNED_ARGUMENTS:
            own = OWNED_ARGUMENTS[name]
            raise TrainError(f"{name} after `--`: realsyn sets it itself"
                             + (f"; use realsyn's own {own}" if own else ""))


def loader_workers(requested: int, shard_sizes: list[int], batch_size: int) -> int:
    """The most loader workers, up to `requested`, that open_clip's WebDataset loader can run.

    open_clip asserts shards >= workers; and each worker, reading its share of the shards,
    must fill at least one full batch per pass, or its loader repeats passes forever without
    yielding. A worker gets at least len // workers shards; the smallest ones are the worst
    case. Workers = 0 loads in the training process, which reads every shard."""
    total = sum(shard_sizes)
    if batch_size > total:
        raise TrainError(f"--batch-size {batch_size} is larger than the {total} training "
                         "samples: lower --batch-size (or hold out fewer with --val-shards)")
    ascending = sorted(shard_sizes)
    for workers in range(min(requested, len(shard_sizes)), 0, -1):
        if sum(ascending[:len(ascending) // workers]) >= batch_size:
            return workers
    return 0


def check_model(model_name: str, pretrained: str | None) -> None:
    import open_clip

    if model_name not in open_clip.list_models():
        raise TrainError(f"--model {model_name}: not an open_clip model (open_clip."
                         "list_models()) nor the path of a model-config JSON")
    if pretrained and not Path(pretrained).is_file():
        tags = open_clip.list_pretrained_tags_by_model(model_name)
        if pretrained not in tags:
            raise TrainError(f"--pretrained {pretrained}: neither a checkpoint file nor a "
                             f"pretrained tag of {model_name} ({', '.join(tags) or 'none'})")


def check_device(device: str | None, precision: str) -> None:
    import torch

    if precision not in PRECISIONS:
        raise TrainError(f"--precision {precision}: choose one of {', '.join(PRECISIONS)}")
    kind = (device or "").split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise TrainError(f"--device {device}: torch sees no CUDA device here (use --device "
                         "cpu)")
    if kind not in ("", "cpu", "cuda"):
        raise TrainError(f"--device {device}: use cpu, cuda or cuda:N")
    if kind == "cpu" and precision in ("fp16", "pure_fp16"):
        raise TrainError(f"--precision {precision}: half precision needs --device cuda "
                         "(use fp32 or amp_bf16 on the CPU)")


def check_run_folder(run_dir: Path, model_name: str) -> None:
    """A rerun resumes the run folder's latest checkpoint: it must be of the same model."""
    params = run_dir / "params.txt"
    if not params.exists():
        return
    for line in params.read_text().splitlines():
        key, _, value = line.partition(": ")
        if key == "model" and value != model_name:
            raise TrainError(f"--name {run_dir.name}: {run_dir} holds a run of model {value}, "
                             f"not {model_name}; choose another --name")
