"""The shipped sample corpus (examples/sample_corpus) is a valid OBELICS-layout corpus."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

CORPUS = Path(__file__).resolve().parent.parent / "examples" / "sample_corpus"
PARQUET = CORPUS / "sample.parquet"


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return pq.read_table(PARQUET).to_pylist()


def test_columns_and_types():
    schema = pq.read_schema(PARQUET)
    assert schema.names == ["texts", "images", "metadata", "general_metadata", "url"]
    assert str(schema.field("texts").type) == "list<element: string>"
    assert str(schema.field("images").type) == "list<element: string>"


def test_document_count(rows):
    assert 40 <= len(rows) <= 60
    urls = [row["url"] for row in rows]
    assert len(set(urls)) == len(urls)
    assert all(u.startswith("https://docs.gimp.org/2.10/en/") and u.endswith(".html") for u in urls)


def test_aligned_lists_one_non_null_per_position(rows):
    for row in rows:
        texts, images = row["texts"], row["images"]
        metadata = json.loads(row["metadata"])
        assert len(texts) == len(images) == len(metadata) > 0
        for text, image, meta in zip(texts, images, metadata, strict=True):
            assert (text is None) != (image is None), row["url"]
            if text is not None:
                assert text.strip() == text and text
                assert meta is None
            else:
                assert meta["src"] == "https://docs.gimp.org/2.10/en/" + image
        general = json.loads(row["general_metadata"])
        assert general["url"] == row["url"]
        assert "GFDL" in general["licence"]


def test_every_image_exists_with_recorded_size(rows):
    for row in rows:
        for image, meta in zip(row["images"], json.loads(row["metadata"]), strict=True):
            if image is None:
                continue
            assert not Path(image).is_absolute() and image.startswith("images/")
            path = CORPUS / image
            assert path.is_file(), image
            with Image.open(path) as img:
                assert img.size == (meta["original_width"], meta["original_height"])


def test_counts_photographs_and_icons(rows):
    text_items = sum(t is not None for row in rows for t in row["texts"])
    images = {i for row in rows for i in row["images"] if i is not None}
    assert text_items >= 1000
    photos = icons = 0
    for image in images:
        with Image.open(CORPUS / image) as img:
            if img.format == "JPEG" and min(img.size) >= 200:
                photos += 1
            if max(img.size) <= 64:
                icons += 1
    assert photos >= 40
    # Small icons are deliberate test material for the image quality filter.
    assert icons >= 3


def test_reading_order_keeps_figure_captions(rows):
    bloom = next(r for r in rows if r["url"].endswith("/gimp-filter-bloom.html"))
    texts, images = bloom["texts"], bloom["images"]
    orig = images.index("images/filters/examples/taj_orig.jpg")
    # The figure title precedes the image and its caption follows it, as on the page.
    assert texts[orig - 1].startswith("Figure") and "Bloom" in texts[orig - 1]
    assert texts[orig + 1] == "Original image"
    meta = json.loads(bloom["metadata"])[orig]
    assert meta["caption"] == "Original image"
    # Navigation (Prev/Next/Home links) is dropped.
    assert not any(i and i.endswith(("prev.png", "next.png", "home.png")) for i in images)


def test_size_and_licence():
    total = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    assert total <= 10_500_000
    licence = (CORPUS / "LICENSE").read_text()
    assert "GNU Free Documentation License" in licence and "1.2" in licence
    assert (CORPUS / "README.md").is_file()


@pytest.mark.skipif(not Path("/usr/share/gimp/2.0/help/en").is_dir(),
                    reason="Debian package gimp-help-en not installed")
def test_rebuild_is_deterministic_and_matches_the_shipped_corpus(tmp_path):
    import importlib.util
    import sys

    script = CORPUS.parents[1] / "scripts" / "build_sample_corpus.py"
    spec = importlib.util.spec_from_file_location("build_sample_corpus", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    counts = module.build(module.HELP_ROOT, tmp_path)
    assert counts["missing_images_skipped"] == 0
    assert pq.read_table(tmp_path / "sample.parquet").equals(pq.read_table(PARQUET))
    rebuilt = sorted(p.relative_to(tmp_path) for p in (tmp_path / "images").rglob("*"))
    shipped = sorted(p.relative_to(CORPUS) for p in (CORPUS / "images").rglob("*"))
    assert rebuilt == shipped
    assert (tmp_path / "README.md").read_text() == (CORPUS / "README.md").read_text()
