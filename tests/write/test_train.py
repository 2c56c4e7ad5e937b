"""`realsyn train`: open_clip's own trainer on the written shards, evaluated on held-out ones."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner
from write_helpers import build_generated_workspace

from realsyn.balance.stage import BalanceStage
from realsyn.cli import app
from realsyn.executors.local import LocalExecutor
from realsyn.train import REPORT_PATH, TrainError, TrainOptions, plan_training, train
from realsyn.write.stage import WriteStage
from tiny_open_clip import TINY_OPEN_CLIP

pytest.importorskip("open_clip_train.main")


@pytest.fixture
def shards(make_context, material):
    ctx = make_context({"samples_per_shard": 4, "image_size": 64})
    build_generated_workspace(ctx.workspace, material)
    LocalExecutor(1).run(BalanceStage(), ctx)
    stats = LocalExecutor(1).run(WriteStage(), ctx)
    return ctx, stats["records_out"]


@pytest.fixture
def tiny_model(tmp_path):
    path = tmp_path / "tiny-train-clip.json"
    path.write_text(json.dumps(TINY_OPEN_CLIP))
    return str(path)


def _options(tiny_model: str, **changes) -> TrainOptions:
    return TrainOptions(**{"model": tiny_model, "epochs": 1, "batch_size": 4, "warmup": 1,
                           "workers": 0, "device": "cpu", "name": "tiny", **changes})


def test_plan_holds_out_the_last_shards(shards, tiny_model):
    ctx, written = shards
    plan = plan_training(ctx.workspace, _options(tiny_model, val_shards=2))
    assert plan.train_samples + plan.val_samples == written
    assert [path.name for path in plan.val_shards] == [
        path.name for path in sorted(plan.train_shards + plan.val_shards)[-2:]]
    arguments = dict(zip(plan.arguments[::2], plan.arguments[1::2], strict=False))
    assert arguments["--train-data"].split("::") == [str(p) for p in plan.train_shards]
    assert arguments["--val-num-samples"] == str(plan.val_samples)
    assert arguments["--model"] == "tiny-train-clip"


def test_training_writes_checkpoints_and_the_evaluation_and_resumes(shards, tiny_model):
    ctx, _ = shards
    root = logging.getLogger()
    handlers, torch_level = root.handlers[:], logging.getLogger("torch").level
    summary = train(ctx.workspace, _options(tiny_model))
    # open_clip sets up logging for its run; the caller's setup comes back afterwards
    assert root.handlers == handlers and logging.getLogger("torch").level == torch_level
    metrics = summary["metrics"]
    assert summary["checkpoint"].endswith("epoch_1.pt")
    assert metrics["num_samples"] == summary["val_samples"] > 0
    assert 0 <= metrics["image_to_text_R@1"] <= metrics["image_to_text_R@5"] <= 1
    assert metrics["clip_val_loss"] > 0
    assert ctx.workspace.read_json(REPORT_PATH)["checkpoint"] == summary["checkpoint"]

    again = train(ctx.workspace, _options(tiny_model, epochs=2))  # resumes at epoch 1
    assert again["checkpoint"].endswith("epoch_2.pt") and again["metrics"]["epoch"] == 2
    results = Path(ctx.workspace.root) / "train" / "tiny" / "checkpoints" / "results.jsonl"
    assert len(results.read_text().splitlines()) == 2  # one evaluation per epoch


def test_training_needs_shards_and_a_training_shard(make_context, shards, tiny_model):
    empty = make_context(name="empty")
    with pytest.raises(TrainError, match="run the write stage"):
        plan_training(empty.workspace, _options(tiny_model))
    ctx, _ = shards
    with pytest.raises(TrainError, match="--val-shards 99"):
        plan_training(ctx.workspace, _options(tiny_model, val_shards=99))


def test_cli_reports_a_missing_model_config(shards, tmp_path):
    ctx, _ = shards
    config = tmp_path / "config.yaml"
    config.write_text(f"workspace: {ctx.workspace.root}\n")
    result = CliRunner().invoke(app, ["train", str(config), "--model", "missing.json"])
    assert result.exit_code == 2
    assert "missing.json: no such model-config file" in result.output
