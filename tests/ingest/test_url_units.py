"""Long URL lists are cut into units of lines: planned as ceil(lines / unit) units, shared by
the workers, and ingested to the same rows and ids whatever the unit size."""

from __future__ import annotations

import gzip
import io
import math
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from PIL import Image

from realsyn.ingest.sources import (
    URL_BYTES_IN_MEMORY,
    InputFile,
    line_cuts,
    make_plan,
    url_lines_per_unit,
)

from .helpers import run_ingest, serving


class Images(BaseHTTPRequestHandler):
    """/N.png: a PNG whose colour depends on N, so every URL's bytes differ."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        number = int(self.path.strip("/").split(".")[0])
        buffer = io.BytesIO()
        Image.new("RGB", (8, 6), (number % 256, number // 256 % 256, 7)).save(buffer, "PNG")
        body = buffer.getvalue()
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    with serving(Images) as httpd:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"


def url_list(base: str, count: int) -> str:
    """`count` lines: URLs with and without captions, a comment, a blank line, a line that is
    no URL and one too long to hold; the last line has no newline."""
    lines = []
    for number in range(count):
        if number % 11 == 3:
            lines.append("# a comment" if number % 2 else "")
        elif number % 13 == 5:
            lines.append("not a url")
        elif number % 17 == 9:
            lines.append(f"{base}/{number}.png\t" + "x" * 70_000)  # over max_url_line_bytes
        else:
            lines.append(f"{base}/{number}.png" + (f"\tPicture number {number} of a barn."
                                                    if number % 2 else ""))
    return "\n".join(lines)


def _file(path: Path) -> InputFile:
    return InputFile(str(path), str(path.parent), path.name, "urls")


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("newline", ["", "\n"])
def test_a_list_of_n_lines_is_planned_into_ceil_n_over_u_units(tmp_path, compress, newline):
    text = url_list("https://images.test", 53) + newline
    path = tmp_path / ("list.urls.gz" if compress else "list.urls")
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    data = text.encode()
    for every in (1, 2, 5, 52, 53, 54, 1000):
        plan = make_plan([(str(path), "urls")], 100, 64, 10**6, every)
        units = [shard[0] for shard in plan["shards"]]
        assert all(len(shard) == 1 for shard in plan["shards"])
        assert len(units) == math.ceil(53 / every), every
        # The units cover the file line by line: each starts at a line's first byte, holds
        # `every` lines (the last one the rest) and knows the number of its first line.
        for index, unit in enumerate(units):
            piece = data[unit["start"]:unit["stop"]]
            assert unit["line"] == index * every
            assert unit["start"] == 0 or data[unit["start"] - 1:unit["start"]] == b"\n"
            expected = min(every, 53 - index * every)
            assert piece.count(b"\n") + (not piece.endswith(b"\n")) == expected, (every, index)
        assert units[-1]["stop"] is None
    assert line_cuts(_file(path), 10)[0] == 53


def test_empty_and_one_line_lists(tmp_path):
    for text, lines in (("", 0), ("\n", 1), ("https://a.test/x.png", 1)):
        path = tmp_path / "list.urls"
        path.write_text(text)
        assert line_cuts(_file(path), 1) == (lines, [])


@pytest.mark.parametrize("compress", [False, True])
def test_ingest_gives_the_same_rows_and_ids_whatever_the_unit_size(tmp_path, server, compress):
    text = url_list(server, 61)
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / ("list.urls.gz" if compress else "list.urls")
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    fetch = {"enabled": True, "allow_private_addresses": True, "retries": 0}
    outputs = []
    for every, workers in ((1000, 1), (7, 2), (1, 1)):
        workspace, stats = run_ingest(tmp_path / f"ws{every}", [{"path": str(path)}],
                                      workers=workers, fetch=fetch, url_lines_per_unit=every)
        assert len(workspace.shards("images")) == math.ceil(61 / every)
        tables = {name: workspace.read_dataset(name).to_pylist()
                  for name in ("documents", "images", "texts")}
        outputs.append((tables, {k: v for k, v in stats.items() if k.startswith(
            ("records_", "rows_", "images_", "documents_", "texts_"))}))
    (tables, stats), *others = outputs
    assert stats["images_ok"] == stats["documents_out"] > 30
    # lines 9, 26, 43, 60 are too long, 5, 18, 31, 44, 57 are no URL
    assert stats["rows_dropped_too_large"] == 4 and stats["rows_dropped_not_a_url"] == 5
    sources = [row["source"] for row in tables["documents"]]
    assert sources[:3] == [f"{path.name}#line={n}" for n in (0, 1, 2)]
    assert sources[-1] == f"{path.name}#line=59"
    for other in others:
        assert other == (tables, stats)


def test_short_lists_are_grouped_up_to_a_units_lines(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name, lines in (("a.urls", 3), ("b.urls", 3), ("c.urls", 9), ("d.urls", 2)):
        (folder / name).write_text(url_list("https://images.test", lines) + "\n")
    plan = make_plan([(str(folder), "auto")], 100, 64, 10**6, 6)
    shards = [[(u["file"]["relpath"], u["line"]) for u in shard] for shard in plan["shards"]]
    assert shards == [[("a.urls", 0), ("b.urls", 0)], [("c.urls", 0)], [("c.urls", 6)],
                      [("d.urls", 0)]]
    # Without a line bound (as before) a list is one unit and lists are grouped by count.
    plan = make_plan([(str(folder), "auto")], 100, 64, 10**6)
    assert [len(shard) for shard in plan["shards"]] == [4]


def test_the_unit_holds_at_most_the_task_memory_in_images():
    assert url_lines_per_unit(2500, 1024) == 2500
    assert url_lines_per_unit(10**6, 1024) == (1024 << 20) // URL_BYTES_IN_MEMORY
    assert url_lines_per_unit(10**6, 16) == (16 << 20) // URL_BYTES_IN_MEMORY
