"""Warnings for a stage that throws most of its input away.

A stage or filter that drops more than `warn_drop_share` of its input under one reason is
usually misconfigured for the data (a cosine band made for another encoder kept 19 of 349
images), so the run prints one line per such reason, naming the setting that decided it and its
value, and keeps the lines in `report/drop_warnings.json` for the run report.

A stage describes its drops with `Stage.drops(ctx, stats)`; by default every `dropped_<reason>`
counter against `records_in`, with the setting the stage names in `Stage.drop_settings`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from realsyn.workspace import Workspace

DROP_WARNINGS = "report/drop_warnings.json"
DROPPED = "dropped_"


@dataclass(frozen=True)
class Drop:
    reason: str
    dropped: int
    of: int  # the input the reason applied to
    setting: str | None = None  # the dotted config field that decided it, if one did
    value: Any = None

    @property
    def share(self) -> float:
        return self.dropped / self.of if self.of else 0.0


def counted_drops(stats: dict[str, Any], of: int | dict[str, int],
                  settings: dict[str, tuple[str, Any]]) -> list[Drop]:
    """One Drop per non-zero `dropped_<reason>` counter, out of `of` records (a number, or
    the input of each reason)."""
    drops = []
    for key, value in sorted(stats.items()):
        if key.startswith(DROPPED) and isinstance(value, int | float) and value > 0:
            reason = key.removeprefix(DROPPED)
            setting, setting_value = settings.get(reason, (None, None))
            total = of if isinstance(of, int) else of[reason]
            drops.append(Drop(reason, int(value), int(total), setting, setting_value))
    return drops


def heavy(drops: list[Drop], share: float) -> list[Drop]:
    return [drop for drop in drops if drop.share > share]


def warning_line(stage: str, drop: Drop, share: float) -> str:
    decided = (f"decided by {drop.setting}={drop.value}" if drop.setting
               else "decided by the data, not by a setting")
    return (f"warning: {stage} dropped {drop.dropped} of {drop.of} ({drop.share:.0%}) as "
            f"{drop.reason}, more than warn_drop_share={share:g}; {decided}")


def record(workspace: Workspace, stage: str, warnings: list[dict[str, Any]]) -> None:
    """Replace this stage's warnings in the report file (other stages' are kept)."""
    stored = workspace.read_json(DROP_WARNINGS, default={})
    stored.pop(stage, None)
    if warnings:
        stored[stage] = warnings
    if warnings or workspace.exists(DROP_WARNINGS):
        workspace.write_json(DROP_WARNINGS, dict(sorted(stored.items())))


def check(stage: str, drops: list[Drop], share: float, workspace: Workspace) -> list[str]:
    """The warning lines of a finished stage's heavy drops, stored for the report."""
    found = heavy(drops, share)
    lines = [warning_line(stage, drop, share) for drop in found]
    record(workspace, stage, [{**asdict(drop), "share": round(drop.share, 6), "line": line}
                              for drop, line in zip(found, lines, strict=True)])
    return lines
