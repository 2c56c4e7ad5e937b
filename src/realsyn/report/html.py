"""A self-contained HTML report of a workspace: per-stage counters and a gallery of samples."""

from __future__ import annotations

import base64
import html
import io
import json

from PIL import Image

from realsyn.pipeline import STAGES
from realsyn.workspace import Workspace

# The datasets whose rows make the gallery, latest pipeline step first.
GALLERY_SOURCES = ("balanced", "generated", "retrieved")
TEXT_COLUMNS = ("text1", "text2", "text3", "syn_text", "caption")


def _thumbnail(data: bytes | None, side: int = 224) -> str:
    if not data:
        return ""
    try:
        image = Image.open(io.BytesIO(data))
        image.thumbnail((side, side))
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=80)
    except Exception:  # an undecodable image only loses its thumbnail
        return ""
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f'<img src="data:image/jpeg;base64,{encoded}">'


def _stats_table(workspace: Workspace) -> str:
    rows = []
    for stage in STAGES:
        stats = workspace.stage_stats(stage)
        if not stats:
            continue
        cells = "<br>".join(f"{html.escape(k)}: {v:,}" for k, v in stats.items())
        rows.append(f"<tr><td>{stage}</td><td>{cells}</td></tr>")
    return "<table><tr><th>stage</th><th>counters</th></tr>" + "".join(rows) + "</table>"


def _image_bytes(workspace: Workspace, wanted: set[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for dataset in ("images_final", "images_dedup", "images_filtered", "images"):
        if not workspace.shards(dataset):
            continue
        for _, table in workspace.iter_tables(dataset, ["image_id", "bytes"]):
            for image_id, data in zip(table.column("image_id").to_pylist(),
                                      table.column("bytes").to_pylist(), strict=True):
                if image_id in wanted:
                    found[image_id] = data
        return found
    return found


def _gallery(workspace: Workspace, limit: int) -> str:
    for dataset in GALLERY_SOURCES:
        if workspace.shards(dataset):
            rows = workspace.read_dataset(dataset).slice(0, limit).to_pylist()
            break
    else:
        return "<p>No retrieved samples yet.</p>"
    images = _image_bytes(workspace, {row["image_id"] for row in rows})
    cards = []
    for row in rows:
        texts = "".join(
            f"<p><b>{name}</b> {html.escape(str(row[name]))}"
            + (f" <i>({row.get('score' + name[-1]):.3f})</i>"
               if name[-1].isdigit() and row.get("score" + name[-1]) is not None else "")
            + "</p>"
            for name in TEXT_COLUMNS if row.get(name))
        cards.append(f'<div class="card">{_thumbnail(images.get(row["image_id"]))}{texts}</div>')
    return f"<h2>Samples from <code>{dataset}</code></h2>" + "".join(cards)


STYLE = """body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.4em;vertical-align:top}
.card{display:inline-block;width:300px;vertical-align:top;margin:.5em;padding:.5em;
border:1px solid #ddd}.card img{max-width:100%}.card p{font-size:.85em;margin:.3em 0}"""


def _training(workspace: Workspace) -> str:
    """The evaluation of the last `realsyn train` run on held-out shards, if there was one."""
    summary = workspace.read_json("report/train.json")
    if not summary:
        return ""
    rows = "".join(f"<tr><td>{html.escape(key)}</td><td>{value:.4g}</td></tr>"
                   if isinstance(value, float) else
                   f"<tr><td>{html.escape(key)}</td><td>{html.escape(str(value))}</td></tr>"
                   for key, value in sorted(summary.get("metrics", {}).items()))
    return (f"<h2>CLIP trained on the output</h2><p>{html.escape(str(summary['model']))}, "
            f"{summary['epochs']} epoch(s) on {summary['train_samples']} samples, evaluated "
            f"on {summary['val_samples']} held-out samples (open_clip_train); checkpoint "
            f"<code>{html.escape(str(summary['checkpoint']))}</code></p><table>{rows}</table>")


def write_report(workspace: Workspace, limit: int = 24) -> str:
    """Write report/index.html into the workspace and return its path."""
    funnel = workspace.read_json("report/funnel.json")
    funnel_html = (f"<h2>Funnel</h2><pre>{html.escape(json.dumps(funnel, indent=2))}</pre>"
                   if funnel else "")
    page = (f"<!doctype html><meta charset='utf-8'><title>realsyn report</title>"
            f"<style>{STYLE}</style><h1>realsyn report</h1>"
            f"<p>workspace: <code>{html.escape(workspace.url)}</code></p>{funnel_html}"
            f"<h2>Stages</h2>{_stats_table(workspace)}{_training(workspace)}"
            f"{_gallery(workspace, limit)}")
    workspace.write_bytes("report/index.html", page.encode())
    return workspace.path("report/index.html")
