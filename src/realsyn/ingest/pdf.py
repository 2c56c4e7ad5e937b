"""PDF files -> one interleaved document each, with pypdfium2 (Apache-2.0 / BSD).

Reading order per page, top to bottom: the page is cut into horizontal bands at its images;
the text of each band between images is a text item, each image an image item with its
encoded bytes (JPEG and JPEG 2000 streams as stored, other images re-encoded as PNG). This is
exact for single-column pages and an approximation for multi-column layouts.

Hostile files: an image's pixel count is read from its dictionary (width x height) before
anything decodes it, so a 30000x30000 Flate image in an 875 KB file is refused, counted,
instead of taking gigabytes; a page or an image that fails is counted and the rest of the
document kept; a PDF without pages is `empty_pdf`.
"""

from __future__ import annotations

import ctypes
import io
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from realsyn.ingest.html import normalize_space
from realsyn.ingest.sources import WorkUnit, read_limited
from realsyn.records import image_item, make_document, text_item


def _open(data: bytes, stats: Counter[str]) -> pdfium.PdfDocument | None:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as error:
        reason = "encrypted" if "password" in str(error).lower() else "corrupt_pdf"
        if _raw_page_count(data) == 0:
            reason = "empty_pdf"  # pypdfium2 refuses a document without pages
        stats[f"files_failed_{reason}"] += 1
        return None


def _raw_page_count(data: bytes) -> int | None:
    """Pages of a document as pdfium itself loads it (None: it does not load)."""
    buffer = ctypes.create_string_buffer(data, len(data))
    document = pdfium_c.FPDF_LoadMemDocument64(buffer, len(data), None)
    if not document:
        return None
    try:
        return pdfium_c.FPDF_GetPageCount(document)
    finally:
        pdfium_c.FPDF_CloseDocument(document)


def _image_bytes(image: pdfium.PdfImage) -> bytes:
    buffer = io.BytesIO()
    image.extract(buffer, fb_format="png")
    return buffer.getvalue()


def page_items(page: pdfium.PdfPage, number: int, stats: Counter[str], max_pixels: int
               ) -> list[dict[str, Any]]:
    """Items of one page, top to bottom; images over `max_pixels` are never decoded."""
    width, height = page.get_size()
    textpage = page.get_textpage()
    try:
        images = []
        for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]):
            left, bottom, right, top = obj.get_bounds()
            images.append((top, bottom, left, right, obj))
        images.sort(key=lambda entry: (-entry[0], entry[2]))
        items: list[dict[str, Any]] = []
        cursor = height

        def text_band(top: float, bottom: float) -> None:
            if top > bottom:
                text = normalize_space(textpage.get_text_bounded(0, bottom, width, top))
                if text:
                    items.append(text_item(text))

        for top, bottom, left, right, obj in images:
            text_band(cursor, top)
            try:
                pixel_width, pixel_height = obj.get_px_size()  # the dictionary, no decoding
                if pixel_width * pixel_height > max_pixels:
                    stats["items_dropped_pdf_image_too_many_pixels"] += 1
                    continue
                data = _image_bytes(obj)
            except (pdfium.PdfiumError, OSError, ValueError, TypeError):
                stats["items_dropped_pdf_image_unreadable"] += 1
                continue
            meta = {"page": number, "bbox": [round(v, 2) for v in (left, bottom, right, top)],
                    "pixel_width": pixel_width, "pixel_height": pixel_height}
            items.append(image_item(None, data, meta))
            cursor = min(cursor, bottom)
        text_band(cursor, 0)
        return items
    finally:
        textpage.close()


def read_pdf(unit: WorkUnit, options: Any, stats: Counter[str]) -> Iterator[dict[str, Any]]:
    data = read_limited(unit.file, options.max_document_bytes, stats)
    if data is None:
        return
    stats["records_in"] += 1
    document = _open(data, stats)
    if document is None:
        return
    if len(document) == 0:
        stats["files_failed_empty_pdf"] += 1
        document.close()
        return
    try:
        items: list[dict[str, Any]] = []
        for number in range(len(document)):
            try:
                page = document[number]
            except pdfium.PdfiumError:
                stats["pages_failed"] += 1
                continue
            try:
                items.extend(page_items(page, number, stats, options.max_image_pixels))
            except (pdfium.PdfiumError, OSError, ValueError, TypeError):
                stats["pages_failed"] += 1
            finally:
                page.close()
        metadata = {key.lower(): value for key, value in document.get_metadata_dict().items()
                    if value}
        metadata["pages"] = len(document)
    finally:
        document.close()
    yield make_document(unit.file.relpath, None, items, metadata)
