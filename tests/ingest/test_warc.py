"""WARC reader: pages from response records, images from records of the same file."""

from __future__ import annotations

import gzip
import html as html_lib
import io
from pathlib import Path
from urllib.parse import urljoin

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from .helpers import SAMPLE_DIR, expected_documents, ingested_documents, run_ingest, sample_rows

CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def _response(writer: WARCWriter, url: str, payload: bytes, content_type: str,
              status: str = "200 OK") -> None:
    headers = StatusAndHeaders(status, [("Content-Type", content_type),
                                        ("Content-Length", str(len(payload)))],
                               protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(payload),
                                                  http_headers=headers))


def write_warc(path: Path, rows: list[dict], gzip_records: bool = True) -> None:
    """Each row as an HTML response at its URL, its images as image responses (once each),
    images written after the pages that use them, as crawlers do."""
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=gzip_records)
        written: set[str] = set()
        for row in rows:
            body = []
            for text, image in zip(row["texts"], row["images"], strict=True):
                body.append(f"<p>{html_lib.escape(text)}</p>" if text is not None
                            else f'<img src="{html_lib.escape(image)}">')
            page = "<html><body>" + "\n".join(body) + "</body></html>"
            _response(writer, row["url"], page.encode(), "text/html; charset=utf-8")
            for image in row["images"]:
                url = urljoin(row["url"], image) if image else None
                if url and url not in written:
                    written.add(url)
                    _response(writer, url, (SAMPLE_DIR / image).read_bytes(),
                              CONTENT_TYPES[Path(image).suffix.lower()])
        _response(writer, "https://docs.gimp.org/missing.html", b"gone", "text/html",
                  "404 Not Found")


def test_sample_corpus_round_trip_through_warc(tmp_path):
    corpus = tmp_path / "crawl"
    corpus.mkdir()
    rows = sample_rows()
    write_warc(corpus / "a.warc.gz", rows[:30])
    write_warc(corpus / "b.warc", rows[30:], gzip_records=False)
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(corpus), "format": "warc"}])
    assert stats["documents_out"] == 56 and stats["records_dropped_http_status"] == 2
    assert stats["images_ok"] == stats["images_from_warc"] == 431
    documents = ingested_documents(workspace)

    def order(source: str) -> tuple[str, int]:
        name, offset = source.split("#offset=")
        return name, int(offset)

    assert [documents[s] for s in sorted(documents, key=order)] == expected_documents()
    urls = workspace.read_dataset("documents")["url"].to_pylist()
    assert sorted(urls) == sorted(row["url"] for row in rows)
    image_urls = workspace.read_dataset("images")["url"].to_pylist()
    assert all(url.startswith("https://docs.gimp.org/2.10/en/images/") for url in image_urls)


def test_images_missing_from_the_warc_stay_urls(tmp_path):
    rows = sample_rows()[:2]
    write_warc(tmp_path / "pages.warc.gz", rows)
    # Drop every image record: only the HTML responses remain.
    stripped = tmp_path / "only-pages.warc.gz"
    from warcio.archiveiterator import ArchiveIterator

    with (tmp_path / "pages.warc.gz").open("rb") as source, stripped.open("wb") as target:
        writer = WARCWriter(target, gzip=True)
        for record in ArchiveIterator(source):
            if record.http_headers.get_header("Content-Type").startswith("text/html"):
                writer.write_record(record)
    (tmp_path / "pages.warc.gz").unlink()
    _workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(stripped)}])
    assert stats["documents_out"] == 2
    assert stats["images_failed_not_fetched"] == stats["images_out"] > 0
    assert stats.get("images_from_warc", 0) == 0


def test_truncated_warc_keeps_the_records_before_the_damage(tmp_path):
    whole = tmp_path / "whole.warc.gz"
    write_warc(whole, sample_rows()[:6])
    data = whole.read_bytes()
    cut = tmp_path / "cut" / "cut.warc.gz"
    cut.parent.mkdir()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    _, stats = run_ingest(tmp_path / "ws", [{"path": str(cut.parent)}])
    assert stats["files_truncated_or_corrupt"] == 1
    assert 1 <= stats["documents_out"] < 6
    assert gzip.decompress(data)  # the original is intact
