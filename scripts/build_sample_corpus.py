"""Rebuild examples/sample_corpus/ from the Debian package gimp-help-en (GIMP 2.10 User Manual).

The corpus is a few dozen manual pages as interleaved documents in the OBELICS layout: one parquet
row per page with aligned `texts` / `images` lists (exactly one of the two is non-null at each
position, in reading order), a per-position `metadata` JSON list, a `general_metadata` JSON object
and the page's canonical `url`. OBELICS stores image URLs; this corpus must work offline, so the
referenced image files are copied beside the parquet and `images` holds their paths relative to the
parquet's folder, while the original docs.gimp.org URL is kept in the image's metadata.

Pages are chosen deterministically: first greedily by how many real photographs they add per byte
(JPEG, both sides >= 200 px), then a few screenshot/icon pages, all within a size budget.

Usage: .venv/bin/python scripts/build_sample_corpus.py [--help-root DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image
from selectolax.lexbor import LexborHTMLParser, LexborNode

HELP_ROOT = Path("/usr/share/gimp/2.0/help/en")
COPYRIGHT_FILE = Path("/usr/share/doc/gimp-help-en/copyright")
PACKAGE = "gimp-help-en"
BASE_URL = "https://docs.gimp.org/2.10/en/"
REPO_ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = REPO_ROOT / "examples" / "sample_corpus"
PARQUET_NAME = "sample.parquet"

# Selection limits: the whole folder must stay under about 10 MB.
MAX_IMAGE_BYTES = 9_000_000
MAX_PHOTO_PAGES = 50
SCREENSHOT_PAGES = 6
# Per-page overhead when ranking pages by new photos per byte: favours pages with several photos
# over the many one-photo filter pages (which all show the same Taj Mahal picture, filtered).
PAGE_OVERHEAD_BYTES = 80_000
PHOTO_MIN_SIDE = 200

# DocBook chrome that is navigation or index plumbing, not page content.
SKIP_CLASSES = {
    "navheader",
    "navfooter",
    "indexterm",
    "toc",
    "reportbug",
    "list-of-figures",
    "list-of-tables",
    "list-of-examples",
}
SKIP_TAGS = {"script", "style", "head", "noscript"}
# Inline elements continue the current text run; anything else starts a new text item.
INLINE_TAGS = {
    "a", "abbr", "acronym", "b", "big", "cite", "code", "em", "font", "i", "kbd", "q", "s",
    "samp", "small", "span", "strong", "sub", "sup", "tt", "u", "var",
}  # fmt: skip


@dataclass
class Page:
    name: str
    title: str
    texts: list[str | None] = field(default_factory=list)
    images: list[str | None] = field(default_factory=list)
    metadata: list[dict | None] = field(default_factory=list)
    missing_images: int = 0


def normalise(text: str) -> str:
    return " ".join(text.split())


def is_photo(path: Path) -> bool:
    """A real photograph in this manual: a JPEG with both sides at least PHOTO_MIN_SIDE."""
    if path.suffix.lower() not in {".jpg", ".jpeg"}:
        return False
    with Image.open(path) as img:
        return min(img.size) >= PHOTO_MIN_SIDE


def skipped(node: LexborNode) -> bool:
    if node.tag in SKIP_TAGS:
        return True
    classes = set((node.attributes.get("class") or "").split())
    return bool(classes & SKIP_CLASSES)


def has_class(node: LexborNode, name: str) -> bool:
    return name in (node.attributes.get("class") or "").split()


def figure_context(img: LexborNode) -> tuple[str | None, str | None]:
    """(figure caption, figure title) of the figure/mediaobject around an image, if any."""
    caption = title = None
    node = img.parent
    while node is not None and node.tag != "body":
        if caption is None and has_class(node, "mediaobject"):
            cap = node.css_first("div.caption")
            caption = normalise(cap.text(deep=True)) if cap else None
        if has_class(node, "figure") or has_class(node, "informalfigure"):
            head = node.css_first("p.title")
            title = normalise(head.text(deep=True)) if head else None
            break
        node = node.parent
    return caption or None, title or None


class PageBuilder:
    """Walks a page's body in document order, emitting text runs and images as aligned items."""

    def __init__(self, root: Path, page: Page):
        self.root = root
        self.page = page
        self.buf: list[str] = []

    def flush(self) -> None:
        text = normalise("".join(self.buf))
        self.buf = []
        if text:
            self.page.texts.append(text)
            self.page.images.append(None)
            self.page.metadata.append(None)

    def add_image(self, img: LexborNode) -> None:
        src = img.attributes.get("src") or ""
        path = self.root / src
        if not src or src.startswith(("http:", "https:", "/")) or not path.is_file():
            self.page.missing_images += 1
            return
        with Image.open(path) as im:
            width, height = im.size
            fmt = im.format
        caption, title = figure_context(img)
        self.page.texts.append(None)
        self.page.images.append(src)  # relative to the parquet folder: files are copied there
        self.page.metadata.append(
            {
                "src": BASE_URL + src,
                "unformatted_src": src,
                "alt_text": normalise(img.attributes.get("alt") or "") or None,
                "caption": caption,
                "title": title,
                "original_width": width,
                "original_height": height,
                "format": fmt,
            }
        )

    def walk(self, node: LexborNode) -> None:
        for child in node.iter(include_text=True):
            tag = child.tag
            if tag == "-text":
                self.buf.append(child.text(deep=False) or "")
            elif skipped(child):
                continue
            elif tag == "img":
                self.flush()
                self.add_image(child)
            elif tag == "br":
                self.buf.append(" ")
            elif tag in INLINE_TAGS:
                self.walk(child)
            else:
                self.flush()
                self.walk(child)
                self.flush()


def parse_page(root: Path, name: str) -> Page:
    tree = LexborHTMLParser((root / name).read_text(encoding="utf-8"))
    title_node = tree.css_first("title")
    page = Page(name=name, title=normalise(title_node.text()) if title_node else name)
    builder = PageBuilder(root, page)
    if tree.body is not None:
        builder.walk(tree.body)
        builder.flush()
    return page


def page_files(root: Path, page: Page) -> set[str]:
    return {src for src in page.images if src is not None}


def select_pages(root: Path, pages: dict[str, Page]) -> list[str]:
    """Greedy and deterministic: most new photographs per byte first, then screenshot pages."""
    sizes: dict[str, int] = {}
    photo: dict[str, bool] = {}
    for page in pages.values():
        for src in page_files(root, page):
            if src not in sizes:
                sizes[src] = (root / src).stat().st_size
                photo[src] = is_photo(root / src)

    chosen: list[str] = []
    files: set[str] = set()
    budget_left = MAX_IMAGE_BYTES

    def added(name: str) -> tuple[set[str], int]:
        new = page_files(root, pages[name]) - files
        return new, sum(sizes[s] for s in new)

    candidates = sorted(n for n, p in pages.items() if any(photo[s] for s in page_files(root, p)))
    while len(chosen) < MAX_PHOTO_PAGES:
        best = None
        for name in candidates:
            if name in chosen:
                continue
            new, nbytes = added(name)
            new_photos = sum(photo[s] for s in new)
            if new_photos == 0 or nbytes > budget_left:
                continue
            # Most new photos per byte, then name: a total order, so the result is stable.
            key = (-new_photos / (nbytes + PAGE_OVERHEAD_BYTES), name)
            if best is None or key < best[0]:
                best = (key, new, nbytes)
        if best is None:
            break
        chosen.append(best[0][1])
        files |= best[1]
        budget_left -= best[2]

    # A few pages of screenshots and small icons only (material for the image-quality filter):
    # pages with at least 3 images and some prose, in name order.
    extra = 0
    for name in sorted(pages):
        if extra >= SCREENSHOT_PAGES:
            break
        page = pages[name]
        srcs = page_files(root, page)
        n_texts = sum(t is not None for t in page.texts)
        if name in chosen or len(srcs) < 3 or n_texts < 8 or any(photo[s] for s in srcs):
            continue
        new, nbytes = added(name)
        if nbytes > budget_left:
            continue
        chosen.append(name)
        files |= new
        budget_left -= nbytes
        extra += 1
    return sorted(chosen)


def package_version() -> str:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", PACKAGE],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_parquet(pages: list[Page], out: Path, version: str) -> None:
    rows = {"texts": [], "images": [], "metadata": [], "general_metadata": [], "url": []}
    for page in pages:
        url = BASE_URL + page.name
        rows["texts"].append(page.texts)
        rows["images"].append(page.images)
        rows["metadata"].append(json.dumps(page.metadata, ensure_ascii=False, sort_keys=True))
        rows["general_metadata"].append(
            json.dumps(
                {
                    "url": url,
                    "title": page.title,
                    "source_path": str(HELP_ROOT / page.name),
                    "source_package": f"{PACKAGE} {version}",
                    "licence": "GFDL-1.2-or-later (no Invariant Sections, no Cover Texts)",
                },
                ensure_ascii=False,
                sort_keys=True,
            )
        )
        rows["url"].append(url)
    schema = pa.schema(
        [
            ("texts", pa.list_(pa.string())),
            ("images", pa.list_(pa.string())),
            ("metadata", pa.string()),
            ("general_metadata", pa.string()),
            ("url", pa.string()),
        ]
    )
    table = pa.Table.from_pydict(rows, schema=schema)
    pq.write_table(table, out / PARQUET_NAME, compression="zstd")


def write_licence(out: Path, version: str) -> None:
    notice = COPYRIGHT_FILE.read_text(encoding="utf-8") if COPYRIGHT_FILE.is_file() else ""
    (out / "LICENSE").write_text(
        "The texts and images in this folder are taken from the GNU Image Manipulation Program\n"
        f"User Manual (GIMP 2.10), as shipped in the Debian package {PACKAGE} {version}.\n"
        "Original: https://docs.gimp.org/2.10/en/\n\n"
        "They are distributed under the GNU Free Documentation License, version 1.2 or any later\n"
        "version, with no Invariant Sections, no Front-Cover Texts and no Back-Cover Texts.\n"
        "Full licence text: https://www.gnu.org/licenses/old-licenses/fdl-1.2.txt\n"
        "(on Debian: /usr/share/common-licenses/GFDL-1.2).\n\n"
        f"Copyright notice of the package ({COPYRIGHT_FILE}):\n\n" + notice,
        encoding="utf-8",
    )


def write_readme(out: Path, counts: dict[str, int], version: str) -> None:
    (out / "README.md").write_text(
        f"""# Sample corpus: GIMP 2.10 User Manual pages (OBELICS layout)

{counts["documents"]} pages of the GIMP User Manual (Debian package `{PACKAGE}` {version}) as
interleaved image-text documents, for tests and `make demo`. Licence: GFDL-1.2+, see `LICENSE`.

- `{PARQUET_NAME}`: one row per page, columns `texts` and `images` (aligned lists: exactly one of
  the two is non-null at each position, in reading order), `metadata` (JSON list aligned with the
  positions: per image its original `src` URL, `alt_text`, figure `caption` and `title`, size;
  null for texts), `general_metadata` (JSON: url, title, source page path, package, licence) and
  `url` (the page on docs.gimp.org).
- `images/`: the referenced image files, unchanged. Unlike OBELICS, `images` holds paths relative
  to this folder (e.g. `images/filters/examples/taj_orig.jpg`) so the corpus works offline; the
  original URL is in the image's metadata.

Counts:
- documents: {counts["documents"]}
- text items: {counts["text_items"]}
- image items: {counts["image_items"]}
- distinct image files: {counts["distinct_images"]}
- of which photographs: {counts["distinct_photos"]}
  (JPEG, both sides >= {PHOTO_MIN_SIDE} px); the rest are screenshots, diagrams and small icons
  (material for the image filters)
- bytes of image files: {counts["image_bytes"]}

Rebuild (deterministic) with `make sample-corpus`, which runs
`.venv/bin/python scripts/build_sample_corpus.py` (needs `apt-get install {PACKAGE}`).
""",
        encoding="utf-8",
    )


def build(root: Path, out: Path) -> dict[str, int]:
    names = sorted(p.name for p in root.glob("*.html"))
    pages = {name: parse_page(root, name) for name in names}
    chosen = [pages[name] for name in select_pages(root, pages)]

    # Rebuild from scratch so that files of pages no longer chosen do not linger.
    shutil.rmtree(out / "images", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    files = sorted({src for page in chosen for src in page_files(root, page)})
    for src in files:
        dest = out / src
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / src, dest)

    version = package_version()
    write_parquet(chosen, out, version)
    write_licence(out, version)
    counts = {
        "documents": len(chosen),
        "text_items": sum(t is not None for p in chosen for t in p.texts),
        "image_items": sum(i is not None for p in chosen for i in p.images),
        "distinct_images": len(files),
        "distinct_photos": sum(is_photo(root / s) for s in files),
        "missing_images_skipped": sum(p.missing_images for p in chosen),
        "image_bytes": sum((root / s).stat().st_size for s in files),
    }
    write_readme(out, counts, version)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--help-root", type=Path, default=HELP_ROOT, help="gimp-help-en pages")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args()
    if not args.help_root.is_dir():
        raise SystemExit(f"{args.help_root} not found: apt-get install {PACKAGE}")
    counts = build(args.help_root, args.out)
    for key, value in counts.items():
        print(f"{key}: {value}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
