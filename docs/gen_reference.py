"""Run by mkdocs-gen-files at every `mkdocs build`: the configuration and CLI references are
written from the code (realsyn.reference), never kept by hand in docs/."""

import mkdocs_gen_files

from realsyn.reference import cli_reference, config_reference

with mkdocs_gen_files.open("reference/config.md", "w") as page:
    page.write(config_reference())
with mkdocs_gen_files.open("reference/cli.md", "w") as page:
    page.write(cli_reference())
