"""A folder of damaged inputs is read to the end: bad items counted with reasons, good kept."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import matplotlib
from fpdf import FPDF
from PIL import Image

from .helpers import SAMPLE, SAMPLE_DIR, run_ingest, sample_rows
from .test_warc import write_warc

FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (120, 80), (10, 120, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


def _pdf(path: Path, text: str, password: str | None = None, image: Path | None = None):
    pdf = FPDF()
    if password:
        pdf.set_encryption(owner_password="owner", user_password=password)
    pdf.add_font("DejaVu", fname=str(FONT))
    pdf.set_font("DejaVu", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    if image:
        pdf.image(str(image), w=40)
    pdf.output(str(path))


def build_bad_folder(folder: Path) -> None:
    folder.mkdir()
    (folder / "img").mkdir()
    (folder / "img" / "good.jpg").write_bytes(_jpeg())
    (folder / "img" / "fake.jpg").write_text("this is not an image at all")
    (folder / "img" / "zero.jpg").write_bytes(b"")
    (folder / "empty.html").write_bytes(b"")
    (folder / "empty.pdf").write_bytes(b"")
    (folder / "images.html").write_text(
        "<html><body><p>Good page</p><img src='img/good.jpg'><img src='img/fake.jpg'>"
        "<img src='img/zero.jpg'><img src='img/none.jpg'><img src='../outside.jpg'>"
        "<p>End of page</p></body></html>")
    depth = 100_000
    (folder / "deep.html").write_text("<html><body>" + "<div>" * depth + "<p>deep text</p>"
                                      + "</div>" * depth + "</body></html>")
    (folder / "latin.html").write_bytes("<html><body><p>Un caf\xe9 cr\xe8me</p></body></html>"
                                        .encode("cp1252"))
    (folder / "garbage.parquet").write_bytes(b"PAR1 certainly not a parquet file")
    data = SAMPLE.read_bytes()
    (folder / "truncated.parquet").write_bytes(data[: len(data) // 2])
    (folder / "rows.jsonl").write_text(json.dumps({"texts": ["Row text", None],
                                                   "images": [None, "img/good.jpg"]})
                                       + "\n{broken\n")
    write_warc(folder / "whole.warc.gz", sample_rows()[:3])
    whole = (folder / "whole.warc.gz").read_bytes()
    (folder / "truncated.warc.gz").write_bytes(whole[: int(len(whole) * 0.6)])
    (folder / "whole.warc.gz").unlink()
    _pdf(folder / "good.pdf", "A good PDF document.", image=folder / "img" / "good.jpg")
    _pdf(folder / "locked.pdf", "Secret text.", password="user")
    good_pdf = (folder / "good.pdf").read_bytes()
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.4\n" + good_pdf[200:400])
    shutil.copy(SAMPLE_DIR / "LICENSE", folder / "notes.txt")  # not a document: ignored


def test_bad_inputs_are_counted_and_good_items_kept(tmp_path):
    folder = tmp_path / "bad"
    build_bad_folder(folder)
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(folder)}])
    expected_failures = {
        "files_failed_empty": 2,  # empty.html, empty.pdf
        "files_failed_encrypted": 1,
        "files_failed_corrupt_pdf": 1,
        "files_failed_corrupt_parquet": 2,
        "files_truncated_or_corrupt": 1,  # the .warc.gz
        "rows_dropped_invalid_json": 1,
        "pages_depth_capped": 1,
        "pages_charset_fallback_cp1252": 1,
        "images_failed_not_an_image": 1,
        "images_failed_empty": 1,
        "images_failed_missing_file": 1,
        "images_failed_path_outside_input_root": 1,
    }
    assert {key: stats.get(key) for key in expected_failures} == expected_failures
    assert stats["files_in"] == 12 and stats["files_ignored_not_documents"] == 4
    documents = {d["source"]: d for d in workspace.read_dataset("documents").to_pylist()}

    def texts(source: str) -> list[str]:
        return [i["text"] for i in documents[source]["items"] if i["kind"] == "text"]

    assert texts("images.html") == ["Good page", "End of page"]
    assert texts("deep.html") == ["deep text"]
    assert texts("latin.html") == ["Un caf\u00e9 cr\u00e8me"]
    assert texts("rows.jsonl#byte=0") == ["Row text"]
    assert texts("good.pdf") == ["A good PDF document."]
    warc_documents = [s for s in documents if s.startswith("truncated.warc.gz#")]
    assert len(warc_documents) >= 1
    ok = [r for r in workspace.read_dataset("images").to_pylist() if r["status"] == "ok"]
    assert {r["doc_id"] for r in ok} >= {documents[s]["doc_id"] for s in
                                          ("images.html", "rows.jsonl#byte=0", "good.pdf")}
    assert all(r["bytes"] for r in ok)
    # Every file has its own stats, with the reason of its failure.
    per_file = {}
    for shard in workspace.shards("documents"):
        per_file.update(workspace.read_json(f"stages/ingest/files/{shard}.json"))
    assert per_file["locked.pdf"]["files_failed_encrypted"] == 1
    assert per_file["truncated.parquet"]["files_failed_corrupt_parquet"] == 1
