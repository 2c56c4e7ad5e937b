"""Commands the docs (and the README) mark runnable, with `<!-- runnable -->` on the line before
their code block, run on the sample corpus as written: a renamed command or option, or a step
that stopped working, fails here instead of in a newcomer's shell."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from realsyn.cli import app

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"<!-- runnable -->\s*```[a-z]*\n(.*?)```", re.DOTALL)


def runnable_commands() -> list[tuple[str, str]]:
    """(page, command line) of every runnable block, in page order."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    found = []
    for page in pages:
        for block in BLOCK.findall(page.read_text()):
            found += [(page.relative_to(ROOT).as_posix(), line.strip())
                      for line in block.splitlines() if line.strip()]
    return found


def test_the_docs_mark_the_three_steps_runnable():
    commands = [command for _, command in runnable_commands()]
    assert any(command.startswith("realsyn init examples/sample_corpus") for command in commands)
    assert any(" --dry-run" in command for command in commands)


@pytest.mark.slow
def test_runnable_commands_run_on_the_sample_corpus(tmp_path, monkeypatch):
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)  # the commands name examples/ and write beside it
    for page, command in runnable_commands():
        args = shlex.split(command, comments=True)
        assert args[0] == "realsyn", f"{page}: only realsyn commands are runnable: {command}"
        result = CliRunner().invoke(app, args[1:])
        assert result.exit_code == 0, f"{page}: `{command}` failed:\n{result.output}"
