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
    column C (complete) or F (fragment) and save it as completeness_<toolchain>.tsv.
"""

from __future__ import annotations

import argparse
import hashlib
import re
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
    "docbook": Path("/usr/share/doc/debian-handbook/html/en-US"),
    "sphinx": Path("/usr/share/doc/python3.11-doc/html"),
    "doxygen": Path("/usr/share/doc/libjsoncpp-doc"),
}
_ENDS = re.compile(r"[.!?][\"')\]]*$")


def page_sentences(root: Path) -> list[str]:
    """Every split sentence of the HTML pages under `root`, in page order, each once."""
    seen: dict[str, None] = {}
    for page in sorted(root.rglob("*.html")):
        items, _ = parse_page(page.read_text(encoding="utf-8", errors="replace"),
                              PageLocation(path=str(page.relative_to(root))), Counter())
        for item in items:
            if item["kind"] == ITEM_TEXT and item["text"]:
                for sentence in split_sentences(item["text"]):
                    seen.setdefault(sentence, None)
    return list(seen)


def candidates(sentences: list[str], nlp) -> list[str]:
    """The sentences the paper's quality filters keep (no entropy or perplexity needed)."""
    config = SentenceFilterConfig(completeness=False, perplexity_scorer="none")
    kept, _ = SentenceFilter(config, nlp=nlp).run(sentences)
    return [c.text for c in kept if c.dropped is None]


def by_hash(texts: list[str], count: int, skip: int = 0) -> list[str]:
    return sorted(texts, key=lambda t: hashlib.sha256(t.encode()).hexdigest())[skip:skip + count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-stratum", type=int, default=60)
    parser.add_argument("--skip", type=int, default=0,
                        help="leave out the first N of each stratum (those of an earlier set)")
    parser.add_argument("--suffix", default="", help="file name suffix, e.g. '_heldout'")
    args = parser.parse_args()
    nlp = load_parser(SentenceFilterConfig().spacy_model)
    for name, root in TOOLCHAINS.items():
        kept = candidates(page_sentences(root), nlp)
        ended = [t for t in kept if _ENDS.search(t)]
        open_ = [t for t in kept if not _ENDS.search(t)]
        chosen = (by_hash(ended, args.per_stratum, args.skip)
                  + by_hash(open_, args.per_stratum, args.skip))
        path = OUT / f"completeness_{name}{args.suffix}.unlabelled.tsv"
        path.write_text("".join(f"?\t{t}\n" for t in chosen), encoding="utf-8")
        print(f"{name}: {len(kept)} sentences pass the paper's filters ({len(open_)} without a "
              f"sentence end); {len(chosen)} written to {path.name}")


if __name__ == "__main__":
    main()
