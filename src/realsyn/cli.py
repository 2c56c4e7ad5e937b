"""The `realsyn` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from realsyn import __version__
from realsyn.config import ConfigError, dump_config, load_config
from realsyn.executors.base import StageError
from realsyn.pipeline import STAGES, Pipeline, UnknownStageError, WiringError
from realsyn.plugins import PluginError
from realsyn.workspace import Workspace, WorkspaceError

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(help="Turn interleaved image-text documents into CLIP training data "
                       "(RealSyn).", no_args_is_help=True, add_completion=False,
                  context_settings=HELP)
config_app = typer.Typer(help="Inspect configurations.", no_args_is_help=True,
                         context_settings=HELP)
app.add_typer(config_app, name="config")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"realsyn {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")
          ] = False) -> None:
    """Turn interleaved image-text documents into CLIP training data (RealSyn)."""

ConfigPath = Annotated[Path, typer.Argument(help="YAML run configuration.")]
Workers = Annotated[int | None, typer.Option("--workers", "-w", min=1,
                                             help="Worker processes (overrides the config).")]
Rerun = Annotated[bool, typer.Option("--rerun", help="Forget finished shards and redo them.")]
# Training's data loaders (train and ablate): an upper bound that the shards may lower.
LoaderWorkers = Annotated[int, typer.Option(
    min=0, help="Data loader workers, at most (fewer when the training shards cannot feed more).")]
Settings = Annotated[list[str] | None, typer.Option(
    "--set", help="Override a config field, e.g. --set executor.shard_size=200 (repeatable).")]

# The stages each shortcut command runs; stage issues add their commands here.
COMMAND_STAGES: dict[str, list[str]] = {
    "ingest": ["ingest"],
    "extract": ["extract_images", "extract_sentences", "dedup"],
    "embed": ["embed", "semantic_dedup"],
    "retrieve": ["retrieve"],
    "write": ["write"],
}


def _fail(message: str, code: int = 2) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code=code)


def _overrides(settings: list[str] | None, workers: int | None = None) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for setting in settings or []:
        key, equals, value = setting.partition("=")
        if not equals or not key:
            _fail(f"--set expects FIELD=VALUE, got {setting!r}")
        overrides[key.strip()] = yaml.safe_load(value)
    if workers:
        overrides["executor.workers"] = workers
    return overrides


def _load(path: Path, overrides: dict[str, Any] | None = None):
    try:
        return load_config(path, overrides)
    except ConfigError as error:
        _fail(str(error))


def _pipeline(config) -> Pipeline:
    try:
        return Pipeline.from_config(config)
    except (UnknownStageError, WiringError, PluginError) as error:
        _fail(str(error))


def _existing_workspace(config) -> Workspace:
    """The workspace of a config, which must exist (commands that only read it)."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(config.workspace)
    if not fs.isdir(path):
        _fail(f"workspace {config.workspace} does not exist: run `realsyn run` first", 1)
    return Workspace(config.workspace)


def _run(config_path: Path, only: list[str] | None, start: str | None,
         overrides: dict[str, Any], rerun: bool) -> None:
    config = _load(config_path, overrides)
    pipeline = _pipeline(config)
    try:
        pipeline.run(config, only=only, start=start, rerun=rerun, report=typer.echo)
    except (UnknownStageError, WiringError) as error:
        _fail(str(error))
    except StageError as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        hint = "" if "cannot run" in first else \
            "\n(finished shards are kept: run the same command again to resume)"
        _fail(first + hint, 1)
    typer.echo(f"workspace: {config.workspace}")


@app.command()
def run(config: ConfigPath,
        only: Annotated[list[str] | None, typer.Option(
            "--only", help=f"Run only this stage (repeatable): {', '.join(STAGES)}.")] = None,
        start: Annotated[str | None, typer.Option(
            "--from", help="Run this stage and every later one.")] = None,
        workers: Workers = None, rerun: Rerun = False, settings: Settings = None,
        dry_run: Annotated[bool, typer.Option(
            "--dry-run", help="Print the plan (expected records, time, LLM requests per "
            "stage, from a probe of a few documents) and run nothing.")] = False,
        probe_documents: Annotated[int, typer.Option(
            "--probe-documents", min=1, help="Documents the --dry-run probe runs.")] = 4,
        ) -> None:
    """Run the configured stages in order, skipping finished work."""
    if dry_run:
        from realsyn.dryrun import dry_run as plan_run

        typer.echo(plan_run(_load(config, _overrides(settings, workers)), probe_documents))
        return
    _run(config, only, start, _overrides(settings, workers), rerun)


def _shortcut(command: str):
    def command_function(config: ConfigPath, workers: Workers = None, rerun: Rerun = False,
                         settings: Settings = None):
        _run(config, COMMAND_STAGES[command], None, _overrides(settings, workers), rerun)

    stages = ", ".join(COMMAND_STAGES[command])
    command_function.__doc__ = f"Run the {command} stages only ({stages})."
    return command_function


for _command in COMMAND_STAGES:
    app.command(name=_command)(_shortcut(_command))


@app.command()
def generate(config: ConfigPath, workers: Workers = None, rerun: Rerun = False,
             settings: Settings = None,
             retry_failed: Annotated[bool, typer.Option(
                 "--retry-failed",
                 help="Redo only rows whose syn_status is a fallback; keep the others.")] = False,
             ) -> None:
    """Run the generate stage (captions, tags, LLM fusion into syn_text)."""
    overrides = _overrides(settings, workers)
    if retry_failed:
        overrides["generate.retry_failed"] = True
    # Finished shards must be reopened for their flagged rows: retrying implies rerunning.
    _run(config, ["generate"], None, overrides, rerun or retry_failed)


@app.command()
def balance(config: ConfigPath, workers: Workers = None, rerun: Rerun = False,
            settings: Settings = None,
            target: Annotated[int | None, typer.Option(
                "--target", min=1,
                help="Output size; the cap t becomes the largest that fits.")] = None) -> None:
    """Run semantic balance sampling and the writers (balance, write)."""
    overrides = _overrides(settings, workers)
    if target is not None:
        overrides["balance.target"] = target
    _run(config, ["balance", "write"], None, overrides, rerun or target is not None)


@config_app.command("show")
def config_show(config: ConfigPath, settings: Settings = None) -> None:
    """Print the resolved config (defaults filled in, paths absolute)."""
    typer.echo(dump_config(_load(config, _overrides(settings))), nl=False)


@config_app.command("check")
def config_check(config: ConfigPath, settings: Settings = None) -> None:
    """Validate a config; exit 2 with the offending fields if it is invalid."""
    _check_stages(config, _load(config, _overrides(settings)))
    typer.echo(f"{config}: ok")


def _check_stages(path: Path, resolved) -> None:
    try:
        Pipeline.from_config(resolved).select(resolved)  # names known only to the pipeline
    except (UnknownStageError, WiringError, PluginError) as error:
        _fail(f"invalid config {path}:\n  stages: {error}")


@app.command()
def init(path: Annotated[Path, typer.Argument(help="Folder, file or glob of your documents.")],
         output: Annotated[Path, typer.Option(
             "--output", "-o", help="Where to write the config (its workspace goes beside it).")
         ] = Path("realsyn.yaml"),
         force: Annotated[bool, typer.Option(
             "--force", help="Overwrite an existing config.")] = False) -> None:
    """Write a starting config for the documents under PATH, detecting their formats."""
    from realsyn.ingest.sources import InputError
    from realsyn.starter import describe, write_config
    if output.exists() and not force:
        _fail(f"{output} exists; pass --force to overwrite it")
    try:
        found, example, resolved = write_config(path, output)
    except (InputError, ConfigError) as error:
        _fail(str(error))
    _check_stages(output, resolved)
    typer.echo(describe(found, example, output))


@app.command()
def status(config: ConfigPath, settings: Settings = None) -> None:
    """For each stage: up to date / stale (and why) / not run, shards, records, duration,
    scratch on disk; then the scratch in total."""
    resolved = _load(config, _overrides(settings))
    _existing_workspace(resolved)
    typer.echo(format_status(_pipeline(resolved).status(resolved)))


def format_size(size: int) -> str:
    """Bytes in decimal units, e.g. 12.3 MB."""
    units, power, value = ("B", "kB", "MB", "GB", "TB"), 0, float(size)
    while value >= 1000 and power < len(units) - 1:
        value, power = value / 1000, power + 1
    return f"{size} B" if power == 0 else f"{value:.1f} {units[power]}"


def format_status(report) -> str:
    lines = [f"{'stage':<18} {'state':<11} {'shards':>9} {'records in':>11} "
             f"{'records out':>11} {'time s':>8} {'scratch':>9}"]
    for item in report:
        shards = f"{item.shards_done}/{item.shards_total}" if item.shards_total is not None \
            else (str(item.shards_done) if item.shards_done else "-")
        numbers = [f"{value:,}" if value is not None else "-"
                   for value in (item.records_in, item.records_out)]
        wall = f"{item.wall_s:.1f}" if item.wall_s is not None else "-"
        scratch = format_size(item.scratch_bytes) if item.scratch_bytes else "-"
        lines.append(f"{item.name:<18} {item.state:<11} {shards:>9} {numbers[0]:>11} "
                     f"{numbers[1]:>11} {wall:>8} {scratch:>9}")
        lines += [f"    {reason}" for reason in item.reasons]
    # Scratch left on disk: an unfinished stage's (a resumed run reuses it) or kept ones.
    lines.append(f"scratch in total: {format_size(sum(i.scratch_bytes for i in report))}")
    return "\n".join(lines)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                               **HELP})
def train(
    command: typer.Context,
    config: ConfigPath,
    settings: Settings = None,
    model: Annotated[str, typer.Option(
        help="open_clip model name, or the path of a model-config JSON.")] = "ViT-B-32",
    pretrained: Annotated[str | None, typer.Option(
        help="open_clip pretrained tag or checkpoint to start from.")] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the training shards.")] = 1,
    batch_size: Annotated[int, typer.Option(min=1, help="Samples per training step.")] = 256,
    lr: Annotated[float, typer.Option(min=0, help="Peak learning rate (AdamW).")] = 5e-4,
    warmup: Annotated[int, typer.Option(min=0, help="Warm-up steps.")] = 100,
    val_shards: Annotated[int, typer.Option(
        min=0, help="Last shards held out for open_clip's evaluation (0: none).")] = 1,
    workers: LoaderWorkers = 2,
    device: Annotated[str | None, typer.Option(help="cpu | cuda (default: open_clip's).")
                      ] = None,
    name: Annotated[str, typer.Option(help="Run name: <workspace>/train/NAME.")] = "realsyn",
    texts: Annotated[str, typer.Option(
        help="Texts a step draws from, per sample: random4 (text1..3 and syn_text, the "
             "paper's), real3, text1 or syn.")] = "random4",
    precision: Annotated[str | None, typer.Option(
        help="open_clip precision: amp, amp_bf16, bf16, fp16, pure_bf16, pure_fp16, fp32 "
             "(default: fp32 on the CPU, amp elsewhere).")] = None,
    shards: Annotated[Path | None, typer.Option(
        help="Another WebDataset folder with sizes.json (default: <workspace>/output/shards)."
    )] = None,
) -> None:
    """Train a CLIP on the written shards with open_clip's trainer and report its evaluation.

    Arguments after the options (e.g. `-- --precision amp --imagenet-val DIR`) go to
    open_clip_train unchanged. A rerun resumes from the latest checkpoint."""
    from realsyn.train import TrainError, TrainOptions
    from realsyn.train import train as run_training

    options = TrainOptions(model=model, pretrained=pretrained, epochs=epochs,
                           batch_size=batch_size, lr=lr, warmup=warmup, val_shards=val_shards,
                           workers=workers, device=device, name=name, texts=texts,
                           precision=precision, shards=shards,
                           extra=[arg for arg in command.args if arg != "--"])
    try:
        summary = run_training(_existing_workspace(_load(config, _overrides(settings))),
                               options)
    except TrainError as error:
        _fail(str(error))
    metrics = summary["metrics"]
    typer.echo(f"trained {summary['model']} on {summary['train_samples']} samples "
               f"(texts: {summary['texts']}); checkpoint: {summary['checkpoint']}")
    for key in sorted(metrics):
        typer.echo(f"  {key}: {metrics[key]:.4g}" if isinstance(metrics[key], float)
                   else f"  {key}: {metrics[key]}")


@app.command()
def stats(config: ConfigPath, settings: Settings = None) -> None:
    """Print the merged stats of every finished stage in the workspace."""
    resolved = _load(config, _overrides(settings))
    workspace = _existing_workspace(resolved)
    report = {name: workspace.stage_stats(name) for name in _pipeline(resolved).names
              if workspace.completed(name)}
    typer.echo(json.dumps(report, indent=2))


@app.command()
def report(config: ConfigPath, settings: Settings = None,
           samples: Annotated[int, typer.Option(min=0, help="Gallery size.")] = 24) -> None:
    """Write an HTML report (counters per stage, sample gallery) into the workspace."""
    from realsyn.report.html import write_report

    typer.echo(write_report(Workspace(_load(config, _overrides(settings)).workspace), samples))


@app.command("eval")
def eval_command(
    config: ConfigPath,
    dataset: Annotated[list[str], typer.Option(
        help="A CLIP_benchmark dataset name (with --dataset-root) or a local folder in "
             "CLIP_benchmark's WebDataset or torchvision's ImageFolder layout (repeatable).")],
    task: Annotated[list[str] | None, typer.Option(
        help="zeroshot_classification | zeroshot_retrieval | linear_probe (repeatable; "
             "default: every task each dataset supports).")] = None,
    dataset_root: Annotated[str | None, typer.Option(
        help="Root of CLIP_benchmark datasets; may contain {dataset}.")] = None,
    download: Annotated[bool, typer.Option(
        help="Let CLIP_benchmark download missing datasets.")] = False,
    checkpoint: Annotated[str | None, typer.Option(
        help="open_clip checkpoint file or pretrained tag (default: the last realsyn train's)."
    )] = None,
    model: Annotated[str | None, typer.Option(
        help="open_clip model name or model-config JSON (default: the last realsyn train's)."
    )] = None,
    device: Annotated[str | None, typer.Option(help="cpu | cuda (default: cuda if present).")
                      ] = None,
    precision: Annotated[str | None, typer.Option(
        help="amp | fp32 (default: amp on cuda, fp32 on the CPU).")] = None,
    batch_size: Annotated[int, typer.Option(
        min=1, help="Images per encoder batch.")] = 64,
    workers: Annotated[int, typer.Option(min=0, help="Data loader workers.")] = 0,
    settings: Settings = None,
) -> None:
    """Score an open_clip checkpoint with CLIP_benchmark (zero-shot classification, zero-shot
    retrieval, linear probe); rows go to <workspace>/report/eval.json."""
    from realsyn.evaluate import EvalError, EvalOptions, evaluate, format_rows

    options = EvalOptions(datasets=dataset, tasks=task or [], dataset_root=dataset_root,
                          download=download, checkpoint=checkpoint, model=model, device=device,
                          precision=precision, batch_size=batch_size, workers=workers)
    try:
        result = evaluate(Workspace(_load(config, _overrides(settings)).workspace), options)
    except EvalError as error:
        _fail(str(error))
    typer.echo(f"{result['model']} ({result['checkpoint']})")
    typer.echo(format_rows(result["rows"]))


@app.command()
def ablate(
    config: ConfigPath,
    settings: Settings = None,
    model: Annotated[str | None, typer.Option(
        help="open_clip model or model-config JSON (default: ViT-B-32 on a GPU, a tiny CLIP "
             "on the CPU).")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Default: 32 GPU, 4 CPU.")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Default: 256 GPU, 8 CPU.")
                          ] = None,
    lr: Annotated[float, typer.Option(min=0, help="Peak learning rate of every run.")] = 5e-4,
    warmup: Annotated[int | None, typer.Option(min=0, help="Warm-up steps.")] = None,
    val_shards: Annotated[int, typer.Option(
        min=1, help="Last shards held out (text1) to score every run on.")] = 1,
    workers: LoaderWorkers = 2,
    device: Annotated[str | None, typer.Option(help="cpu | cuda (default: cuda if present).")
                      ] = None,
    precision: Annotated[str | None, typer.Option(help="open_clip training precision.")
                         ] = None,
    dataset: Annotated[list[str] | None, typer.Option(
        help="Benchmarks for every run, as `realsyn eval --dataset` (default on the CPU: the "
             "offline photo set, built into <workspace>/ablate/eval-photos).")] = None,
    task: Annotated[list[str] | None, typer.Option(help="As `realsyn eval --task`.")] = None,
    dataset_root: Annotated[str | None, typer.Option(
        help="Root of CLIP_benchmark datasets; may contain {dataset}.")] = None,
) -> None:
    """Train the same CLIP on the same images with text1, real3, syn, random4 and a baseline
    without retrieval (nearest text of the image's document); print one comparison table."""
    from realsyn.ablate import CPU_PROFILE, AblateOptions, profile
    from realsyn.ablate import ablate as run_ablation
    from realsyn.ablate.runner import default_device
    from realsyn.evaluate import EvalError
    from realsyn.train import TrainError, TrainOptions

    workspace = Workspace(_load(config, _overrides(settings)).workspace)
    device = device or default_device()
    defaults = profile(device)
    on_cpu = defaults is CPU_PROFILE
    options = TrainOptions(model=model or defaults["model"],
                           epochs=epochs or defaults["epochs"],
                           batch_size=batch_size or defaults["batch_size"], lr=lr,
                           warmup=defaults["warmup"] if warmup is None else warmup,
                           val_shards=val_shards, workers=workers, device=device,
                           precision=precision)
    datasets = list(dataset or [])
    if not datasets and on_cpu:
        from realsyn.evaluate.photos import build

        try:
            photos = build(Path(workspace.root) / "ablate" / "eval-photos")
            datasets = [str(photos / "imagefolder"), str(photos / "wds_retrieval")]
        except ImportError as error:  # the photos ship in scikit-image / scikit-learn
            typer.echo(f"no offline photo set ({error}); scoring on the held-out pairs only")
    note = " (no GPU: a tiny CLIP; its numbers measure the plumbing)" if on_cpu else ""
    typer.echo(f"model {options.model}, {options.epochs} epochs, batch {options.batch_size}"
               + ("" if model else note))
    try:
        report = run_ablation(workspace, AblateOptions(
            train=options, datasets=datasets, tasks=task or [], dataset_root=dataset_root),
            echo=typer.echo)
    except (TrainError, EvalError) as error:
        _fail(str(error))
    typer.echo(report["table"])
    typer.echo(f"({report['seconds']:.0f} s; {workspace.path('report/ablate.json')})")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except WorkspaceError as error:  # read-only, unwritable, full: one line, no traceback
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        sys.exit(2)
