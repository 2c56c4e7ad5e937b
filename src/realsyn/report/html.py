"""The run report: one self-contained HTML page (plots and thumbnails inlined as data URIs, no
script or style from elsewhere), rendered from templates/report.html with jinja2."""

from __future__ import annotations

import base64
import io
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from realsyn.embed.decode import try_decode_image
from realsyn.report import data, plots
from realsyn.workspace import Workspace

REPORT_PATH = "report/index.html"
PAGE_SIZE = 12  # gallery cards per page


def thumbnail(image: bytes | None, side: int = 224) -> str | None:
    """A JPEG data URI of the image, or None when it cannot be decoded."""
    # The pipeline's own decoder (EXIF orientation, alpha on white): what the models saw.
    picture, _ = try_decode_image(image, min_side=side)
    if picture is None:  # an undecodable image only loses its thumbnail
        return None
    picture.thumbnail((side, side))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def _share(stats: dict[str, Any], key: str) -> float | None:
    total = stats.get("records_in")
    return stats.get(key, 0) / total if total else None


def make_plots(report: dict[str, Any]) -> dict[str, str]:
    out = {}
    for kind, steps in (report["funnel_steps"] or {}).items():
        if steps:
            out[f"funnel_{kind}"] = plots.funnel(kind, steps)
    balance = report["balance"]
    if balance:
        stats = balance.get("stats", {})
        if balance.get("score_histogram"):
            out["scores"] = plots.score_histogram(
                balance["score_histogram"], balance["band"],
                below=_share(stats, "dropped_below_band"),
                above=_share(stats, "dropped_above_band"))
        before, after = balance.get("clusters_before", {}), balance.get("clusters_after", {})
        if before.get("rank_sizes"):
            out["clusters"] = plots.cluster_ranks(
                before["rank_sizes"], after.get("rank_sizes", []),
                before.get("entropy_bits", 0.0), after.get("entropy_bits", 0.0),
                balance.get("cap_t"))
    if any(row["wall_s"] for row in report["timings"]):
        out["timings"] = plots.stage_times(report["timings"])
    if report["retrieval"]:
        out["retrieval"] = plots.retrieval_scores(report["retrieval"]["scores"])
    return out


def render(report: dict[str, Any]) -> str:
    environment = Environment(loader=PackageLoader("realsyn.report", "templates"),
                              autoescape=select_autoescape(["html"]), trim_blocks=True,
                              lstrip_blocks=True)
    gallery = report["gallery"]
    images = {image_id: thumbnail(raw) for image_id, raw in gallery["images"].items()}
    return environment.get_template("report.html").render(
        **report, plots=make_plots(report), thumbnails=images, page_size=PAGE_SIZE)


def write_report(workspace: Workspace, limit: int = 48) -> str:
    """Write report/index.html into the workspace and return its path."""
    page = render(data.collect(workspace, limit))
    workspace.write_bytes(REPORT_PATH, page.encode())
    return workspace.path(REPORT_PATH)
