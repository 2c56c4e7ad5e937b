"""The docs' configuration and CLI references are generated from the code and cover every
config field and every CLI option, each with its description."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel, Field

from realsyn.config import PAPER_VALUES, RealsynConfig
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
