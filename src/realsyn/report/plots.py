"""Static plots of the report as SVG data URIs (matplotlib, no pyplot state, no display)."""

from __future__ import annotations

import base64
import io
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter

BLUE, GREY, RED, GREEN = "#3b6ea8", "#b8b8b8", "#c0392b", "#2e8b57"


def _uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def funnel(kind: str, steps: list[dict[str, Any]]) -> str:
    """Steps as ordered bars (top = first), and every drop reason with count and share."""
    reasons = [(f"{d['reason']} (→ {s['step']})", d["count"], d["share"])
               for s in steps for d in s["drops"]]
    figure = Figure(figsize=(10, 0.5 + 0.45 * max(len(steps), len(reasons), 2)))
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.3]})
    names = [s["step"].replace("_", " ") for s in steps]
    counts = [s["count"] for s in steps]
    bars = left.barh(range(len(steps)), counts, color=BLUE)
    left.set_yticks(range(len(steps)), names)
    left.invert_yaxis()
    left.bar_label(bars, labels=[f"{c:,} ({s['share']:.0%})" for c, s in zip(counts, steps,
                                                                             strict=True)],
                   padding=3, fontsize=8)
    left.set_title(f"{kind}: kept at each step")
    left.margins(x=0.35)
    if reasons:
        bars = right.barh(range(len(reasons)), [r[1] for r in reasons], color=RED)
        right.set_yticks(range(len(reasons)), [r[0] for r in reasons], fontsize=8)
        right.invert_yaxis()
        right.bar_label(bars, labels=[f"{r[1]:,} ({r[2]:.1%})" for r in reasons], padding=3,
                        fontsize=8)
        right.margins(x=0.35)
    else:
        right.text(0.5, 0.5, "no drops", ha="center", va="center")
        right.set_yticks([])
    right.set_title(f"{kind}: dropped, by reason (share of extracted)")
    figure.tight_layout()
    return _uri(figure)


def score_histogram(histogram: list[list[float]], band: list[float], width: float = 0.02,
                    below: float | None = None, above: float | None = None) -> str:
    """Bins of the image-text score with the balance band shaded and each side's drop share."""
    figure = Figure(figsize=(9, 3.6))
    axes = figure.subplots()
    low, high = band
    for start, count in histogram:
        inside = low <= start + width / 2 <= high
        axes.bar(start, count, width=width, align="edge", color=BLUE if inside else GREY,
                 edgecolor="white", linewidth=0.5)
    axes.axvspan(low, high, color=GREEN, alpha=0.12)
    for edge, share, side in ((low, below, "left"), (high, above, "right")):
        axes.axvline(edge, color=GREEN, linestyle="--")
        if share is not None:
            axes.annotate(f"{share:.1%} dropped", (edge, 1), xycoords=("data", "axes fraction"),
                          xytext=(-6 if side == "left" else 6, -14), textcoords="offset points",
                          ha="right" if side == "left" else "left", color=RED, fontsize=9)
    axes.set_xlabel("image-text cosine similarity")
    axes.set_ylabel("pairs")
    axes.set_title(f"score histogram, balance band [{low}, {high}]")
    return _uri(figure)


def cluster_ranks(before: list[list[int]], after: list[list[int]], entropy_before: float,
                  entropy_after: float, cap: int | None) -> str:
    """Cluster size by rank (log-log), before and after the per-cluster cap."""
    figure = Figure(figsize=(7, 3.8))
    axes = figure.subplots()
    for points, label, color in ((before, f"before cap (entropy {entropy_before:.2f} bits)", GREY),
                                 (after, f"after cap (entropy {entropy_after:.2f} bits)", BLUE)):
        if points:
            axes.plot([p[0] for p in points], [p[1] for p in points], marker=".", label=label,
                      color=color)
    if cap:
        axes.axhline(cap, color=RED, linestyle=":", label=f"cap t = {cap}")
    axes.set_xscale("log")
    axes.set_yscale("log")
    for axis in (axes.xaxis, axes.yaxis):  # plain numbers, not powers of ten
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("cluster rank (largest first)")
    axes.set_ylabel("images in cluster")
    axes.legend(fontsize=8)
    axes.set_title("cluster sizes before and after the cap")
    return _uri(figure)


def retrieval_scores(scores: dict[str, list[float]]) -> str:
    figure = Figure(figsize=(7, 3.4))
    axes = figure.subplots()
    values = [v for v in scores.values() if v]
    if values:
        bins = int(min(30, max(5, max(len(v) for v in values) // 4)))
        axes.hist([scores[name] for name in scores], bins=bins, label=list(scores),
                  histtype="step", linewidth=1.5)
        axes.legend(fontsize=8)
    axes.set_xlabel("image-sentence cosine")
    axes.set_ylabel("images")
    axes.set_title("retrieval scores (text1 = best)")
    return _uri(figure)


def stage_times(rows: list[dict[str, Any]]) -> str:
    timed = [row for row in rows if row["wall_s"] is not None]
    figure = Figure(figsize=(7, 0.6 + 0.35 * max(len(timed), 2)))
    axes = figure.subplots()
    bars = axes.barh(range(len(timed)), [row["wall_s"] for row in timed], color=BLUE)
    axes.set_yticks(range(len(timed)), [row["stage"] for row in timed])
    axes.invert_yaxis()
    axes.bar_label(bars, labels=[f"{row['wall_s']:.1f} s" for row in timed], padding=3,
                   fontsize=8)
    axes.margins(x=0.2)
    axes.set_xlabel("wall time (s)")
    axes.set_title("time per stage")
    return _uri(figure)
