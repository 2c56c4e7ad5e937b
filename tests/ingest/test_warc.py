"""WARC reader: pages from response records, images from records of the same file."""

from __future__ import annotations

import gzip
import html as html_lib
import io
from pathlib import Path
from urllib.parse import urljoin

import pytest
from PIL import Image
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


# ---------------------------------------------------------------- framing checked
def _pages_and_photo(path: Path, gzip_records: bool = False) -> None:
    """Three pages with a JPEG response between the first and the second."""
    buffer = io.BytesIO()
    Image.effect_noise((200, 150), 60).convert("RGB").save(buffer, "JPEG")
    photo = buffer.getvalue()
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=gzip_records)
        for number in range(3):
            page = f"<html><body><p>Page {number} tells of a dog near a door.</p></body></html>"
            _response(writer, f"https://site.test/{number}.html", page.encode(),
                      "text/html; charset=utf-8")
            if number == 0:
                _response(writer, "https://site.test/photo.jpg", photo, "image/jpeg")


def _lie_about_first_length(path: Path, delta: int) -> None:
    data = path.read_bytes()
    marker = b"Content-Length: "
    start = data.index(marker) + len(marker)
    end = data.index(b"\r\n", start)
    path.write_bytes(data[:start] + str(int(data[start:end]) + delta).encode() + data[end:])


def _texts(workspace) -> list[str]:
    return workspace.read_dataset("texts")["text"].to_pylist()


# +700 swallows the start of the photo's record; -40 would keep half of page 0.
@pytest.mark.parametrize("delta", [700, -40], ids=["too_long", "too_short"])
def test_a_lying_content_length_loses_only_its_record(tmp_path, delta):
    (tmp_path / "in").mkdir()
    warc = tmp_path / "in" / "crawl.warc"
    _pages_and_photo(warc)
    _lie_about_first_length(warc, delta)
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(warc)}])
    assert sorted(_texts(workspace)) == [f"Page {n} tells of a dog near a door."
                                         for n in (1, 2)]
    assert stats["records_dropped_warc_length_mismatch"] == 1


def test_a_lying_length_inside_a_gzip_member_does_not_desynchronise(tmp_path):
    (tmp_path / "in").mkdir()
    plain = tmp_path / "plain.warc"
    _pages_and_photo(plain)
    _lie_about_first_length(plain, 900)
    # Recompress record by record (one gzip member each), keeping the lie.
    records = plain.read_bytes().split(b"\r\n\r\nWARC/1.")
    members = [records[0] + b"\r\n\r\n"] + [b"WARC/1." + r + b"\r\n\r\n" for r in records[1:]]
    members[-1] = members[-1][:-4]
    (tmp_path / "in" / "crawl.warc.gz").write_bytes(b"".join(gzip.compress(m) for m in members))
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(tmp_path / "in")}])
    assert sorted(_texts(workspace)) == [f"Page {n} tells of a dog near a door."
                                         for n in (1, 2)]
    assert stats["records_dropped_warc_length_mismatch"] == 1


def test_digest_mismatch_is_counted_and_dropped(tmp_path):
    (tmp_path / "in").mkdir()
    warc = tmp_path / "in" / "crawl.warc"
    _pages_and_photo(warc)
    data = warc.read_bytes()
    assert b"WARC-Block-Digest: sha1:" in data
    warc.write_bytes(data.replace(b"Page 2 tells", b"Page 9 tells"))  # same length, new bytes
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(warc)}])
    assert sorted(_texts(workspace)) == [f"Page {n} tells of a dog near a door."
                                         for n in (0, 1)]
    assert stats["records_dropped_warc_digest_mismatch"] == 1


def test_truncated_records_and_gzip_members_are_counted(tmp_path):
    (tmp_path / "in").mkdir()
    whole = tmp_path / "whole.warc.gz"
    _pages_and_photo(whole, gzip_records=True)
    data = whole.read_bytes()
    (tmp_path / "in" / "cut.warc.gz").write_bytes(data[:-60])  # inside the last member
    plain = tmp_path / "whole.warc"
    _pages_and_photo(plain)
    (tmp_path / "in" / "cut.warc").write_bytes(plain.read_bytes()[:-60])
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(tmp_path / "in")}])
    assert sorted(_texts(workspace)) == sorted(
        f"Page {n} tells of a dog near a door." for n in (0, 0, 1, 1))
    assert stats["warc_gzip_members_truncated"] == 1
    assert stats["records_dropped_warc_truncated"] == 2
    assert stats["files_truncated_or_corrupt"] == 2


def test_binary_payload_labelled_html_is_not_read_as_text(tmp_path):
    (tmp_path / "in").mkdir()
    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 80).convert("RGB").save(buffer, "JPEG")
    with (tmp_path / "in" / "lie.warc").open("wb") as handle:
        writer = WARCWriter(handle, gzip=False)
        _response(writer, "https://site.test/a.html", buffer.getvalue(), "text/html")
        _response(writer, "https://site.test/b.html",
                  b"<p>A real page where a cat sits on the mat.</p>", "text/html")
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(tmp_path / "in")}])
    assert _texts(workspace) == ["A real page where a cat sits on the mat."]
    assert stats["pages_dropped_not_text"] == 1


def test_gzip_members_larger_than_a_read_chunk_are_read_whole(tmp_path):
    """Real pages above 64 KiB in warcio's gzip records: the member's end arrives in an
    output-limited read (zlib then leaves a stale unconsumed tail), and the records after it
    must still be read once each, with nothing counted as damage."""
    pages = [Path("/usr/share/doc/python3.11-doc/html/library/logging.config.html"),
             Path("/usr/share/gimp/2.0/help/en/filters-blur.html")]
    pages = [page for page in pages if page.is_file()]
    if len(pages) < 2:
        pytest.skip("python3.11-doc and gimp-help-en pages are needed")
    big = pages[0].read_bytes()
    assert len(big) > 65536
    corpus = tmp_path / "crawl"
    corpus.mkdir()
    with (corpus / "docs.warc.gz").open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for n in range(3):
            for page in pages:
                _response(writer, f"https://example.org/{n}/{page.name}", page.read_bytes(),
                          "text/html; charset=utf-8")
    _, stats = run_ingest(tmp_path / "ws", [{"path": str(corpus), "format": "warc"}])
    assert stats["documents_out"] == 6
    damage = {key: value for key, value in stats.items()
              if key.startswith(("warc_", "records_dropped")) and value}
    assert damage == {}
