"""Image bytes: header checks, data URLs, local paths and the input root."""

from __future__ import annotations

import base64
import io

from PIL import Image

from realsyn.ingest.images import LocalImages, check_image, decode_data_url, location_kind

from .helpers import run_ingest


def _png(size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (0, 128, 255)).save(buffer, "PNG")
    return buffer.getvalue()


def test_check_image_reasons():
    png = _png()
    assert check_image(png, 10**6, 10**6) == "ok"
    assert check_image(b"", 10**6, 10**6) == "empty"
    assert check_image(png, len(png) - 1, 10**6) == "too_large"
    assert check_image(png, 10**6, 64 * 48 - 1) == "too_many_pixels"
    assert check_image(b"GIF89a garbage", 10**6, 10**6) == "not_an_image"
    assert check_image(b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
                       10**6, 10**6) == "unsupported_format_svg"
    assert check_image(b"junk", 10**6, 10**6, verify=False) == "ok"


def test_locations_and_data_urls():
    assert [location_kind(u) for u in (None, "data:,x", "https://a/b", "file:///x", "ftp://a",
                                       "a/b.png", "C:/x.png")] == [
        "none", "data", "http", "file", "unsupported", "local", "local"]
    png = _png()
    assert decode_data_url("data:image/png;base64," + base64.b64encode(png).decode()) == png
    assert decode_data_url("data:text/plain,a%20b") == b"a b"
    assert decode_data_url("data:nothing") is None


def test_local_paths_stay_under_the_root(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "in.png").write_bytes(_png())
    (tmp_path / "out.png").write_bytes(_png())
    local = LocalImages(10**6)
    root = str(tmp_path / "root")
    assert local.read(root, "in.png")[1] == "ok"
    assert local.read(root, "sub/../in.png")[1] == "ok"
    assert local.read(root, "../out.png") == (None, "path_outside_input_root")
    assert local.read(root, str(tmp_path / "out.png"))[1] == "path_outside_input_root"
    assert local.read(root, f"file://{tmp_path}/root/in.png")[1] == "ok"
    assert local.read(root, "nope.png") == (None, "missing_file")
    assert LocalImages(10**6, allow_outside_root=True).read(root, "../out.png")[1] == "ok"


def test_inline_data_url_images_in_pages(tmp_path):
    png = _png()
    page = (f'<p>Inline</p><img src="data:image/png;base64,{base64.b64encode(png).decode()}">'
            '<img src="mailto:someone@example.org">')
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "p.html").write_text(page)
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(tmp_path / "in")}])
    rows = workspace.read_dataset("images").to_pylist()
    assert [(r["url"], r["status"]) for r in rows] == [(None, "ok"),
                                                       ("mailto:someone@example.org",
                                                        "unsupported_scheme")]
    assert rows[0]["bytes"] == png and stats["images_origin_data"] == 1
