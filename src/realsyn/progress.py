"""Progress reporting of the executors: the one place that decides how progress is shown."""

from __future__ import annotations

import sys

from tqdm import tqdm


def progress_bar(total: int, initial: int, desc: str) -> tqdm:
    return tqdm(total=total, initial=initial, desc=desc, unit="shard", dynamic_ncols=True,
                disable=not sys.stderr.isatty(), file=sys.stderr)
