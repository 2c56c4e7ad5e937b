"""The completeness filter on labelled documentation sentences of thirteen toolchains.

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
them and tuned on in the ninth, and two more (`haddock`, `gidocgen`), drawn and labelled
while the ninth round was written elsewhere. A set on which a rule was written afterwards is
tuned; docs/stages/extract.md says which set is which (held out today: `docbook_heldout`,
`haddock`, `gidocgen`).

Usage: .venv/bin/python benchmarks/bench_completeness.py
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from realsyn.config import SentenceFilterConfig
from realsyn.extract.completeness import incomplete_reason
from realsyn.extract.sentences import analyse_many, load_parser

DATA = Path(__file__).resolve().parent.parent / "tests" / "extract" / "data"
SETS = ("docbook", "sphinx", "doxygen", "docbook_heldout", "sphinx_heldout", "doxygen_heldout",
        "sphinx_other", "sphinx_third", "sphinx_fourth", "texinfo", "mkdocs", "asciidoc", "groff",
        "pod", "javadoc", "gtkdoc", "qdoc", "haddock", "gidocgen")


def read_set(name: str) -> list[tuple[str, str]]:
    """(label, sentence) rows of a labelled set."""
    rows = (DATA / f"completeness_{name}.tsv").read_text(encoding="utf-8").splitlines()
    return [tuple(row.split("\t", 1)) for row in rows if row]


def measure(rows: list[tuple[str, str]], nlp) -> dict[str, object]:
    """Per label: how many, how many the filter drops, and by which reason."""
    parses = [(a.finite_verb, a.subordinate, a.main_clause, a.relative_noun, a.verb_after_term)
              for a in analyse_many(nlp, [text for _, text in rows])]
    out: dict[str, object] = {}
    for label in "CFX":
        reasons = Counter(incomplete_reason(text, *parse) for (lab, text), parse
                          in zip(rows, parses, strict=True) if lab == label)
        total = sum(reasons.values())
        dropped = total - reasons.pop(None, 0)
        out[label] = {"count": total, "dropped": dropped,
                      "rate": dropped / total if total else None, "reasons": dict(reasons)}
    return out


def main() -> None:
    nlp = load_parser(SentenceFilterConfig().spacy_model)
    print("| set | fragments dropped | complete dropped | other (code) dropped |")
    print("|---|---|---|---|")
    for name in SETS:
        if not (DATA / f"completeness_{name}.tsv").exists():
            continue
        figures = measure(read_set(name), nlp)
        cells = []
        for label in "FCX":
            f = figures[label]
            rate = f"{f['rate']:.3f}" if f["rate"] is not None else "-"
            cells.append(f"{f['dropped']}/{f['count']} = {rate}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
