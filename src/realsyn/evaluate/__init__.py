"""`realsyn eval`: CLIP_benchmark's zero-shot classification, zero-shot retrieval and linear
probe on an open_clip checkpoint, one row per dataset and metric in report/eval.json."""

from realsyn.evaluate.datasets import EvalError
from realsyn.evaluate.run import REPORT_PATH, EvalOptions, evaluate, format_rows

__all__ = ["REPORT_PATH", "EvalError", "EvalOptions", "evaluate", "format_rows"]
