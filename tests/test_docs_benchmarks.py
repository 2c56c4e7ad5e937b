"""The Benchmarks page lists every measured table of the docs: each table's section is linked
from it, with a command and a machine."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown.extensions.toc import slugify

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# Tables that are not measurements, by their header row.
NOT_MEASURED = {
    "| stage | kind | reads | writes |",
    "| config | for |",
    "| Range | Why |",
    "| Input | Unit | What one worker holds at once |",  # ingest work units
    "| model (role) | package (pinned) | upstream and licence | how its bytes are verified |",
    "| script | measures |",
    "| table | corpus (tuned on or measured on) | command | machine |",  # the Benchmarks list
}


def tables(page: str) -> list[tuple[str, str]]:
    """(header row, id of the nearest heading above) of every table of a page."""
    found, heading, previous = [], "", ""
    for line in page.splitlines():
        match = re.match(r"^#{1,6} (.+)$", line)
        if match:
            heading = slugify(re.sub(r"[`*]", "", match.group(1)), "-")
        elif line.startswith("|") and not previous.startswith("|"):
            found.append((line.strip(), heading))
        previous = line
    return found


def benchmark_rows() -> list[list[str]]:
    page = (DOCS / "benchmarks.md").read_text()
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
            for line in page.splitlines() if line.startswith("| [")]


def test_every_measured_table_is_linked_from_the_benchmarks_page():
    links = {re.search(r"\]\(([^)]+)\)", row[0]).group(1) for row in benchmark_rows()}
    missing = []
    for path in sorted(DOCS.rglob("*.md")):
        page = path.relative_to(DOCS).as_posix()
        for header, anchor in tables(path.read_text()):
            if header in NOT_MEASURED:
                continue
            target = f"#{anchor}" if page == "benchmarks.md" else f"{page}#{anchor}"
            if target not in links:
                missing.append(f"{page}: {header[:60]} (section #{anchor})")
    assert not missing, "tables not on the Benchmarks page:\n" + "\n".join(missing)


def test_every_benchmark_row_has_a_corpus_a_command_and_a_machine():
    rows = benchmark_rows()
    assert len(rows) >= 15
    for row in rows:
        assert len(row) == 4 and all(row), row
        assert "`" in row[2], f"no command: {row[0]}"


def test_the_testing_page_takes_the_mutation_scores_from_the_report():
    from realsyn.reference import MUTATION_MARKER, mutation_scores

    assert MUTATION_MARKER in (DOCS / "testing.md").read_text()
    scores = mutation_scores((ROOT / "tests" / "MUTATION.md").read_text())
    assert scores.startswith("| module |")
    assert "\n## " not in scores
    with pytest.raises(ValueError):
        mutation_scores("# Mutation testing\n\nno table\n")
