"""Silent loss made visible (issue 31): a page whose source holds visible text that the reader
removed (emptied, or far more removed than kept) is counted apart, listed with its source in
the funnel and the run report, and warned about in the funnel's closing lines."""

from __future__ import annotations

from pathlib import Path

from realsyn.extract import funnel
from realsyn.report.html import write_report

from .helpers import run_ingest

PROSE = ("<p>The lighthouse keeper climbed the spiral stairs every evening at dusk and lit "
         "the great lamp, whose beam swept across the dark water for twenty miles.</p>")


def _page(body: str) -> str:
    return f"<!doctype html><html><head><title>t</title></head><body>{body}</body></html>"


def write_site(folder: Path) -> None:
    folder.mkdir(parents=True)
    # All of its prose sits inside <nav>: the reader removes it, a browser shows it.
    (folder / "emptied.html").write_text(_page(f"<nav>{PROSE * 12}</nav>"))
    # A page-level footer many times longer than the article.
    (folder / "mostly.html").write_text(_page(f"<main>{PROSE}</main><footer>{PROSE * 12}"
                                              "</footer>"))
    # Ordinary pages: prose with a little chrome, and a short index of links.
    (folder / "fine.html").write_text(_page(f"<nav><a href='/'>Home</a></nav><main>{PROSE * 3}"
                                            "</main>"))
    (folder / "index.html").write_text(_page("<nav>" + "<a href='x'>A page</a>" * 20
                                             + "</nav>"))


def test_pages_losing_visible_text_are_counted_listed_and_reported(tmp_path):
    write_site(tmp_path / "site")
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(tmp_path / "site"),
                                                     "format": "html"}])
    assert stats["documents_dropped_empty_with_visible_text"] == 1
    assert stats["documents_mostly_removed"] == 1
    assert stats["documents_dropped_empty"] == 2  # the emptied page and the index of links

    loss = funnel.build(workspace)["text_loss"]
    assert [page["source"] for page in loss["pages"]] == ["emptied.html", "mostly.html"]
    emptied, mostly = loss["pages"]
    assert emptied["words_kept"] == 0 and emptied["words_removed"] >= 12 * 20
    assert 0 < 3 * mostly["words_kept"] < mostly["words_removed"]

    closing = funnel.format_funnel(funnel.build(workspace))
    assert "WARNING: 1 pages emptied and 1 mostly removed" in closing
    assert "emptied.html" in closing

    funnel.store(workspace)
    page = Path(write_report(workspace)).read_text()
    assert 'id="text-loss"' in page and "mostly.html" in page and "emptied.html" in page


def test_the_factor_decides_what_counts_as_lost(tmp_path):
    write_site(tmp_path / "site")
    _, stats = run_ingest(tmp_path / "ws", [{"path": str(tmp_path / "site"),
                                             "format": "html"}], text_loss_factor=20.0)
    assert stats["documents_dropped_empty_with_visible_text"] == 1
    assert stats.get("documents_mostly_removed", 0) == 0


def test_a_corpus_without_loss_has_no_warning(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "fine.html").write_text(_page(f"<main>{PROSE * 3}</main>"))
    workspace, _ = run_ingest(tmp_path / "ws", [{"path": str(site), "format": "html"}])
    assert funnel.build(workspace)["text_loss"] == {}
    assert "WARNING" not in funnel.format_funnel(funnel.build(workspace))
    funnel.store(workspace)
    assert 'id="text-loss"' not in Path(write_report(workspace)).read_text()
