"""`realsyn eval` end to end: `realsyn train` writes a checkpoint, `realsyn eval` scores it with
CLIP_benchmark on real photos (built by scripts/build_eval_photos.py) in three layouts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from train_helpers import tiny_model_and_config, write_shards
from typer.testing import CliRunner

from realsyn.cli import app
from realsyn.evaluate import REPORT_PATH
from realsyn.workspace import Workspace

open_clip = pytest.importorskip("open_clip")
pytest.importorskip("open_clip_train.main")
pytest.importorskip("clip_benchmark")
torch = pytest.importorskip("torch")

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_eval_photos.py"
CLASSIFICATION_METRICS = {("zeroshot_classification", m) for m in
                          ("acc1", "acc5", "mean_per_class_recall")} | {
    ("linear_probe", m) for m in ("lp_acc1", "lp_acc5", "lp_mean_per_class_recall")}
RETRIEVAL_METRICS = {("zeroshot_retrieval", f"{side}_retrieval_recall@{k}")
                     for side in ("image", "text") for k in (1, 5, 10)}


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    out = tmp_path_factory.mktemp("photos")
    subprocess.run([sys.executable, str(SCRIPT), str(out)], check=True, capture_output=True)
    # one template: the zero-shot accuracy can then be recomputed by hand below, and both
    # classification layouts must agree
    (out / "imagefolder" / "zeroshot_classification_templates.txt").write_text(
        "a photo of a {c}.\n")
    (out / "wds_classification" / "zeroshot_classification_templates.txt").write_text(
        "a photo of a {c}.\n")
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A workspace with shards, and a tiny CLIP trained on them by `realsyn train`."""
    root = tmp_path_factory.mktemp("eval-ws")
    write_shards(root / "ws" / "output" / "shards", shards=3, per_shard=12)
    model, config = tiny_model_and_config(root, "tiny-eval-clip", root / "ws")
    result = CliRunner().invoke(app, [
        "train", str(config), "--model", str(model), "--epochs", "1", "--batch-size", "8",
        "--warmup", "1", "--device", "cpu", "--name", "tiny"])
    assert result.exit_code == 0, result.output
    return config, Workspace(str(root / "ws")), model


def _zero_shot_acc1_by_hand(checkpoint: str, model_config: Path, folder: Path) -> float:
    """Encode every test photo and "a photo of a {class}." with the checkpoint, pick the
    nearest class: the number CLIP_benchmark must report for this one-template set."""
    from PIL import Image

    open_clip.add_model_config(model_config)
    model, _, preprocess = open_clip.create_model_and_transforms(
        model_config.stem, pretrained=checkpoint)
    model.eval()
    tokenizer = open_clip.get_tokenizer(model_config.stem)
    classes = sorted(path.name for path in (folder / "test").iterdir())
    with torch.no_grad():
        text = model.encode_text(tokenizer([f"a photo of a {c.replace('_', ' ')}."
                                            for c in classes]))
        text = text / text.norm(dim=-1, keepdim=True)
        correct = total = 0
        for label, name in enumerate(classes):
            for path in sorted((folder / "test" / name).glob("*.jpg")):
                image = model.encode_image(preprocess(Image.open(path)).unsqueeze(0))
                correct += int((image @ text.T).argmax().item() == label)
                total += 1
    return correct / total


def test_eval_scores_the_trained_checkpoint_on_real_photos(trained, photos):
    config, workspace, model_config = trained
    folders = {name: str(photos / name) for name in
               ("imagefolder", "wds_classification", "wds_retrieval")}
    result = CliRunner().invoke(app, ["eval", str(config), "--device", "cpu",
                                      *(arg for f in folders.values() for arg in
                                        ("--dataset", f))])
    assert result.exit_code == 0, result.output
    report = workspace.read_json(REPORT_PATH)
    checkpoint = workspace.read_json("report/train.json")["checkpoint"]
    assert set(report) == {"checkpoint", "model", "rows"}
    assert report["checkpoint"] == checkpoint and report["model"] == "tiny-eval-clip"
    rows = {(row["dataset"], row["task"], row["metric"]): row["value"] for row in report["rows"]}
    assert len(rows) == len(report["rows"])  # one row per dataset and metric
    assert {key[1:] for key in rows if key[0] == folders["imagefolder"]} == (
        CLASSIFICATION_METRICS)
    assert {key[1:] for key in rows if key[0] == folders["wds_retrieval"]} == RETRIEVAL_METRICS
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in rows.values())
    for side in ("image", "text"):
        recalls = [rows[folders["wds_retrieval"], "zeroshot_retrieval",
                        f"{side}_retrieval_recall@{k}"] for k in (1, 5, 10)]
        assert recalls == sorted(recalls)

    acc1 = _zero_shot_acc1_by_hand(checkpoint, model_config, photos / "imagefolder")
    for layout in ("imagefolder", "wds_classification"):  # same photos, same classes
        assert rows[folders[layout], "zeroshot_classification", "acc1"] == pytest.approx(acc1)
    # 7 photos, 4 training crops of each: a linear probe on any image features does better
    # than chance (1/7)
    assert rows[folders["imagefolder"], "linear_probe", "lp_acc1"] > 2 / 7
    assert "lp_acc1" in result.output and "tiny-eval-clip" in result.output


def test_eval_runs_only_the_tasks_asked_for(trained, photos):
    config, workspace, _ = trained
    result = CliRunner().invoke(app, ["eval", str(config), "--device", "cpu", "--dataset",
                                      str(photos / "imagefolder"), "--task", "linear_probe"])
    assert result.exit_code == 0, result.output
    assert {row["task"] for row in workspace.read_json(REPORT_PATH)["rows"]} == {
        "linear_probe"}


@pytest.mark.parametrize(("arguments", "message"), [
    (["--dataset", "cifar10"], "--dataset cifar10: a CLIP_benchmark dataset needs "
                               "--dataset-root"),
    (["--dataset", "cifar10", "--dataset-root", "{missing}"], "--dataset cifar10: cannot read"),
    (["--dataset", "RETRIEVAL", "--task", "linear_probe"], "--task linear_probe: none of them"),
    (["--dataset", "RETRIEVAL", "--task", "captioning"], "--task captioning: choose among"),
    (["--dataset", "EMPTY"], "neither CLIP_benchmark's WebDataset layout"),
    (["--dataset", "RETRIEVAL", "--checkpoint", "missing.pt"], "--checkpoint missing.pt"),
    (["--dataset", "RETRIEVAL", "--precision", "fp8"], "--precision fp8"),
])
def test_eval_errors_name_the_option(trained, photos, tmp_path, arguments, message):
    config, _, _ = trained
    (tmp_path / "empty").mkdir()
    replace = {"RETRIEVAL": str(photos / "wds_retrieval"), "EMPTY": str(tmp_path / "empty"),
               "{missing}": str(tmp_path / "no-such-root")}
    result = CliRunner().invoke(app, ["eval", str(config), "--device", "cpu",
                                      *(replace.get(arg, arg) for arg in arguments)])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_eval_needs_a_checkpoint_when_nothing_was_trained(photos, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(f"workspace: {tmp_path / 'ws'}\n")
    result = CliRunner().invoke(app, ["eval", str(config), "--dataset",
                                      str(photos / "imagefolder")])
    assert result.exit_code == 2
    assert "--checkpoint: none given and `realsyn train` has not written one" in result.output


def test_cuda_without_a_gpu_is_refused(trained, photos):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    config, _, _ = trained
    result = CliRunner().invoke(app, ["eval", str(config), "--device", "cuda", "--dataset",
                                      str(photos / "imagefolder")])
    assert result.exit_code == 2 and "--device cuda: torch sees no CUDA device" in result.output
