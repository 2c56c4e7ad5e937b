"""Every stage page follows one outline, and every counter it lists is one the code writes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from realsyn.reference import CONFIG_MARKER, config_sections, expand_config_markers

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(path for path in (ROOT / "docs" / "stages").glob("*.md") if path.name != "index.md")
OUTLINE = ["What it does", "The paper's rule", "Beyond the paper", "Config fields", "Counters",
           "Figures"]
SOURCE = "\n".join(path.read_text() for path in (ROOT / "src" / "realsyn").rglob("*.py"))
QUOTE = "[\"']"


def section(page: str, heading: str) -> str:
    return page.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def listed_counters(page: str) -> list[str]:
    """The counters a page's Counters section names: the code spans that open each item, before
    its colon."""
    found = []
    for line in section(page, "Counters").splitlines():
        item = re.match(r"^- (.+?): ", line)
        if item:
            found += re.findall(r"`([^`]+)`", item.group(1))
    return found


def quoted(text: str) -> bool:
    return re.search(QUOTE + re.escape(text) + QUOTE, SOURCE) is not None


def written(counter: str) -> bool:
    """Whether the code writes this counter: its name as a string, or a prefix the code joins
    with a value (`f"dropped_{reason}"`, `"fallback_" + ...`) and the rest as a string. In a name,
    `<x>` stands for the value the code puts there (a family: one member written out is
    enough)."""
    if "<" in counter:
        pattern = re.sub(r"<[a-z]+>", "\x00", counter)
        pattern = re.escape(pattern).replace("\x00", r"\{[^{}]+\}")
        if re.search(QUOTE + pattern + QUOTE, SOURCE):
            return True
        prefix = counter.split("<", 1)[0]  # a family: the code joins the prefix, or spells
        return re.search(QUOTE + re.escape(prefix) + r"(\{|[a-z0-9]\w*" + QUOTE + "|" + QUOTE
                         + ")", SOURCE) is not None  # out members of it, or a constant prefix
    if quoted(counter):
        return True
    cuts = [i + 1 for i, char in enumerate(counter) if char in "_@"]
    for i in cuts:
        prefix = counter[:i]
        if not re.search("f?" + QUOTE + re.escape(prefix) + r"(\{|" + QUOTE + r"\s*\+)", SOURCE):
            continue
        for j in [i, *[cut for cut in cuts if cut > i]]:
            middle, rest = counter[i:j], counter[j:]
            if (not middle or quoted(middle.rstrip("_"))) and quoted(rest):
                return True
    return False


@pytest.mark.parametrize("path", PAGES, ids=lambda path: path.stem)
def test_a_stage_page_follows_the_outline(path):
    page = path.read_text()
    headings = re.findall(r"^## (.+)$", page, re.MULTILINE)
    assert headings == OUTLINE, f"{path.name}: {headings}"


@pytest.mark.parametrize("path", PAGES, ids=lambda path: path.stem)
def test_every_listed_counter_is_written_by_the_code(path):
    counters = listed_counters(path.read_text())
    assert counters, f"{path.name} lists no counters"
    missing = [counter for counter in counters if not written(counter)]
    assert not missing, f"{path.name}: counters the code does not write: {missing}"


@pytest.mark.parametrize("path", PAGES, ids=lambda path: path.stem)
def test_the_config_fields_are_generated_from_real_sections(path):
    page = path.read_text()
    markers = CONFIG_MARKER.findall(section(page, "Config fields"))
    assert markers, f"{path.name}: no generated config table"
    known = {name for name, _, _ in config_sections()}
    for marker in markers:
        assert set(marker.split()) <= known, marker
    expanded = expand_config_markers(page, link="../reference/config.md")
    assert "| field | type | default |" in section(expanded, "Config fields")


def test_the_counter_check_refuses_a_counter_the_code_does_not_write():
    assert written("dropped_too_small")
    assert written("images_failed_<reason>")
    assert not written("dropped_not_a_real_reason_anywhere")
    assert not written("made_up_<reason>")
