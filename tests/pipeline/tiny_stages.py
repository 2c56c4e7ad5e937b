"""Three model-free stages chained through the workspace (numbers -> doubled -> total), fast
enough to run a pipeline many times per test: what `Pipeline` decides is seen in what they
write and in how often they run."""

from __future__ import annotations

import pyarrow as pa
from pydantic import BaseModel

from realsyn import datasets
from realsyn.stage import RECORDS, Context, GlobalStage, Stage

# stage name -> shards processed in this process (workers=1 runs them here)
CALLS: dict[str, int] = {}


def _count(name: str) -> None:
    CALLS[name] = CALLS.get(name, 0) + 1


class Numbers(GlobalStage):
    name = "numbers"

    class Config(BaseModel):
        count: int = 4

    def __init__(self, config: Config | None = None):
        self.config = config or self.Config()

    def writes(self, config):
        return [datasets.dataset("numbers")]

    def fingerprint_extra(self, config):
        return self.config.model_dump()

    def run(self, ctx: Context) -> dict:
        _count(self.name)
        ctx.workspace.write_table("numbers", "all", pa.table({"n": range(self.config.count)}))
        return {RECORDS: self.config.count, "records_out": self.config.count}

    def closing_report(self, ctx):
        return "numbers are ready"


class Doubled(Stage):
    name = "doubled"

    def __init__(self, source: str = "numbers", output: str = "doubled"):
        self.source, self.output = source, output

    def reads(self, config):
        return [datasets.dataset(self.source)]

    def writes(self, config):
        return [datasets.dataset(self.output)]

    def shards(self, ctx):
        return ctx.workspace.shards(self.source)

    def process(self, ctx: Context, shard: str) -> dict:
        _count(self.name)
        values = ctx.workspace.read_table(self.source, shard).column("n").to_pylist()
        ctx.workspace.write_table(self.output, shard, pa.table({"n": [2 * v for v in values]}))
        return {RECORDS: len(values)}

    def closing_report(self, ctx):
        return f"{self.name} closing"


class Total(GlobalStage):
    name = "total"

    def reads(self, config):
        return [datasets.dataset("doubled")]

    def writes(self, config):
        return [datasets.dataset("total")]

    def run(self, ctx: Context) -> dict:
        _count(self.name)
        values = ctx.workspace.read_dataset("doubled").column("n").to_pylist()
        ctx.workspace.write_table("total", "all", pa.table({"sum": [sum(values)]}))
        return {RECORDS: len(values)}


PIPELINE = [{"stage": f"tiny_stages:{cls.__name__}"} for cls in (Numbers, Doubled, Total)]
