"""`realsyn train` on real-photo shards: the text choice reaches open_clip's trainer and the
report, and open_clip's preconditions are checked before it starts."""

from __future__ import annotations

import json

import pytest
from train_helpers import write_shards

from realsyn.train import REPORT_PATH, TrainError, TrainOptions, plan_training, train
from realsyn.train.preflight import check_device, check_run_folder, loader_workers
from realsyn.workspace import Workspace
from tiny_open_clip import TINY_OPEN_CLIP

pytest.importorskip("open_clip_train.main")
chisquare = pytest.importorskip("scipy.stats").chisquare


@pytest.fixture
def workspace(tmp_path):
    write_shards(tmp_path / "ws" / "output" / "shards", shards=5, per_shard=12)
    return Workspace(str(tmp_path / "ws"))


@pytest.fixture
def tiny_model(tmp_path):
    path = tmp_path / "tiny-texts-clip.json"
    path.write_text(json.dumps(TINY_OPEN_CLIP))
    return str(path)


def _options(tiny_model: str, **changes) -> TrainOptions:
    return TrainOptions(**{"model": tiny_model, "epochs": 3, "batch_size": 8, "warmup": 1,
                           "device": "cpu", "name": "tiny", **changes})


def test_training_draws_one_of_four_texts_per_step_and_reports_it(workspace, tiny_model):
    summary = train(workspace, _options(tiny_model))  # random4, the default; 2 loader workers
    assert summary["texts"] == "random4" and summary["workers"] == 2
    assert summary["precision"] == "fp32" and summary["checkpoint"].endswith("epoch_3.pt")
    counts = summary["text_counts"]
    drawn = [counts[field] for field in ("text1", "text2", "text3", "syn_text")]
    # 48 training samples x 3 epochs, counted in the loader worker processes
    assert sum(drawn) >= 3 * 48 and counts["caption"] == 0
    assert chisquare(drawn).pvalue > 0.001, counts
    assert workspace.read_json(REPORT_PATH)["text_counts"] == counts
    assert summary["metrics"]["num_samples"] == summary["val_samples"] == 12


def test_syn_only_training_draws_syn_text(workspace, tiny_model):
    summary = train(workspace, _options(tiny_model, texts="syn", epochs=1, name="syn"))
    assert {k for k, n in summary["text_counts"].items() if n} == {"syn_text"}


def test_loader_workers_never_exceed_what_the_shards_feed():
    assert loader_workers(2, [25], 8) == 1  # one training shard: the demo's case
    assert loader_workers(4, [10, 10, 10, 10], 8) == 4
    assert loader_workers(4, [10, 10, 10, 10], 16) == 2  # each worker needs a full batch
    assert loader_workers(4, [3, 3, 30], 16) == 1
    assert loader_workers(2, [10, 10], 15) == 1  # one worker reads every shard
    assert loader_workers(0, [10], 8) == 0  # 0: load in the training process, as asked
    with pytest.raises(TrainError, match="--batch-size 64 is larger than the 20"):
        loader_workers(2, [10, 10], 64)


def test_preconditions_fail_before_open_clip_starts(workspace, tiny_model, tmp_path):
    plan = plan_training(workspace, _options(tiny_model, workers=8))
    assert plan.workers == 4  # 4 training shards (one held out)
    with pytest.raises(TrainError, match="--batch-size 500"):
        plan_training(workspace, _options(tiny_model, batch_size=500))
    with pytest.raises(TrainError, match="--texts all"):
        plan_training(workspace, _options(tiny_model, texts="all"))
    with pytest.raises(TrainError, match="--workers after `--`"):
        plan_training(workspace, _options(tiny_model, extra=["--workers", "9"]))
    with pytest.raises(TrainError, match="--model RN-tiny"):
        train(workspace, _options("RN-tiny"))
    with pytest.raises(TrainError, match="--precision fp16: half precision needs --device"):
        check_device("cpu", "fp16")
    with pytest.raises(TrainError, match="--precision fp64"):
        check_device("cpu", "fp64")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "params.txt").write_text("lr: 0.1\nmodel: ViT-B-32\n")
    with pytest.raises(TrainError, match=r"--name run: .* holds a run of model ViT-B-32"):
        check_run_folder(tmp_path / "run", "tiny-texts-clip")


def test_cuda_is_refused_where_torch_sees_none():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        check_device("cuda", "amp")
    else:
        with pytest.raises(TrainError, match="--device cuda: torch sees no CUDA device"):
            check_device("cuda", "amp")
