"""PDF reader: text bands and embedded images in page reading order."""

from __future__ import annotations

from pathlib import Path

import matplotlib
from fpdf import FPDF
from PIL import Image

from .helpers import (
    SAMPLE_DIR,
    expected_documents,
    ingested_documents,
    pixel_hash,
    run_ingest,
    sample_rows,
)

FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def write_pdf(path: Path, row: dict) -> None:
    """A row laid out as flowing text and images at their pixel size (96 dpi, page-wide
    at most), one item after the other, with page breaks as needed."""
    pdf = FPDF(format="A4")
    pdf.add_font("DejaVu", fname=str(FONT))
    pdf.set_font("DejaVu", size=10)
    pdf.add_page()
    width = pdf.epw
    for text, image in zip(row["texts"], row["images"], strict=True):
        if text is not None:
            pdf.multi_cell(width, 5, text, new_x="LMARGIN", new_y="NEXT")
        else:
            opened = Image.open(SAMPLE_DIR / image)
            source = opened if opened.format == "PNG" and "icc_profile" in opened.info else str(
                SAMPLE_DIR / image)  # JPEG files are embedded as they are
            # PNGs without their ICC profile: pdfium colour-manages tagged images when decoding
            # them, which would change the pixels this test compares.
            opened.info.pop("icc_profile", None)
            w_mm = min(opened.width * 25.4 / 96, width)
            h_mm = opened.height * w_mm / opened.width
            if h_mm > pdf.eph:
                w_mm, h_mm = w_mm * pdf.eph / h_mm, pdf.eph
            if pdf.get_y() + h_mm > pdf.page_break_trigger:
                pdf.add_page()
            pdf.image(source, x=pdf.l_margin, y=pdf.get_y(), w=w_mm, h=h_mm)
            pdf.set_y(pdf.get_y() + h_mm + 1)
    pdf.output(str(path))


def _words(items: list[tuple[str, str]]) -> list[str]:
    return " ".join(text for kind, text in items if kind == "text").split()


def test_sample_corpus_round_trip_through_pdf(tmp_path):
    corpus = tmp_path / "pdfs"
    corpus.mkdir()
    rows = sample_rows()
    for index, row in enumerate(rows):
        write_pdf(corpus / f"doc{index:03d}.pdf", row)
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(corpus)}], files_per_shard=30)
    assert stats["documents_out"] == 56 and stats["images_ok"] == 431
    documents = ingested_documents(workspace, hash_image=pixel_hash)
    expected = expected_documents(hash_image=pixel_hash)
    for index in range(56):
        got = documents[f"doc{index:03d}.pdf"]
        # The same images, in the same order, and the same words in the same order.
        assert [h for kind, h in got if kind == "image"] == \
            [h for kind, h in expected[index] if kind == "image"]
        assert _words(got) == _words(expected[index])
    # Text sits between the images where the layout put it.
    first = documents["doc000.pdf"]
    assert [kind for kind, _ in first][:5] == ["text", "image", "text", "image", "text"]
