"""The completeness filter on labelled documentation sentences of fifteen toolchains.

Each set (tests/extract/data/completeness_<set>.tsv) holds sentences that pass the paper's
quality filters, drawn by scripts/build_completeness_candidates.py and labelled by hand:
C complete sentence, F fragment (heading, lead-in ending in a colon, cut clause, list stub,
verbless phrase), X neither (code, command output: what this filter is not for; counted apart).
The rules were written on the DocBook set (`docbook`) and the first Sphinx and Doxygen sets
(`sphinx`, `doxygen`); the `*_heldout` sets were drawn after that, from other sentences of the
same packages, and labelled before the rules were run on them; then three sets of other Sphinx
projects (`sphinx_other`, `sphinx_third`, `sphinx_fourth`), each drawn and labelled after a
round of rules, and two sets of toolchains never used before (`texinfo`, `mkdocs`), drawn and
labelled after the fifth round and tuned on in the sixth, two more (`asciidoc`, `groff`),
drawn and labelled before the sixth round ran on them and tuned on in the seventh, two more
(`pod`, `javadoc`), drawn and labelled before the seventh round ran on them and tuned on in the
eighth, and two more (`gtkdoc`, `qdoc`), drawn and labelled before the eighth round ran on
them and tuned on in the ninth, two more (`haddock`, `gidocgen`), drawn and labelled while the
ninth round was written elsewhere and tuned on in the tenth, and two more (`rustdoc`, `yard`),
drawn and labelled before the tenth round ran on them. A set on which a rule was written
afterwards is tuned; docs/stages/extract.md says which set is which (held out today:
`docbook_heldout`, `rustdoc`, `yard`).

Usage: .venv/bin/python benchmarks/bench_completeness.py
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path

from realsyn.config import SentenceFilterConfig
from realsyn.extract.completeness import incomplete_reason
from realsyn.extract.sentences import analyse_many, load_parser

DATA = Path(__file__).resolve().parent.parent / "tests" / "extract" / "data"
SETS = ("docbook", "sphinx", "doxygen", "docbook_heldout", "sphinx_heldout", "doxygen_heldout",
        "sphinx_other", "sphinx_third", "sphinx_fourth", "texinfo", "mkdocs", "asciidoc", "groff",
        "pod", "javadoc", "gtkdoc", "qdoc", "haddock", "gidocgen", "rustdoc", "yard")


# Kinds of fragment (tests/extract/data/completeness_fragment_kinds.tsv, labelled by hand
# from the text alone): the five that issue 25 lists, and verbless phrases, which it does not
# (docs/stages/extract.md, "Kinds of fragment").
KINDS_FILE = DATA / "completeness_fragment_kinds.tsv"
LISTED_KINDS = ("unbalanced", "colon", "heading", "list", "cut")
PHRASE = "phrase"


@cache
def read_kind_rows() -> tuple[tuple[str, str, str], ...]:
    """(set, kind, sentence) of every labelled fragment (none when the file is absent)."""
    if not KINDS_FILE.exists():
        return ()
    return tuple(tuple(row.split("\t", 2))
                 for row in KINDS_FILE.read_text(encoding="utf-8").splitlines()
                 if row and not row.startswith("#"))


def read_kinds(name: str) -> dict[str, str]:
    """{sentence: kind} of a labelled set's fragments (empty when none are labelled)."""
    return {sentence: kind for set_name, kind, sentence in read_kind_rows() if set_name == name}


def read_set(name: str) -> list[tuple[str, str]]:
    """(label, sentence) rows of a labelled set."""
    rows = (DATA / f"completeness_{name}.tsv").read_text(encoding="utf-8").splitlines()
    return [tuple(row.split("\t", 1)) for row in rows if row]


def measure(rows: list[tuple[str, str]], nlp,
            kinds: dict[str, str] | None = None) -> dict[str, object]:
    """Per label: how many, how many the filter drops, and by which reason; with `kinds`, the
    fragments' figures per kind too ("kinds": {kind: [dropped, count]})."""
    analyses = analyse_many(nlp, [text for _, text in rows])
    reasons_of = [incomplete_reason(text, *analysis.completeness_facts) for (_, text), analysis
                  in zip(rows, analyses, strict=True)]
    out: dict[str, object] = {}
    for label in "CFX":
        reasons = Counter(reason for (lab, _), reason in zip(rows, reasons_of, strict=True)
                          if lab == label)
        total = sum(reasons.values())
        dropped = total - reasons.pop(None, 0)
        out[label] = {"count": total, "dropped": dropped,
                      "rate": dropped / total if total else None, "reasons": dict(reasons)}
    if kinds:
        by_kind: dict[str, list[int]] = {}
        for (lab, text), reason in zip(rows, reasons_of, strict=True):
            if lab == "F":
                figures = by_kind.setdefault(kinds[text], [0, 0])
                figures[0] += reason is not None
                figures[1] += 1
        out["F"]["kinds"] = by_kind
    return out


def listed_and_phrases(kinds: dict[str, list[int]]) -> tuple[list[int], list[int]]:
    """([dropped, count] of the kinds issue 25 lists, [dropped, count] of verbless phrases)."""
    listed = [sum(kinds.get(kind, [0, 0])[i] for kind in LISTED_KINDS) for i in (0, 1)]
    return listed, kinds.get(PHRASE, [0, 0])


def main() -> None:
    nlp = load_parser(SentenceFilterConfig().spacy_model)
    print("| set | fragments dropped | complete dropped | other (code) dropped "
          "| fragments of the kinds issue 25 lists dropped | verbless phrases dropped |")
    print("|---|---|---|---|---|---|")
    for name in SETS:
        if not (DATA / f"completeness_{name}.tsv").exists():
            continue
        figures = measure(read_set(name), nlp, read_kinds(name))
        cells = [_cell(figures[label]["dropped"], figures[label]["count"]) for label in "FCX"]
        if "kinds" in figures["F"]:
            cells += [_cell(*pair) for pair in listed_and_phrases(figures["F"]["kinds"])]
        else:
            cells += ["-", "-"]
        print(f"| {name} | " + " | ".join(cells) + " |")


def _cell(dropped: int, count: int) -> str:
    return f"{dropped}/{count} = {dropped / count:.3f}" if count else "-"


if __name__ == "__main__":
    main()
