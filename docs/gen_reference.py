"""Run by mkdocs-gen-files at every `mkdocs build`: the configuration and CLI references are
written from the code (realsyn.reference), never kept by hand in docs/; so are the settings
tables of the stage pages, where a `<!-- config: SECTION ... -->` line stands, and the mutation
scores of the Testing page, from tests/MUTATION.md."""

from pathlib import Path

import mkdocs_gen_files

from realsyn.reference import (
    MUTATION_MARKER,
    cli_reference,
    config_reference,
    expand_config_markers,
    mutation_scores,
)

with mkdocs_gen_files.open("reference/config.md", "w") as page:
    page.write(config_reference())
with mkdocs_gen_files.open("reference/cli.md", "w") as page:
    page.write(cli_reference())

docs = Path(__file__).parent
for source in sorted((docs / "stages").glob("*.md")):
    text = source.read_text()
    expanded = expand_config_markers(text, link="../reference/config.md")
    if expanded != text:
        with mkdocs_gen_files.open(source.relative_to(docs).as_posix(), "w") as page:
            page.write(expanded)

testing = (docs / "testing.md").read_text()
scores = mutation_scores((docs.parent / "tests" / "MUTATION.md").read_text())
with mkdocs_gen_files.open("testing.md", "w") as page:
    page.write(testing.replace(MUTATION_MARKER, scores))
