"""Three model-free stages chained through the workspace (numbers -> doubled -> total), fast
enough to run a pipeline many times per test: what `Pipeline` decides is seen in what they
write and in how often they run."""

from __future__ import annotations

import pyarrow as pa
from pydantic import BaseModel

from realsyn import datasets
from realsyn.stage import RECORDS, Context, Stage

# stage name -> shards processed in this process (workers=1 runs them here)
CALLS: dict[str, int] = {}


def _count(name: str) -> None:
    CALLS[name] = CALLS.get(name, 0) + 1


class Numbers(Stage):
    name = "numbers"

    class Config(BaseModel):
        count: int = 4

    def __init__(self, config: Config | None = None):
        self.config = config or self.Config()

    def writes(self, config):
        return [datasets.dataset("numbers")]

    def fingerprint_extra(self, config):
        return self.config.model_dump()

    def process(self, ctx: Context, shard: str) -> dict:
        _count(self.name)
        ctx.workspace.write_table("numbers", "all", pa.table({"n": range(self.config.count)}))
        return {RECORDS: self.config.count, "records_out": self.config.count}

    def closing_report(self, ctx):
        return f"numbers are ready: {ctx.workspace.count_rows('numbers')} rows"


class Doubled(Stage):
    name = "doubled"

    def __init__(self, source: str = "numbers", output: str = "doubled", factor: int = 2):
        self.source, self.output, self.factor = source, output, factor

    def reads(self, config):
        return [datasets.dataset(self.source)]

    def writes(self, config):
        return [datasets.dataset(self.output)]

    def fingerprint_extra(self, config):
        return {"factor": self.factor}

    def shards(self, ctx):
        return ctx.workspace.shards(self.source)

    def process(self, ctx: Context, shard: str) -> dict:
        _count(self.name)
        values = ctx.workspace.read_table(self.source, shard).column("n").to_pylist()
        doubled = [self.factor * v for v in values]
        ctx.workspace.write_table(self.output, shard, pa.table({"n": doubled}))
        return {RECORDS: len(values)}

    def summary(self, ctx, stats):
        return f"{ctx.workspace.count_rows(self.output)} rows"

    def closing_report(self, ctx):
        return f"{self.name} closing"


def total_location(config) -> str:
    """Like the writer's output, Total's is set by the config (`write.output`)."""
    return config.write.output or datasets.dataset("total")


class Total(Stage):
    name = "total"

    def reads(self, config):
        return [datasets.dataset("doubled")]

    def writes(self, config):
        return [total_location(config)]

    def process(self, ctx: Context, shard: str) -> dict:
        _count(self.name)
        values = ctx.workspace.read_dataset("doubled").column("n").to_pylist()
        ctx.workspace.write_table("total", "all", pa.table({"sum": [sum(values)]}))
        return {RECORDS: len(values)}


class Audit(Stage):
    """Reads whatever Total wrote, wherever the config put it."""

    name = "audit"

    def reads(self, config):
        return [total_location(config)]

    def process(self, ctx: Context, shard: str) -> dict:
        return {RECORDS: 1}


PIPELINE = [{"stage": f"tiny_stages:{cls.__name__}"} for cls in (Numbers, Doubled, Total)]
