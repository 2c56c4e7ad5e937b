"""The record-filter contract, shared by the image and sentence extraction stages.

A filter is a pydantic model (its fields are its parameters, validated the same way from Python
and from YAML) with one method, `keep(record) -> True | reason`: True keeps the record, a string
drops it and is counted as `dropped_<reason>`. A filter that reads a measured value (a parse, a
perplexity) names it in `needs`; the stage measures it, in batches, only for the records that
survived the filters before it. The paper's filters are instances of this contract; a user adds
one by subclassing `RecordFilter` in their own package:

    class NoDigits(RecordFilter):
        max_digits: int = 0

        def keep(self, record):
            digits = sum(ch.isdigit() for ch in record["text"])
            return digits <= self.max_digits or "too_many_digits"
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

Record = dict[str, Any]
# measure(name, records): fills the measurement `name` into each of `records`.
Measure = Callable[[str, list[Record]], None]


class RecordFilter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # Measurements this filter reads, computed by the stage before it runs.
    needs: ClassVar[tuple[str, ...]] = ()

    def keep(self, record: Record) -> bool | str:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Its identity in a stage fingerprint: class and parameters."""
        cls = type(self)
        return {"filter": f"{cls.__module__}:{cls.__qualname__}", **self.model_dump(mode="json")}


def apply_filters(filters: Sequence[RecordFilter], records: list[Record], stats: Counter,
                  measure: Measure | None = None) -> list[tuple[Record, str]]:
    """Run `filters` in order over `records`, setting `record["dropped"]` to the first reason
    that rejects it (None when kept) and counting each drop; returns the rejected records with
    their reasons. A filter's `needs` are measured just before it, over the survivors only."""
    measured: set[str] = set()
    survivors = [record for record in records if record.get("dropped") is None]
    rejected = []
    for record_filter in filters:
        for need in record_filter.needs:
            if need not in measured and measure is not None:
                measure(need, survivors)
                measured.add(need)
        still = []
        for record in survivors:
            verdict = record_filter.keep(record)
            if verdict is True:
                still.append(record)
                continue
            reason = verdict if isinstance(verdict, str) and verdict else \
                type(record_filter).__name__
            record["dropped"] = reason
            stats[f"dropped_{reason}"] += 1
            rejected.append((record, reason))
        survivors = still
    return rejected


def build_filter(dotted: str, params: dict[str, Any]) -> RecordFilter:
    """The filter class named by `dotted` ("package.module:Class"), built from `params`."""
    from realsyn.plugins import PluginError, load_object

    cls = load_object(dotted)
    if not (isinstance(cls, type) and issubclass(cls, RecordFilter)):
        raise PluginError(f"{dotted!r} is not a realsyn.filters.RecordFilter subclass")
    return cls.model_validate(params)
