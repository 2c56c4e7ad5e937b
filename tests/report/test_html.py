import io
from pathlib import Path

import pyarrow as pa
from PIL import Image
from typer.testing import CliRunner

from realsyn.cli import app
from realsyn.report.html import write_report
from realsyn.workspace import Workspace


def _jpeg() -> bytes:
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.chelsea()).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_report_shows_counters_and_samples(tmp_path):
    workspace = Workspace(str(tmp_path / "ws"))
    workspace.mark_done("ingest", "00000", {"records_in": 2, "dropped_bad_html": 1})
    workspace.merge_stats("ingest")
    workspace.write_table("images_final", "00000", pa.table(
        {"image_id": ["a", "b"], "bytes": [_jpeg(), b"not an image"]}))
    workspace.write_table("retrieved", "00000", pa.table({
        "image_id": ["a", "b"], "text1": ["A cat <sits> on a mat.", "A boat."],
        "score1": [0.61, 0.42], "text2": ["x", "y"], "text3": ["z", "w"]}))
    path = write_report(workspace)
    page = Path(path).read_text()
    assert "dropped_bad_html: 1" in page
    assert "A cat &lt;sits&gt; on a mat." in page and "(0.610)" in page
    assert page.count("data:image/jpeg;base64") == 1  # the broken image only loses its thumbnail


def test_report_command(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(f"workspace: {tmp_path / 'ws'}\n")
    result = CliRunner().invoke(app, ["report", str(config)])
    assert result.exit_code == 0, result.output
    assert "No retrieved samples yet" in Path(result.output.strip()).read_text()


def test_report_shows_the_training_evaluation(tmp_path):
    workspace = Workspace(str(tmp_path / "ws"))
    assert "CLIP trained" not in Path(write_report(workspace)).read_text()
    workspace.write_json("report/train.json", {
        "model": "ViT-B-32", "epochs": 2, "train_samples": 900, "val_samples": 100,
        "checkpoint": "/ws/train/realsyn/checkpoints/epoch_2.pt",
        "metrics": {"image_to_text_R@1": 0.125, "epoch": 2}})
    page = Path(write_report(workspace)).read_text()
    assert "CLIP trained on the output" in page and "900 samples" in page
    assert "<td>image_to_text_R@1</td><td>0.125</td>" in page and "epoch_2.pt" in page
