"""The report page in a real browser: headless Chromium (Debian's package, tests/chromium.py)
driven by Playwright. The screenshot is kept as an artefact under tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from chromium import launch_chromium
from realsyn.report.html import write_report

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@pytest.fixture(scope="module")
def browser():
    yield from launch_chromium()


def test_report_renders_in_chromium(browser, finished_workspace):
    _, workspace = finished_workspace
    page_path = Path(write_report(workspace))
    funnel = workspace.read_json("report/funnel.json")

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda message: problems.append(f"console {message.type}: "
                                                       f"{message.text}")
            if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
    page.goto(page_path.as_uri(), wait_until="load")

    assert problems == []
    images = page.eval_on_selector_all(
        "img", "all => all.map(i => ({id: i.id, alt: i.alt, complete: i.complete, "
               "width: i.naturalWidth, height: i.naturalHeight}))")
    assert len(images) > 10
    assert [i for i in images if not (i["complete"] and i["width"] > 0 and i["height"] > 0)] == []
    plots = {i["id"] for i in images if i["id"].startswith("plot-")}
    assert plots == {"plot-funnel-images", "plot-funnel-sentences", "plot-scores",
                     "plot-clusters", "plot-timings", "plot-retrieval"}

    shown = page.eval_on_selector_all(
        ".funnel-count", "cells => cells.map(c => [c.dataset.kind, c.dataset.step, "
                         "c.textContent.trim()])")
    in_page = {(kind, step): int(text) for kind, step, text in shown}
    expected = {(kind, step): count for kind in ("images", "sentences")
                for step, count in funnel[kind].items() if step != "after_dedup"}
    assert in_page == expected
    drops = page.eval_on_selector_all(
        ".funnel-drop", "spans => spans.map(s => [s.dataset.kind, s.dataset.reason, "
                        "s.dataset.count])")
    assert {(k, r): int(c) for k, r, c in drops} == {
        **{("images", r): c for r, c in funnel["image_drops"].items()},
        **{("sentences", r): c for r, c in funnel["sentence_drops"].items()}}

    # The gallery is paged: 12 cards visible, the next page shows the rest.
    visible = "els => els.filter(e => e.offsetParent !== null).length"
    assert page.eval_on_selector_all("#gallery-cards .card", visible) == 12
    page.click(".pager[data-target=gallery-cards] button:has-text('next')")
    assert page.eval_on_selector_all("#gallery-cards .card", visible) == 8
    assert page.eval_on_selector_all("#dropped-cards .card", visible) > 0

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "report.png"
    page.click(".pager[data-target=gallery-cards] button:has-text('previous')")
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"screenshot: {screenshot}")
    assert screenshot.stat().st_size > 50_000
    # The README's picture (docs/images/report.png is a copy): the first screen of the page,
    # halved and reduced to a palette so that it stays small in the repository.
    top = ARTIFACTS / "report-top.png"
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(top))
    with Image.open(top) as shot:
        small = shot.convert("RGB").resize((shot.width // 2, shot.height // 2), Image.LANCZOS)
        small.quantize(colors=128).save(top, optimize=True)
    assert 10_000 < top.stat().st_size < 250_000
    page.close()
