"""Peak resident memory of one task, for the per-task stats: the process's high-water mark is
reset before the task and read after it (Linux: /proc/self/clear_refs and VmHWM), so a worker
that runs many tasks reports each task's own peak."""

from __future__ import annotations

import resource
import sys

_CLEAR_REFS = "/proc/self/clear_refs"
_STATUS = "/proc/self/status"


def reset_peak() -> bool:
    """Reset this process's peak RSS to its current RSS; False where the OS does not allow it."""
    try:
        with open(_CLEAR_REFS, "w") as handle:
            handle.write("5")  # 5: reset the peak resident set size (proc(5))
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    """This process's peak RSS in MiB since the last reset (else since it started)."""
    try:
        with open(_STATUS) as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux, bytes on macOS
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)
