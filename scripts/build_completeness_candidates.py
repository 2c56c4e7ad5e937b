"""Draw the sentences of the completeness filter's labelled set from documentation the project
never tuned on, one file per toolchain, for labelling by hand.

Each page is read as `realsyn ingest` reads HTML (ingest/html.py), split as `extract` splits
(nupunkt), and only the sentences that pass the paper's quality filters are candidates (with
`completeness: false`; a fragment the paper already drops needs no second filter). Two strata
per toolchain, drawn by hash (deterministic, spread over the pages): sentences that end a
sentence (. ! ?) and sentences that do not, where fragments concentrate. The rates are computed
per label, so the strata change how many of each label there are, not the rates.

Toolchains (Debian packages): DocBook - debian-handbook (The Debian Administrator's Handbook,
GPL-2.0+ or CC-BY-SA-3.0); Sphinx - python3.11-doc (Python documentation, PSF-2.0); Doxygen -
libjsoncpp-doc (JsonCpp API documentation, MIT or public domain).

Usage: .venv/bin/python scripts/build_completeness_candidates.py [--per-stratum 60]
    writes tests/extract/data/completeness_<toolchain>.unlabelled.tsv; label each row's first
    column C (complete), F (fragment) or X (neither: code, output) and save it as
    completeness_<toolchain>.tsv. The held-out sets, drawn after the rules were written:
    ... --held-out --per-stratum 40 --only docbook
    ... --held-out --per-stratum 40 --pool 6000 --only sphinx doxygen
    The other Sphinx sets: ... --per-stratum 50 --only sphinx_other (and likewise for
    sphinx_third; sphinx_fourth with --per-stratum 100). The Texinfo and MkDocs sets, drawn
    after the fifth round: ... --per-stratum 60 --only texinfo mkdocs. The AsciiDoc and groff
    sets (git-doc and manpages must be installed; groff renders the man pages), drawn during
    the sixth round: ... --per-stratum 60 --only asciidoc groff. The Perl POD and Javadoc sets
    (perl-doc and libcommons-lang3-java-doc must be installed; pod2html renders the POD pages),
    drawn before the seventh round: ... --per-stratum 60 --pool 8000 --only pod javadoc
    The gtk-doc and qdoc sets (libglib2.0-doc and qtbase5-doc-html must be installed), drawn
    before the eighth round: ... --per-stratum 60 --pool 8000 --only gtkdoc qdoc
    The Haddock and gi-docgen sets (libghc-aeson-doc, libghc-megaparsec-doc,
    libghc-optparse-applicative-doc and libgtk-4-doc must be installed), drawn before the ninth
    round: ... --per-stratum 80 --pool 8000 --only haddock gidocgen
    The rustdoc and YARD sets (rust-doc, ruby-mocha-doc and ruby-cri-doc must be installed),
    drawn before the tenth round: ... --per-stratum 120 --pool 8000 --only rustdoc yard
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import re
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from realsyn.config import SentenceFilterConfig
from realsyn.extract.paper_filters import SentenceFilter
from realsyn.extract.sentences import load_parser, split_sentences
from realsyn.ingest.html import PageLocation, parse_page
from realsyn.records import ITEM_TEXT

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT = REPO_ROOT / "tests" / "extract" / "data"
TOOLCHAINS = {
    "docbook": [Path("/usr/share/doc/debian-handbook/html/en-US")],
    "sphinx": [Path("/usr/share/doc/python3.11-doc/html")],
    "doxygen": [Path("/usr/share/doc/libjsoncpp-doc")],
    # Two other Sphinx projects, drawn after the rules' second round: Beautiful Soup's and
    # Black's manuals (python-bs4-doc, MIT; python-black-doc, MIT).
    "sphinx_other": [Path("/usr/share/doc/python-bs4-doc/html"),
                     Path("/usr/share/doc/python-black-doc/html")],
    # And two more, drawn after the Markdown-heading rule: behave's and Bleak's manuals
    # (python-behave-doc, BSD-2-Clause; python-bleak-doc, MIT).
    "sphinx_third": [Path("/usr/share/doc/python-behave-doc/html"),
                     Path("/usr/share/doc/python3-bleak/html")],
    # And two more, drawn after the rules' fourth round (a subordinate clause alone, gerund
    # lines, questions without a verb): Requests' manual and Sphinx's own manual
    # (python-requests-doc, Apache-2.0; sphinx-doc, BSD-2-Clause).
    "sphinx_fourth": [Path("/usr/share/doc/python-requests-doc/html"),
                      Path("/usr/share/doc/sphinx-doc/html")],
    # Two toolchains never used before, drawn after the rules' fifth round: Texinfo, the GNU
    # gettext manual as texi2html made it (gettext-doc 0.21, GFDL-1.2+ with no invariant
    # sections or GPL-2+; only the manual's gettext_*.html pages, not its man pages, Javadoc or
    # C# pages); MkDocs, MkDocs' own manual (mkdocs-doc 1.4, BSD-2-Clause).
    "texinfo": [Path("/usr/share/doc/gettext/gettext_*.html")],
    "mkdocs": [Path("/usr/share/doc/mkdocs/html")],
    # Two more toolchains never used before, drawn after the rules' sixth round was begun and
    # before it ran on them: AsciiDoc, git's manual pages and guides as AsciiDoc made them
    # (git-doc 2.39, GPL-2; only the git*.html pages, whose generator is AsciiDoc, not the
    # DocBook user-manual.html); groff, the overview pages (section 7) of the Linux man-pages
    # project rendered to HTML by groff (manpages 6.03, GPL-2+ for most pages; see
    # MAN_PAGES).
    "asciidoc": [Path("/usr/share/doc/git-doc/git*.html")],
    "groff": [],
    # Two more toolchains never used before, drawn before the rules' seventh round: Perl POD,
    # the Perl 5.36 manual rendered to HTML by pod2html (perl-doc 5.36.0, GPL-1+ or
    # Artistic; see POD_PAGES); Javadoc, the Apache Commons Lang 3 API documentation
    # (libcommons-lang3-java-doc 3.12.0, Apache-2.0; the class and package pages, not the
    # "class-use" cross-reference pages or the highlighted sources in src-html).
    "pod": [],
    "javadoc": [Path("/usr/share/doc/libcommons-lang3-java/api/org")],
    # Two more toolchains never used before, drawn before the rules' eighth round: gtk-doc,
    # the GLib, GIO and GObject reference manuals, written as gtk-doc comments in GLib's C
    # sources and its SGML/XML chapters (libglib2.0-doc 2.74.6, LGPL-2.1+; the HTML is made by
    # gtk-doc through DocBook XSL); qdoc, the Qt 5 base modules' documentation (qtbase5-doc-html
    # 5.15.8: the .qdoc pages GFDL-1.3 with no invariant sections, the comments in the sources
    # LGPL-3 or GPL-2).
    "gtkdoc": [Path("/usr/share/gtk-doc/html/glib"), Path("/usr/share/gtk-doc/html/gio"),
               Path("/usr/share/gtk-doc/html/gobject")],
    "qdoc": [Path("/usr/share/qt5/doc")],
    # Two more toolchains never used before, drawn before the rules' ninth round: Haddock, the
    # module pages of three Haskell libraries' API documentation (libghc-aeson-doc 2.0.3.0,
    # BSD-3-Clause; libghc-megaparsec-doc 9.2.2, BSD-2-Clause; libghc-optparse-applicative-doc
    # 0.16.1.0, BSD-3-Clause; only the pages of modules, whose names open with a capital, not
    # the doc-index pages or the highlighted sources in src); gi-docgen (not gtk-doc), the GTK 4,
    # GDK 4 and GSK 4 reference manuals (libgtk-4-doc 4.8.3, LGPL-2.1+: the docs are made from
    # GTK's sources and its docs/reference Markdown pages).
    "haddock": [Path("/usr/share/doc/libghc-aeson-doc/html/[A-Z]*.html"),
                Path("/usr/share/doc/libghc-megaparsec-doc/html/[A-Z]*.html"),
                Path("/usr/share/doc/libghc-optparse-applicative-doc/html/[A-Z]*.html")],
    "gidocgen": [Path("/usr/share/doc/libgtk-4-doc/gtk4"), Path("/usr/share/doc/libgtk-4-doc/gdk4"),
                 Path("/usr/share/doc/libgtk-4-doc/gsk4")],
    # Two more toolchains never used before, drawn before the rules' tenth round: rustdoc, the
    # Rust standard library's API documentation (rust-doc 1.63.0, MIT or Apache-2.0; only the
    # std crate's pages, not the books made by mdBook, the other crates that std re-exports or
    # the highlighted sources in src); YARD, the API documentation and READMEs of two Ruby
    # libraries (ruby-mocha-doc 1.16.1, Expat or Ruby; ruby-cri-doc 2.15.11, Expat).
    "rustdoc": [Path("/usr/share/doc/rust-doc/html/std")],
    "yard": [Path("/usr/share/doc/ruby-mocha/docs"), Path("/usr/share/doc/ruby-cri/yardoc")],
}
# Pages left out of a toolchain's folder: Javadoc's "Uses of Class X" pages list members
# already drawn from the class pages. rustdoc's all.html and YARD's index and list pages list
# the names of items drawn from their own pages; YARD's licence pages are no documentation.
LEFT_OUT_PARTS = {"javadoc": ("class-use",), "rustdoc": ("all.html",),
                  "yard": ("_index.html", "class_list.html", "method_list.html",
                           "file_list.html", "frames.html", "file.COPYING.html",
                           "file.MIT-LICENSE.html", "file.LICENSE.html")}
# Toolchains whose pages are not HTML: (Debian package, folder of its pages), rendered to HTML
# with groff's HTML device (`groff -t -man -Thtml`, tables through tbl as man(1) would) before
# they are read like the others.
MAN_PAGES = {"groff": ("manpages", "/usr/share/man/man7/")}
# Toolchains whose pages are POD: (Debian package, folder of its .pod files), rendered to HTML
# with pod2html.
POD_PAGES = {"pod": ("perl-doc", "/usr/share/perl/5.36.0/pod/")}
_ENDS = re.compile(r"[.!?][\"')\]]*$")


def page_sentences(roots: list[Path], left_out: tuple[str, ...] = ()) -> list[str]:
    """Every split sentence of the HTML pages under `roots`, in page order, each once; pages
    with a folder named in `left_out` are skipped."""
    seen: dict[str, None] = {}
    for root, page in ((top, page) for top in roots for page in _pages(top)
                       if not set(left_out) & set(page.parts)):
        folder = root if root.is_dir() else root.parent
        items, _ = parse_page(page.read_text(encoding="utf-8", errors="replace"),
                              PageLocation(path=str(page.relative_to(folder))), Counter())
        for item in items:
            if item["kind"] == ITEM_TEXT and item["text"]:
                for sentence in split_sentences(item["text"]):
                    seen.setdefault(sentence, None)
    return list(seen)


def _pages(root: Path) -> list[Path]:
    """The HTML pages under a folder, or those a pattern in the last part of `root` names."""
    return sorted(root.rglob("*.html") if root.is_dir() else root.parent.glob(root.name))


def render_man_pages(package: str, section: str, folder: Path) -> Path:
    """Render the man pages of `package` under `section` to HTML pages in `folder`."""
    listed = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True,
                            check=True).stdout.split()
    for page in sorted(p for p in listed if p.startswith(section) and p.endswith(".gz")):
        source = gzip.decompress(Path(page).read_bytes())
        if source.startswith(b".so "):  # a link to another page, rendered under its own name
            continue
        # cwd: grohtml writes a table or an equation it cannot typeset as text as an image there
        html = subprocess.run(["groff", "-t", "-man", "-Thtml"], input=source, cwd=folder,
                              capture_output=True, check=True).stdout
        (folder / f"{Path(page).name.removesuffix('.gz')}.html").write_bytes(html)
    return folder


def render_pod_pages(package: str, folder_of_pods: str, folder: Path) -> Path:
    """Render the POD files of `package` under `folder_of_pods` to HTML pages in `folder`."""
    listed = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True,
                            check=True).stdout.split()
    for page in sorted(p for p in listed if p.startswith(folder_of_pods) and p.endswith(".pod")):
        # cwd and cachedir: pod2html writes its cache of links there
        subprocess.run(["pod2html", f"--infile={page}", f"--outfile={folder / Path(page).stem}"
                        ".html", f"--cachedir={folder}", "--quiet"], cwd=folder,
                       capture_output=True, check=True)
    return folder


def _rendered(name: str, folder: Path) -> list[Path]:
    """The folder of HTML pages of a toolchain whose pages must be rendered first, else its
    folders as they are."""
    if name in MAN_PAGES:
        return [render_man_pages(*MAN_PAGES[name], folder)]
    if name in POD_PAGES:
        return [render_pod_pages(*POD_PAGES[name], folder)]
    return TOOLCHAINS[name]


def candidates(sentences: list[str], nlp) -> list[str]:
    """The sentences the paper's quality filters keep (no entropy or perplexity needed)."""
    config = SentenceFilterConfig(completeness=False, perplexity_scorer="none")
    kept, _ = SentenceFilter(config, nlp=nlp).run(sentences)
    return [c.text for c in kept if c.dropped is None]


def by_hash(texts: list[str], count: int, salt: str = "") -> list[str]:
    return sorted(texts, key=lambda t: hashlib.sha256((salt + t).encode()).hexdigest())[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-stratum", type=int, default=60)
    parser.add_argument("--only", nargs="*", default=list(TOOLCHAINS), help="toolchains")
    parser.add_argument("--held-out", action="store_true",
                        help="leave out the sentences of the first labelled set "
                        "(completeness_<toolchain>.tsv) and write completeness_<toolchain>"
                        "_heldout.unlabelled.tsv")
    parser.add_argument("--pool", type=int, default=0,
                        help="filter only this many split sentences per toolchain, drawn by "
                        "hash (0: all; the parse of a large manual takes minutes)")
    args = parser.parse_args()
    nlp = load_parser(SentenceFilterConfig().spacy_model)
    for name in args.only:
        with tempfile.TemporaryDirectory() as rendered:
            split = page_sentences(_rendered(name, Path(rendered)), LEFT_OUT_PARTS.get(name, ()))
        if args.held_out:
            seen = {row.split("\t", 1)[1] for row in (OUT / f"completeness_{name}.tsv")
                    .read_text(encoding="utf-8").splitlines() if row}
            split = [s for s in split if s not in seen]
        if args.pool:
            split = by_hash(split, args.pool, salt="pool")
        kept = [t for t in candidates(split, nlp) if t not in seen] if args.held_out else (
            candidates(split, nlp))
        ended = [t for t in kept if _ENDS.search(t)]
        open_ = [t for t in kept if not _ENDS.search(t)]
        chosen = by_hash(ended, args.per_stratum) + by_hash(open_, args.per_stratum)
        path = OUT / f"completeness_{name}{'_heldout' if args.held_out else ''}.unlabelled.tsv"
        path.write_text("".join(f"?\t{t}\n" for t in chosen), encoding="utf-8")
        print(f"{name}: {len(kept)} sentences pass the paper's filters ({len(open_)} without a "
              f"sentence end); {len(chosen)} written to {path.name}")


if __name__ == "__main__":
    main()
