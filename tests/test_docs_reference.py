"""The docs' configuration and CLI references are generated from the code and cover every
config field and every CLI option, each with its description."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel, Field

from realsyn.config import (
    PAPER_CHOICES,
    PAPER_VALUE_REASONS,
    PAPER_VALUES,
    RealsynConfig,
    parse_config,
)
from realsyn.reference import (
    MissingDescription,
    cli_commands,
    cli_reference,
    config_reference,
    config_sections,
)


def every_field(model: type[BaseModel], prefix: str = "") -> dict[str, str]:
    """Dotted name -> description of every field under the model, walked independently of the
    generator: nested sections by their default's type, list items by the list's item type."""
    found = {}
    for name, info in model.model_fields.items():
        found[prefix + name] = info.description
        annotation = info.annotation
        for candidate, sep in [(annotation, "."), *[(arg, ".") for arg in
                                                    getattr(annotation, "__args__", ())]]:
            for inner in [candidate, *getattr(candidate, "__args__", ())]:
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    is_list = "list[" in str(annotation)
                    found |= every_field(inner, prefix + name + ("[]." if is_list else sep))
    return found


def test_every_config_field_has_a_description_and_a_row():
    page = config_reference()
    fields = every_field(RealsynConfig)
    assert len(fields) > 150
    assert {row.name for _, _, rows in config_sections() for row in rows} == set(fields)
    for name, description in fields.items():
        assert description, f"{name} has no description"
        row = re.search(rf"^\| `{re.escape(name)}` \|.*\|$", page, re.MULTILINE)
        assert row, f"{name} missing from the configuration reference"
        assert description.split()[0].replace("<", "&lt;") in row.group(0)


def test_the_paper_values_are_real_fields_and_marked():
    fields = every_field(RealsynConfig)
    rows = {row.name: row for _, _, rows in config_sections() for row in rows}
    for name in PAPER_VALUES:
        assert name in fields
        assert rows[name].paper
    page = config_reference()
    assert re.search(r"^\| `extract.sentences.max_words` \|.*\| ★ \|", page, re.MULTILINE)
    # realsyn's default window is the n-gram scorer's; the paper's [30, 200] is shown instead
    assert re.search(r"^\| `extract.sentences.max_perplexity` \|.*\| 200 \|", page, re.MULTILINE)


def _default(name: str):
    model, *path = name.split(".")
    section = RealsynConfig()
    for part in [model, *path][:-1]:
        section = getattr(section, part)
    return getattr(section, name.split(".")[-1])


def test_each_paper_value_is_the_default_or_has_a_reason():
    """A paper value that differs from realsyn's default must say why; a reason for a value
    that no longer differs is stale."""
    for name, paper in PAPER_VALUES.items():
        default = _default(name)
        same = default == pytest.approx(paper) if isinstance(paper, float) else default == paper
        if same:
            assert name not in PAPER_VALUE_REASONS, f"{name}: stale reason, default is the paper's"
        else:
            assert PAPER_VALUE_REASONS.get(name), (
                f"{name}: default {default!r} is not the paper's {paper!r} and no reason is given")
    assert set(PAPER_VALUE_REASONS) <= set(PAPER_VALUES)


def test_a_config_with_every_paper_value_is_valid():
    data: dict = {}
    for name, value in PAPER_VALUES.items():
        *sections, field = name.split(".")
        node = data
        for section in sections:
            node = node.setdefault(section, {})
        node[field] = value
    config = parse_config(data)
    for name, value in PAPER_VALUES.items():
        node = config
        for part in name.split("."):
            node = getattr(node, part)
        assert node == (pytest.approx(value) if isinstance(value, float) else value), name


# The spec's thresholds (spec sections 1-4), each with the field that holds it: the paper
# states them as numbers, so each must be in PAPER_VALUES with that number.
SPEC_THRESHOLDS = {
    "extract.images.min_side": 100,            # min(width, height) < 100 px
    "extract.images.min_aspect": 1 / 3,         # aspect ratio < 1/3
    "extract.images.max_aspect": 3,             # or > 3
    "extract.sentences.min_words": 3,           # fewer than 3 words
    "extract.sentences.max_words": 81,          # or more than 81
    "extract.sentences.min_complexity": 1,      # complexity at least C1
    "extract.sentences.min_entropy": 0.3,       # entropy < 0.3
    "extract.sentences.min_perplexity": 30,     # perplexity < 30
    "extract.sentences.max_perplexity": 200,    # or > 200
    "retrieve.sentences_per_cluster": 420,      # 0.84B sentences into 2M clusters
    "retrieve.top_k": 3,                        # top-3 become text1..text3
    "retrieve.nprobe": 1,                       # IVF-Flat searched with one probe
    "generate.mined_tags_max": 4000,            # tag list extended from ~4K to ~8K
    "balance.min_similarity": 0.51,             # band [0.51, 0.61]
    "balance.max_similarity": 0.61,
    "balance.images_per_cluster": 168,          # 168.3M images into 1M clusters
    "balance.cap": 20,                          # t = 20 (RealSyn15M)
}


def test_every_spec_threshold_is_a_marked_paper_value():
    for name, value in SPEC_THRESHOLDS.items():
        assert name in PAPER_VALUES, f"{name}: the paper's {value} is not marked"
        assert PAPER_VALUES[name] == pytest.approx(value), name


def test_the_reference_lists_the_paper_values_with_their_reasons():
    page = config_reference()
    section = page.split("## The paper's values", 1)[1].split("\n## ", 1)[0]
    for name in PAPER_VALUES:
        row = re.search(rf"^\| \[`{re.escape(name)}`\]\(#[a-z_.-]+\) \|.*\|$", section,
                        re.MULTILINE)
        assert row, f"{name} missing from the paper's values"
        reason = PAPER_VALUE_REASONS.get(name)
        assert (reason.split()[0] if reason else "same") in row.group(0)
    for paper in PAPER_CHOICES:
        assert paper.split()[0] in section


def test_a_field_without_description_fails_the_reference():
    class Section(BaseModel):
        documented: int = Field(default=1, description="Has one.")
        bare: int = 2

    class Top(BaseModel):
        part: Section = Field(default=Section(), description="A section.")

    with pytest.raises(MissingDescription, match=r"part\.bare"):
        config_sections(Top)


def test_every_cli_command_and_option_is_in_the_cli_reference():
    page = cli_reference()
    commands = cli_commands()
    names = {name for name, _ in commands}
    assert {"realsyn run", "realsyn init", "realsyn config check", "realsyn train"} <= names
    sections = re.split(r"^## ", page, flags=re.MULTILINE)[1:]
    by_name = {section.split("\n", 1)[0]: section for section in sections}
    for name, command in commands:
        assert command.help, f"{name} has no help"
        section = by_name[name]
        for param in command.params:
            if param.name == "help":
                continue
            assert param.help, f"{name} {param.name} has no help"
            label = param.name.upper() if param.param_type_name == "argument" else param.opts[0]
            assert f"`{label}" in section, f"{name}: {label} missing from the CLI reference"
