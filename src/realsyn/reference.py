"""The configuration and CLI references of the docs site, generated from the code.

The docs build (docs/gen_reference.py, run by mkdocs-gen-files) writes these pages, so they
cannot drift from the pydantic models and the typer app. A field or option without a
description is an error here, so the build (and tests/test_docs_reference.py) fails on it.
"""

from __future__ import annotations

import json
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from realsyn.config import PAPER_CHOICES, PAPER_VALUE_REASONS, PAPER_VALUES, RealsynConfig


class MissingDescription(ValueError):
    """Fields or options the reference cannot describe."""


@dataclass(frozen=True)
class FieldRow:
    name: str  # dotted path from the top of the config; "[]" marks list items
    type: str
    default: str
    bounds: str
    description: str
    paper: str  # "" when the paper states no value


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return " or ".join(json.dumps(arg) for arg in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(map(_type_name, args))}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def _value(value: Any) -> str:
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value, default=str)  # paths as their text


def _bounds(metadata: list[Any]) -> str:
    signs = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    found = [f"{sign} {_value(getattr(item, key))}" for item in metadata
             for key, sign in signs.items() if getattr(item, key, None) is not None]
    return ", ".join(found)


def _models(annotation: Any) -> list[tuple[type[BaseModel], bool]]:
    """Models inside a field's type, and whether they are list items."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, False)]
    found = []
    for arg in typing.get_args(annotation):
        is_list = typing.get_origin(annotation) is list
        found += [(model, is_list or item) for model, item in _models(arg)]
    return found


def config_sections(model: type[BaseModel] = RealsynConfig,
                    prefix: str = "") -> list[tuple[str, str, list[FieldRow]]]:
    """(section name, section doc, rows) for the model and every model under it, in order."""
    rows, below, missing = [], [], []
    for name, info in model.model_fields.items():
        dotted = prefix + name
        if not info.description:
            missing.append(dotted)
        default = "required" if info.default is PydanticUndefined else _value(info.default)
        paper = _value(PAPER_VALUES[dotted]) if dotted in PAPER_VALUES else ""
        rows.append(FieldRow(dotted, _type_name(info.annotation), default,
                             _bounds(info.metadata), info.description or "", paper))
        for sub, is_list in _models(info.annotation):
            below += config_sections(sub, dotted + ("[]." if is_list else "."))
    if missing:
        raise MissingDescription(f"config fields without a description: {', '.join(missing)}")
    doc = (model.__doc__ or "").strip() if model.__doc__ != BaseModel.__doc__ else ""
    return [(prefix.rstrip(".") or "top level", doc, rows), *below]


def _cell(text: str) -> str:
    """Text for a table cell: pipes escaped, and <...> outside code spans escaped so that
    Markdown does not take `<workspace>` for an HTML tag."""
    parts = text.replace("|", "\\|").replace("\n", " ").split("`")
    return "`".join(part if index % 2 else part.replace("<", "&lt;").replace(">", "&gt;")
                    for index, part in enumerate(parts))


def _anchor(section: str) -> str:
    """The heading id the toc extension gives a section of the configuration reference."""
    return "".join(char for char in section.lower() if char.isalnum() or char in "-_")


def config_table(sections: list[str] | None = None, link: str = "") -> list[str]:
    """Markdown lines of the field tables of these sections (all when None), each under a
    level-2 heading; a stage page passes its own sections and a link to the reference."""
    lines = []
    for section, doc, rows in config_sections():
        if sections is not None and section not in sections:
            continue
        if link:
            lines += [f"### `{section}` ([reference]({link}#{_anchor(section)}))", ""]
        else:
            lines += [f"## {section}", ""]
        if doc:
            lines += [doc, ""]
        lines += ["| field | type | default | bounds | paper | description |",
                  "|---|---|---|---|---|---|"]
        for row in rows:
            paper = "★" if row.paper and row.paper == row.default else row.paper
            cells = [f"`{row.name}`", row.type, f"`{row.default}`", row.bounds, paper,
                     row.description]
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
        lines.append("")
    if sections is not None:
        known = {section for section, _, _ in config_sections()}
        unknown = sorted(set(sections) - known)
        if unknown:
            raise KeyError(f"no such config sections: {', '.join(unknown)}")
    return lines


def paper_values_table() -> list[str]:
    """The paper's values against realsyn's defaults, with the reason wherever they differ,
    and the paper's choices that are no single field's value."""
    rows = {row.name: (section, row) for section, _, rows in config_sections() for row in rows}
    lines = ["| field | paper | realsyn default | why it differs |", "|---|---|---|---|"]
    for name in PAPER_VALUES:
        section, row = rows[name]
        reason = PAPER_VALUE_REASONS.get(name, "")
        cells = [f"[`{name}`](#{_anchor(section)})", f"`{row.paper}`", f"`{row.default}`",
                 reason or "same"]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    lines += ["", "The paper's choices that are no single field's value:", "",
              "| the paper | realsyn |", "|---|---|"]
    lines += [f"| {_cell(paper)} | {_cell(ours)} |" for paper, ours in PAPER_CHOICES.items()]
    return [*lines, ""]


def config_reference() -> str:
    lines = ["# Configuration reference", "",
             "Generated from the pydantic models in `src/realsyn/config.py` when the docs are "
             "built. Every field, its type, default, bounds and description; **paper** marks "
             "the paper's value (★ where realsyn's default is that value, otherwise the "
             "paper's value is given). `realsyn config show CONFIG` prints a resolved config.",
             "", "## The paper's values", "",
             "Every value the paper states for a setting (`PAPER_VALUES` in "
             "`src/realsyn/config.py`, from the spec's sections 1-4), realsyn's default, and "
             "why the default differs where it does (`PAPER_VALUE_REASONS`; "
             "`tests/test_docs_reference.py` fails on a difference without a reason).", ""]
    lines += paper_values_table()
    lines += config_table()
    return "\n".join(lines)


# ---------------------------------------------------------------- the command line
def cli_commands(command=None, path: str = "realsyn") -> list[tuple[str, Any]]:
    """(full name, click command) of every command and group, depth first."""
    if command is None:
        import typer.main

        from realsyn.cli import app
        command = typer.main.get_command(app)
    found = [(path, command)]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found += cli_commands(sub, f"{path} {name}")
    return found


def _param_row(param) -> list[str]:
    if param.param_type_name == "argument":
        name = param.name.upper()
    else:
        name = ", ".join(param.opts + param.secondary_opts)
    default = "required" if param.required else (
        "" if param.default is None else _value(param.default))
    kind = _type_name(param.type_descriptor.annotation)
    limits = [f"{sign} {value}" for sign, value in (("≥", param.min), ("≤", param.max))
              if value is not None]
    if param.multiple:
        kind += " (repeatable)"
    return [f"`{name}`", kind, f"`{default}`" if default else "", ", ".join(limits),
            param.help or ""]


def cli_reference() -> str:
    lines = ["# CLI reference", "",
             "Generated from the typer app in `src/realsyn/cli.py` when the docs are built. "
             "`realsyn COMMAND --help` prints the same.", ""]
    missing = []
    for name, command in cli_commands():
        if not command.help:
            missing.append(name)
        params = [p for p in command.params if p.name != "help"]
        missing += [f"{name} {p.name}" for p in params if not getattr(p, "help", None)]
        lines += [f"## {name}", "", (command.help or "").strip(), ""]
        if params:
            lines += ["| argument or option | type | default | bounds | description |",
                      "|---|---|---|---|---|"]
            lines += ["| " + " | ".join(_cell(cell) for cell in _param_row(p)) + " |"
                      for p in params]
            lines.append("")
        subs = getattr(command, "commands", {})
        if subs:
            lines += ["Commands: " + ", ".join(
                f"[`{sub}`](#{(name + ' ' + sub).replace(' ', '-')})" for sub in sorted(subs)),
                ""]
    if missing:
        raise MissingDescription(f"CLI commands or options without help: {', '.join(missing)}")
    return "\n".join(lines)


CONFIG_MARKER = re.compile(r"^<!-- config: ([^>]+?) -->$", re.MULTILINE)


def expand_config_markers(page: str, link: str) -> str:
    """A docs page with each `<!-- config: SECTION ... -->` line replaced by the generated
    field tables of those config sections (an unknown section is an error)."""
    def table(match: re.Match) -> str:
        return "\n".join(config_table(match.group(1).split(), link=link)).rstrip("\n")
    return CONFIG_MARKER.sub(table, page)


MUTATION_MARKER = "<!-- mutation-scores -->"


def mutation_scores(report: str) -> str:
    """The score table of tests/MUTATION.md (written by `make mutation`) and the notes under it,
    for the Testing page: the part before its first level-2 heading, from the table on."""
    head = report.split("\n## ", 1)[0]
    start = head.find("\n| module |")
    if start < 0:
        raise ValueError("tests/MUTATION.md holds no score table")
    return head[start + 1:].strip("\n")
