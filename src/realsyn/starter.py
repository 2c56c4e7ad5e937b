"""`realsyn init PATH`: a starting config for the documents found under PATH.

The formats are detected exactly as `format: auto` detects them (ingest.sources.expand_input),
so what init reports is what a run would read. The example config of the detected format is
the template: its tuned settings (workers, fetch, shard sizes) carry over, its inputs and
workspace are replaced.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from realsyn.config import RealsynConfig, load_config
from realsyn.ingest.sources import FORMAT_KINDS, InputError, expand_input

# The example config for each input format (configs/ in the repository); several formats
# together use `format: auto` on the obelics example, whose fetch settings suit web pages too.
EXAMPLE_CONFIGS = {"obelics": "obelics.yaml", "html": "html_folder.yaml", "warc": "warc.yaml",
                   "pdf": "obelics.yaml", "urls": "obelics.yaml", "auto": "obelics.yaml"}
CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs"


@dataclass
class Survey:
    """What init found under the path: files per reader kind and ignored files by reason."""
    files: Counter = field(default_factory=Counter)
    ignored: dict[str, list[str]] = field(default_factory=dict)

    @property
    def formats(self) -> list[str]:
        return sorted({fmt for fmt, kinds in FORMAT_KINDS.items()
                       if any(kind in kinds for kind in self.files)})


def survey(path: Path) -> Survey:
    files, ignored = expand_input(str(path), "auto")
    if not files:  # nothing to write a config for; say what was there instead
        shown = "; ".join(f"{relpath} ({reason})" for relpath, reason in ignored[:5])
        raise InputError(f"no documents under {path}" + (f"; ignored: {shown}" if shown else ""))
    found = Survey(Counter(file.kind for file in files))
    for relpath, reason in ignored:
        found.ignored.setdefault(reason, []).append(relpath)
    return found


def starting_config(path: Path, found: Survey) -> tuple[dict[str, Any], str]:
    """The example config of the detected format, pointed at PATH, with the workspace beside
    the written config; and the example's name."""
    formats = found.formats
    fmt = formats[0] if len(formats) == 1 else "auto"
    example = EXAMPLE_CONFIGS[fmt]
    data = yaml.safe_load((CONFIGS_DIR / example).read_text())
    data["workspace"] = "./workspace"  # relative paths resolve against the config's folder
    data["inputs"] = [{"path": str(path.resolve()), "format": fmt}]
    return data, example


def write_config(path: Path, output: Path) -> tuple[Survey, str, RealsynConfig]:
    """Survey PATH, write the config to OUTPUT and validate it as `config check` loads it."""
    found = survey(path)
    data, example = starting_config(path, found)
    output.parent.mkdir(parents=True, exist_ok=True)
    header = (f"# Written by `realsyn init {path}` from configs/{example}; every setting not "
              "shown keeps\n# its default (`realsyn config show` prints them all).\n")
    output.write_text(header + yaml.safe_dump(data, sort_keys=False))
    return found, example, load_config(output)


def describe(found: Survey, example: str, output: Path) -> str:
    lines = ["found:"]
    lines += [f"  {count} {kind} file{'s' if count != 1 else ''}"
              for kind, count in sorted(found.files.items())]
    if found.ignored:
        lines.append("ignored:")
        for reason, paths in sorted(found.ignored.items()):
            shown = ", ".join(paths[:3]) + (", ..." if len(paths) > 3 else "")
            lines.append(f"  {len(paths)} {reason}: {shown}")
    lines += [f"wrote {output} (from configs/{example}, format: "
              f"{'auto' if len(found.formats) > 1 else found.formats[0]})",
              f"next: realsyn run {output} --dry-run"]
    return "\n".join(lines)
