"""The `generate` stage (spec section 3): one synthetic sentence per retrieved image.

Reads dataset `retrieved` (image_id, text1..textk, scores, ...) and the image bytes of
`images_final` (joined by image_id); writes dataset `generated` with the same shard keys and
rows: the retrieved columns plus
    caption     the captioner's short literal caption ("" when none)
    tags        JSON list of [tag, score] pairs
    syn_text    the fused sentence, or text1 when generation failed
    syn_status  "ok" or "fallback:<reason>"
No row is ever dropped: a failure falls back to text1, is flagged and counted
(`fallback_<reason>`). With `generate.retry_failed` (CLI `--retry-failed`) only flagged rows
of an existing `generated` shard are redone. Every LLM answer is kept in the request cache,
so a killed run resumes without asking again (`cache_hits` in the stats).
"""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from realsyn import datasets, progress
from realsyn.config import LLMConfig
from realsyn.generate.fusion import clean_output, fusion_messages, normalize_space, parse_tags
from realsyn.generate.images import ImageStore, decode_image
from realsyn.generate.models import CACHE_FOLDER
from realsyn.generate.quality import (
    QualityCounter,
    load_quality_counter,
    lost_facts,
    normalize,
    quality_report,
    report_lines,
)
from realsyn.models.captioners import Caption
from realsyn.models.llm.base import ChatRequest
from realsyn.models.taggers import Tags
from realsyn.stage import RECORDS, Context, Stage

INPUT = datasets.RETRIEVED
OUTPUT = datasets.GENERATED
OK = "ok"
REPORT = "report/generation.json"
GENERATED_FIELDS = [("caption", pa.string()), ("tags", pa.string()), ("syn_text", pa.string()),
                    ("syn_status", pa.string())]


@dataclass
class Prepared:
    """One batch made ready for the LLM: decodable rows, their images, labels and tags."""

    rows: list[int] = field(default_factory=list)
    images: list = field(default_factory=list)
    labels: list | None = None
    tags: list[Tags] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)  # (row, reason)


def fallback(reason: str) -> str:
    return f"fallback:{reason}"


def _report_finished(out: dict[str, list], before: int) -> int:
    """Count the rows that got their final status since `before` as done (a row finishes
    a round after its batch is prepared: fused, or fallen back); returns the new total."""
    finished = sum(status is not None for status in out["syn_status"])
    progress.advance(finished - before)
    return finished


class GenerateStage(Stage):
    name = "generate"
    description = "Caption and tag each image, fuse text1 + caption + tags with an LLM."

    config_paths = ("generate", "embed.encoder")
    reports = (REPORT,)
    caches = (CACHE_FOLDER,)  # the LLM answer cache and the tag miner's nouns

    def __init__(self, retrieved: str = INPUT, images: str = datasets.IMAGES_FINAL,
                 output: str = OUTPUT, sentences: str = datasets.SENTENCES_FINAL) -> None:
        self.models = None
        self.images: ImageStore | None = None
        self.quality: Future[QualityCounter] | None = None
        self._quality_loader: ThreadPoolExecutor | None = None
        self.keep_facts = True
        self.answer_facts: Counter[str] = Counter()
        self.retrieved, self.image_dataset, self.output = retrieved, images, output
        self.sentences = sentences  # where the tag miner finds nouns (generate.mine_tags)

    def reads(self, config) -> list[str]:
        from realsyn.generate.models import mines_tags

        return [datasets.dataset(self.retrieved), datasets.dataset(self.image_dataset)] + (
            [datasets.dataset(self.sentences)] if mines_tags(config) else [])

    def writes(self, config) -> list[str]:
        return [datasets.dataset(self.output)]

    def shards(self, ctx: Context) -> list[str]:
        return ctx.workspace.shards(self.retrieved)

    def setup(self, ctx: Context) -> None:
        from realsyn.generate.models import build_models

        self.models = build_models(ctx.config, ctx.workspace, self.sentences)
        self.images = ImageStore(ctx.workspace, self.image_dataset)
        # spaCy (NER for the quality counts) loads beside the first LLM requests: it is only
        # needed once a shard is generated.
        self.keep_facts = ctx.config.generate.keep_facts
        self._quality_loader = ThreadPoolExecutor(1, thread_name_prefix="generate-quality")
        self.quality = self._quality_loader.submit(
            load_quality_counter, ctx.config.extract.sentences.spacy_model)

    def finalize(self, ctx: Context, stats: dict[str, Any]) -> None:
        ctx.workspace.write_json(REPORT, quality_report(stats))
        if self._quality_loader is not None:
            self._quality_loader.shutdown(wait=False)
        if self.models is not None:
            self.models.close()
            self.models = None

    # ------------------------------------------------------------------ one shard
    def process(self, ctx: Context, shard: str) -> dict[str, Any]:
        if self.models is None:
            self.setup(ctx)
        workspace, gen = ctx.workspace, ctx.config.generate
        table = workspace.read_table(self.retrieved, shard)
        rows = table.num_rows
        progress.expect(rows)
        out = {"caption": [""] * rows, "tags": ["[]"] * rows, "syn_text": [None] * rows,
               "syn_status": [None] * rows}
        todo = list(range(rows))
        stats: Counter[str] = Counter({RECORDS: rows})
        previous = workspace.committed  # the last complete output, not this run's
        if gen.retry_failed and shard in previous.shards(self.output):
            todo = self._keep_finished(previous.read_table(self.output, shard), table, out,
                                       stats)
        text1 = table.column("text1").to_pylist()
        ids = table.column("image_id").to_pylist()
        # A short first batch: the LLM starts after a quarter of a batch is tagged, not all.
        first = max(1, gen.batch_size // 4)
        batches = [todo[:first]] + [todo[start:start + gen.batch_size]
                                    for start in range(first, len(todo), gen.batch_size)]
        stats["wait_for_tags_s"] = round(self._run_batches(batches, ids, text1, out, gen.llm), 3)
        stats.update(self.models.llm.take_counters())
        for client in self.models.clients[1:]:
            stats.update({f"caption_{k}": v for k, v in client.take_counters().items()})
        for status in out["syn_status"]:
            stats["syn_ok" if status == OK else
                  "fallback_" + status.removeprefix("fallback:")] += 1
        # Valid, but the model added nothing from the image: worth watching across a run.
        stats["syn_same_as_text1"] = sum(
            status == OK and normalize_space(syn) == normalize_space(t1)
            for status, syn, t1 in zip(out["syn_status"], out["syn_text"], text1, strict=True))
        stats.update(self.answer_facts)
        self.answer_facts.clear()
        stats.update(self.quality.result().count(
            text1, out["syn_text"], out["caption"],
            [[tag for tag, _ in parse_tags(value)] for value in out["tags"]]))
        columns = {name: table.column(name) for name in table.column_names
                   if name not in dict(GENERATED_FIELDS)}
        for name, kind in GENERATED_FIELDS:
            columns[name] = pa.array(out[name], kind)
        workspace.write_table(self.output, shard, pa.table(columns))
        return dict(stats)

    def _keep_finished(self, previous: pa.Table, table: pa.Table, out: dict[str, list],
                       stats: Counter[str]) -> list[int]:
        """Copy the ok rows of a previous output; return the rows to redo."""
        if previous.num_rows != table.num_rows or previous.column("image_id").to_pylist() \
                != table.column("image_id").to_pylist():
            stats["retry_input_changed"] += 1  # the input moved on: redo the whole shard
            return list(range(table.num_rows))
        old = {name: previous.column(name).to_pylist() for name, _ in GENERATED_FIELDS}
        todo = []
        for i, status in enumerate(old["syn_status"]):
            if status == OK:
                for name in out:
                    out[name][i] = old[name][i]
                stats["retry_kept"] += 1
            else:
                todo.append(i)
        stats["retry_redone"] += len(todo)
        return todo

    # ------------------------------------------------------------------ the pipeline
    # The LLM is the bottleneck, so it must never wait: a helper thread decodes, classifies
    # and tags the next batch while the LLM works on this one, and the captions of the next
    # batch go to the LLM in the same round as this batch's fusions. With one llama.cpp slot
    # the requests then run back to back; with several, captions and fusions share the slots.
    def _run_batches(self, batches: list[list[int]], ids: list[str],
                     text1: list[str | None], out: dict[str, list], llm: LLMConfig) -> float:
        """Returns the seconds the LLM waited for the helper thread (ideally the first,
        short batch only)."""
        captioner = self.models.captioner
        waited = 0.0
        finished = 0  # rows with their final syn_status, for the progress lines
        joint = hasattr(captioner, "caption_requests") and \
            getattr(captioner, "client", None) is self.models.llm
        with ThreadPoolExecutor(1, thread_name_prefix="generate-prepare") as pool:
            ahead = deque(pool.submit(self._prepare, batch, ids) for batch in batches[:2])
            waiting: list[tuple[int, Caption, Tags]] = []  # captioned rows awaiting fusion
            for index in range(len(batches)):
                started = time.perf_counter()
                prepared = ahead.popleft().result()
                waited += time.perf_counter() - started
                if index + 2 < len(batches):
                    ahead.append(pool.submit(self._prepare, batches[index + 2], ids))
                for i, problem in prepared.problems:
                    self._fall_back(out, i, text1[i], problem)
                if joint:
                    captions_asked = (captioner.caption_requests(prepared.images, prepared.labels)
                                      if prepared.rows else [])
                    fusions = self._fusion_requests(waiting, text1, out, llm)
                    answers = self.models.llm.complete_many(fusions + captions_asked)
                    self._finish_fusions(waiting, answers[:len(fusions)], text1, out)
                    captions = captioner.parse(answers[len(fusions):])
                else:
                    fusions = self._fusion_requests(waiting, text1, out, llm)
                    self._finish_fusions(waiting, self.models.llm.complete_many(fusions),
                                         text1, out)
                    captions = (captioner.caption(prepared.images, prepared.labels)
                                if prepared.rows else [])
                waiting = list(zip(prepared.rows, captions, prepared.tags, strict=True))
                finished = _report_finished(out, finished)
            fusions = self._fusion_requests(waiting, text1, out, llm)
            self._finish_fusions(waiting, self.models.llm.complete_many(fusions), text1, out)
            _report_finished(out, finished)
        return waited

    def _prepare(self, batch: list[int], ids: list[str]) -> Prepared:
        """Decode, classify and tag one batch (the helper thread's work; no LLM)."""
        models = self.models
        data = self.images.fetch([ids[i] for i in batch])
        prepared = Prepared()
        for i in batch:
            image, problem = decode_image(data.get(ids[i]))
            if problem:
                prepared.problems.append((i, problem))
            else:
                prepared.rows.append(i)
                prepared.images.append(image)
        if prepared.rows:
            prepared.labels = (models.classifier.top_labels(prepared.images, models.label_count)
                               if models.classifier is not None else None)
            prepared.tags = models.tagger.tag(prepared.images, prepared.labels)
        return prepared

    def _fusion_requests(self, rows: list[tuple[int, Caption, Tags]],
                         text1: list[str | None], out: dict[str, list],
                         llm: LLMConfig) -> list[ChatRequest]:
        """Record the captions and tags of `rows`; flag those that cannot be fused and drop
        them from `rows` (in place); one fusion request per remaining row."""
        requests, fusable = [], []
        for i, caption, tags in rows:
            out["tags"][i] = json.dumps([[t, s] for t, s in tags], ensure_ascii=False)
            out["caption"][i] = caption.text or ""
            if caption.error:
                self._fall_back(out, i, text1[i], caption.error)
            elif not (text1[i] or "").strip():
                self._fall_back(out, i, text1[i], "no_text1")
            else:
                requests.append(ChatRequest.of(
                    fusion_messages(text1[i], caption.text, tags),
                    max_tokens=llm.max_tokens, temperature=llm.temperature, seed=llm.seed))
                fusable.append((i, caption, tags))
        rows[:] = fusable
        return requests

    def _finish_fusions(self, rows: list[tuple[int, Caption, Tags]], answers: list,
                        text1: list[str | None], out: dict[str, list]) -> None:
        facts = (self.quality.result().facts_of([text1[i] for i, _, _ in rows])
                 if self.keep_facts and rows else [set()] * len(rows))
        for (i, caption, tags), answer, row_facts in zip(rows, answers, facts, strict=True):
            if not answer.ok:
                self._fall_back(out, i, text1[i], f"llm_{answer.error}")
                continue
            sentence = clean_output(answer.text)
            problem = self.models.validator.check(sentence, caption.text, tags)
            if not problem and normalize(sentence) != normalize(text1[i] or ""):
                # The LLM's own fidelity, before the guard below (the report's answer figure).
                lost = lost_facts(row_facts, sentence)
                self.answer_facts["quality_answers_rewritten"] += 1
                self.answer_facts["quality_answer_facts"] += len(row_facts)
                self.answer_facts["quality_answer_facts_kept"] += len(row_facts) - len(lost)
                if lost:
                    problem = "lost_fact"  # a name or number of text1 is missing
            if problem:
                self._fall_back(out, i, text1[i], f"invalid_{problem}")
            else:
                out["syn_text"][i] = sentence
                out["syn_status"][i] = OK

    @staticmethod
    def _fall_back(out: dict[str, list], i: int, text1: str | None, reason: str) -> None:
        out["syn_text"][i] = text1 or ""
        out["syn_status"][i] = fallback(reason)

    # ------------------------------------------------------------------ the CLI's lines
    def summary(self, ctx: Context, stats: dict[str, Any]) -> str:
        rows = stats.get(RECORDS, 0)
        ok = stats.get("syn_ok", 0)
        failed = {k: v for k, v in stats.items() if k.startswith("fallback_")}
        line = f"{ok}/{rows} synthetic sentences generated"
        if failed:
            line += "; fell back to text1: " + ", ".join(f"{k[9:]}={v}" for k, v in
                                                       sorted(failed.items()))
        cache = f"llm cache hits={stats.get('cache_hits', 0)} misses={stats.get('cache_misses', 0)}"
        return f"{line}\n{cache}\n{report_lines(quality_report(stats))}"
