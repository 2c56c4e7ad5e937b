"""`realsyn ablate`: the no-retrieval baseline and the five-run comparison table."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from train_helpers import tiny_model_and_config, write_shards
from typer.testing import CliRunner

from realsyn.ablate.baseline import nearest_text, read_samples, write_baseline_shards
from realsyn.cli import app
from realsyn.evaluate.photos import build as build_photos
from realsyn.workspace import Workspace

pytest.importorskip("open_clip_train.main")
pytest.importorskip("clip_benchmark")


def _workspace_with_documents(root, docs_without_text=()):
    """Shards of 36 samples (12 documents, images at positions 1, 3, 5) and the documents'
    text items at positions 0, 2, 4 (and 6 in even documents)."""
    write_shards(root / "output" / "shards", shards=3, per_shard=12)
    workspace = Workspace(str(root))
    rows = [(f"doc{d}", p, f"Item {p} of document {d}.") for d in range(12)
            if d not in docs_without_text for p in ((0, 2, 4, 6) if d % 2 == 0 else (0, 2, 4))]
    workspace.write_table("texts", "00000", pa.table({
        "text_id": [f"t{i}" for i in range(len(rows))], "doc_id": [r[0] for r in rows],
        "position": pa.array([r[1] for r in rows], pa.int32()), "text": [r[2] for r in rows]}))
    return workspace


def test_nearest_text_item_breaks_ties_towards_the_following_item():
    items = [(0, "a"), (4, "b"), (10, "c")]
    assert nearest_text(items, 1) == "a"
    assert nearest_text(items, 2) == "b"  # 2 from both: the item after the image
    assert nearest_text(items, 7) == "c"
    assert nearest_text(items, 12) == "c"
    assert nearest_text([], 3) is None


def test_baseline_shards_keep_the_images_and_pair_them_with_their_document(tmp_path):
    workspace = _workspace_with_documents(tmp_path / "ws", docs_without_text={5})
    shards = tmp_path / "ws" / "output" / "shards"
    stats = write_baseline_shards(workspace, shards, tmp_path / "baseline")
    assert stats == {"records_in": 36, "records_out": 33, "dropped_no_text_in_document": 3}
    assert json.loads((tmp_path / "baseline" / "sizes.json").read_text()) == {
        "00000.tar": 12, "00001.tar": 9, "00002.tar": 12}
    source = {s["__key__"]: s for path in sorted(shards.glob("*.tar"))
              for s in read_samples(path)}
    for sample in read_samples(tmp_path / "baseline" / "00000.tar"):
        original = source[sample["__key__"]]
        meta = json.loads(original["json"])
        assert sample["jpg"] == original["jpg"]  # the same image, untouched
        # images at 1, 3, 5; items at 0, 2, 4 (and 6 in even documents): the item after the
        # image when there is one, as near as the one before
        document = int(meta["doc_id"][3:])
        after = meta["position"] + 1
        item = after if after <= (6 if document % 2 == 0 else 4) else after - 2
        expected = f"Item {item} of document {document}."
        assert sample["txt"].decode() == expected == json.loads(sample["json"])["text1"]


def test_ablate_trains_five_runs_and_prints_one_table(tmp_path):
    workspace = _workspace_with_documents(tmp_path / "ws")
    photos = build_photos(tmp_path / "photos", train_views=2, test_views=1)
    model, config = tiny_model_and_config(tmp_path, "tiny-ablate-clip", workspace.root)
    result = CliRunner().invoke(app, [
        "ablate", str(config), "--model", str(model), "--epochs", "1", "--batch-size", "8",
        "--device", "cpu", "--dataset", str(photos / "imagefolder"),
        "--task", "zeroshot_classification"])
    assert result.exit_code == 0, result.output
    report = workspace.read_json("report/ablate.json")
    labels = ["baseline (no retrieval)", "text1", "real3 (text1-3)", "syn", "random4 (RealSyn)"]
    assert [row["variant"] for row in report["rows"]] == labels
    table = result.output[result.output.index("texts "):].splitlines()
    assert [line.split(" | ")[0].strip() for line in table[2:7]] == labels
    assert "zero-shot acc1" in table[0] and "held-out I2T R@1" in table[0]
    for row in report["rows"]:
        assert row["train_samples"] == 24  # the same images: the first two shards
        assert set(row["scores"]) == {"held-out I2T R@1", "held-out T2I R@1", "zero-shot acc1"}
        assert all(0 <= value <= 100 for value in row["scores"].values())
    runs = tmp_path / "ws" / "ablate" / "runs"
    drawn = {name: {k for k, n in json.loads((runs / name / "text_counts.json").read_text())
                    .items() if n} for name in ("baseline", "text1", "real3", "syn", "random4")}
    assert drawn == {"baseline": {"text1"}, "text1": {"text1"},
                     "real3": {"text1", "text2", "text3"}, "syn": {"syn_text"},
                     "random4": {"text1", "text2", "text3", "syn_text"}}
    # every run is scored on the same held-out pairs: the written last shard, text1
    for name in drawn:
        params = (runs / name / "params.txt").read_text()
        assert f"val_data: {tmp_path / 'ws' / 'output' / 'shards' / '00002.tar'}" in params
