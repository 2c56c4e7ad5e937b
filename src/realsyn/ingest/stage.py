"""The `ingest` stage: input documents -> datasets `documents`, `images` and `texts`.

`shards()` expands the inputs into a plan of bounded work units (see sources.py) and stores it
in the workspace, so every worker and every resumed run reads the same shard -> work mapping;
a rerun whose inputs changed is refused instead of mixing two corpora. `process()` reads the
shard's units with the reader of each file's kind, in a child process that is killed when a
file runs past `ingest.file_timeout_s` (worker.py), resolves the bytes of every image item
(embedded, local file, data URL, or fetched over http(s)) and writes the three datasets.
Every text item is bounded (`max_text_chars`) and must be text, every image is resolved on
its own: one bad item is counted with its reason and never takes the others with it.
"""

from __future__ import annotations

import json
import posixpath
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pyarrow as pa

from realsyn import datasets, progress
from realsyn.drops import Drop
from realsyn.executors.base import TASK_MEMORY
from realsyn.ingest.fetch import Fetcher
from realsyn.ingest.html import VISIBLE_WORDS_REMOVED, read_html, word_count
from realsyn.ingest.images import (
    OK,
    LocalImages,
    check_image,
    decode_data_url,
    image_meta,
    location_kind,
)
from realsyn.ingest.obelics import read_arrow, read_jsonl, read_parquet
from realsyn.ingest.pdf import read_pdf
from realsyn.ingest.sources import (
    InputFile,
    NoInputFilesError,
    WorkUnit,
    filesystem,
    plan_inputs,
    shard_key,
)
from realsyn.ingest.text import looks_like_text
from realsyn.ingest.urls import read_urls
from realsyn.ingest.warc import read_warc
from realsyn.ingest.worker import shared_reader
from realsyn.records import (
    IMAGE_SCHEMA,
    ITEM_TEXT,
    TEXT_SCHEMA,
    documents_table,
    image_id,
    text_id,
)
from realsyn.stage import RECORDS, Context, Stage

# Per input file, the pages that lost most of their visible text (stages/ingest/files/).
TEXT_LOSS = "pages_losing_text"
TEXT_LOSS_LISTED = 20

Reader = Callable[[WorkUnit, Any, Counter], Iterator[dict[str, Any]]]
READERS: dict[str, Reader] = {
    "parquet": read_parquet,
    "jsonl": read_jsonl,
    "arrow": read_arrow,
    "html": read_html,
    "warc": read_warc,
    "pdf": read_pdf,
    "urls": read_urls,
}
PLAN = "stages/ingest/plan.json"
USER_KIND = "reader:"  # the kind of a file read by the user reader of input spec N: "reader:N"


class InputsChangedError(RuntimeError):
    pass


def _signature(plan: dict[str, Any]) -> list[Any]:
    """What a plan reads, independent of where the inputs are mounted."""
    return [[(u["file"]["relpath"], u["file"]["kind"], u["start"], u["stop"]) for u in shard]
            for shard in plan["shards"]]


def _user_files(path: str, index: int) -> list[InputFile]:
    """Every file of an input read by a user reader (a file, a folder or a glob)."""
    fs, stripped = filesystem(path)
    if fs.isdir(stripped):
        root, paths = stripped, sorted(fs.find(stripped))
    elif fs.isfile(stripped):
        root, paths = posixpath.dirname(stripped), [stripped]
    else:
        root, paths = posixpath.dirname(stripped.split("*")[0]), sorted(fs.glob(stripped))
    local = "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))
    qualify = (lambda p: p) if local else fs.unstrip_protocol
    return [InputFile(qualify(p), qualify(root), posixpath.relpath(p, root),
                      f"{USER_KIND}{index}") for p in paths]


class IngestStage(Stage):
    name = "ingest"
    description: ClassVar[str] = "Read interleaved documents into documents/images/texts."
    config_paths = ("ingest", "executor.shard_size")

    def __init__(self, documents: str = datasets.DOCUMENTS, images: str = datasets.IMAGES,
                 texts: str = datasets.TEXTS) -> None:
        self._plan: dict[str, Any] | None = None
        self.documents, self.images, self.texts = documents, images, texts

    def writes(self, config) -> list[str]:
        return [datasets.dataset(name) for name in (self.documents, self.images, self.texts)]

    def fingerprint_extra(self, config) -> dict[str, Any]:
        # What the inputs hold, not where they are mounted: a moved corpus resumes, a
        # changed one is ingested again.
        try:
            plan = _signature(self._make_plan(config))
        except NoInputFilesError:  # reported when ingest runs; status just sees no inputs
            plan = None
        return {"formats": [spec.format for spec in config.inputs],
                "readers": [spec.reader and spec.reader.model_dump() for spec in config.inputs],
                "plan": plan}

    @staticmethod
    def _make_plan(config) -> dict[str, Any]:
        builtin = [(spec.path, spec.format) for spec in config.inputs if spec.reader is None]
        if builtin or not config.inputs:
            plan = plan_inputs(builtin, config)
        else:  # only user readers: their files are planned below
            plan = {"shards": [], "ignored_files": 0, "ignored_reasons": {}, "files": 0}
        for index, spec in enumerate(config.inputs):
            if spec.reader is not None:
                units = [WorkUnit(file).to_json() for file in _user_files(spec.path, index)]
                step = config.ingest.files_per_shard
                plan["shards"] += [units[i:i + step] for i in range(0, len(units), step)]
                plan["files"] += len(units)
        return plan

    def _reader(self, config, kind: str) -> Reader:
        if not kind.startswith(USER_KIND):
            return READERS[kind]
        from realsyn.plugins import instantiate

        cache = self.__dict__.setdefault("_user_readers", {})
        if kind not in cache:
            spec = config.inputs[int(kind.removeprefix(USER_KIND))].reader
            cache[kind] = instantiate(spec.reader, spec.config)
        return cache[kind]

    # ------------------------------------------------------------------ planning
    def shards(self, ctx: Context) -> list[str]:
        plan = self._make_plan(ctx.config)
        workspace = ctx.workspace
        stored = workspace.read_json(PLAN)
        if stored is not None and _signature(stored) != _signature(plan):
            raise InputsChangedError(
                "the inputs or ingest settings changed since this workspace's ingest began; "
                "run again with --rerun to ingest them from scratch")
        # A fresh ingest (new fingerprint) starts with no markers and an empty staging folder
        # (see executors/base.py): no output shard of an earlier plan outlives it.
        if stored != plan:  # new, or the same inputs mounted elsewhere
            workspace.write_json(PLAN, plan)
        self._plan = plan
        return [shard_key(index) for index in range(len(plan["shards"]))]

    def _units(self, ctx: Context, shard: str) -> tuple[list[WorkUnit], dict[str, Any]]:
        if self._plan is None:
            self._plan = ctx.workspace.read_json(PLAN)
        return [WorkUnit.from_json(u) for u in self._plan["shards"][int(shard)]], self._plan

    # ------------------------------------------------------------------ one shard
    def process(self, ctx: Context, shard: str) -> dict[str, Any]:
        options = ctx.config.ingest
        units, plan = self._units(ctx, shard)
        stats: Counter[str] = Counter()
        per_file: dict[str, dict[str, Any]] = {}
        documents: list[tuple[str, dict[str, Any]]] = []
        reader_process = shared_reader(options.file_timeout_s)
        reader_process.reset_peak()
        for unit in units:
            reader = self._reader(ctx.config, unit.file.kind)
            read, file_stats, error = reader_process.read(reader, unit, options)
            progress.advance(file_stats.get(RECORDS, 0))
            losses: list[dict[str, Any]] = []
            for document in read:
                losses += self._text_loss(document, options, file_stats)
                if self._clean(document, options, file_stats):
                    documents.append((unit.file.root, document))
            stats.update(file_stats)
            key = unit.file.relpath if unit.stop is None and not unit.start else \
                f"{unit.file.relpath}[{unit.start}:{unit.stop}]"
            per_file[key] = {**dict(sorted(file_stats.items())),
                             **({"error": error} if error else {}),
                             **({TEXT_LOSS: losses[:TEXT_LOSS_LISTED]} if losses else {})}
        images, texts = self._split(documents, options, stats)
        stats["documents_out"] += len(documents)
        stats["texts_out"] += len(texts)
        stats["images_out"] += len(images)
        if shard == shard_key(0) and plan.get("ignored_files"):
            stats["files_ignored_not_documents"] += plan["ignored_files"]
        stats.setdefault(RECORDS, 0)
        workspace = ctx.workspace
        workspace.write_table(self.documents, shard,
                              documents_table([d for _, d in documents]))
        # The image bytes, once in Arrow, are not held as Python objects too while written.
        table = pa.Table.from_pylist(images, schema=IMAGE_SCHEMA)
        del images, documents
        workspace.write_table(self.images, shard, table)
        del table
        workspace.write_table(self.texts, shard, pa.Table.from_pylist(texts, schema=TEXT_SCHEMA))
        workspace.write_json(f"stages/ingest/files/{shard}.json", per_file)
        # The reader child's peak beside the worker's (added by the executor): a dict, as
        # peaks are no counters to sum.
        return {**dict(sorted(stats.items())),
                TASK_MEMORY: {"reader_peak_rss_mib": reader_process.peak_rss_mib}}

    @staticmethod
    def _text_loss(document: dict[str, Any], options: Any, stats: Counter[str]
                   ) -> list[dict[str, Any]]:
        """The page, as a one-item list (counted), when the reader removed far more of its
        visible words than it kept (`ingest.text_loss_factor`): a page a browser shows that
        became empty or nearly so. Reads the count the HTML reader left on the document."""
        removed = document.pop(VISIBLE_WORDS_REMOVED, 0)
        if removed < options.text_loss_min_words:  # every non-HTML document: no word counting
            return []
        kept = sum(word_count(item["text"] or "") for item in document["items"]
                   if item["kind"] == ITEM_TEXT)
        if removed <= options.text_loss_factor * kept:
            return []
        stats["documents_mostly_removed" if document["items"]
              else "documents_dropped_empty_with_visible_text"] += 1
        return [{"source": document["source"], "url": document["url"], "words_kept": kept,
                 "words_removed": removed}]

    @staticmethod
    def _clean(document: dict[str, Any], options: Any, stats: Counter[str]) -> bool:
        """Drop too-short, too-long and binary text items, and metadata (alt texts, captions,
        titles) longer than max_text_chars; False (counted) when nothing is left."""
        if len(document["metadata"] or "") > options.max_text_chars:
            document["metadata"] = "{}"
            stats["documents_metadata_dropped_too_long"] += 1
        kept = []
        for item in document["items"]:
            if item["kind"] != ITEM_TEXT:
                if len(item["image_meta"] or "") > options.max_text_chars:
                    item["image_meta"] = "{}"
                    stats["images_meta_dropped_too_long"] += 1
                kept.append(item)
            elif len(item["text"] or "") > options.max_text_chars:
                stats["texts_dropped_too_long"] += 1
            elif len((item["text"] or "").strip()) < max(options.min_text_chars, 1):
                stats["texts_dropped_short"] += 1
            elif not looks_like_text(item["text"]):
                stats["texts_dropped_not_text"] += 1
            else:
                kept.append(item)
        document["items"] = kept
        if not kept:
            stats["documents_dropped_empty"] += 1
            return False
        return True

    # ------------------------------------------------------------------ images and texts
    def _split(self, documents: list[tuple[str, dict[str, Any]]], options: Any,
               stats: Counter[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        local = LocalImages(options.max_image_bytes, options.allow_paths_outside_root)
        images: list[dict[str, Any]] = []
        texts: list[dict[str, Any]] = []
        pending: dict[str, list[int]] = {}
        for root, document in documents:
            doc_id = document["doc_id"]
            for position, item in enumerate(document["items"]):
                if item["kind"] == ITEM_TEXT:
                    texts.append({"text_id": text_id(doc_id, position), "doc_id": doc_id,
                                  "position": position, "text": item["text"]})
                    continue
                url, data = item["image_url"], item["image_bytes"]
                kind = location_kind(url)
                origin, status = "embedded", OK
                if data is None:
                    origin = kind
                    data, status = self._source(kind, root, url, local, options)
                if kind == "data":
                    url = None  # the bytes are the image; do not store them twice
                if status == "pending":
                    pending.setdefault(url, []).append(len(images))
                images.append({
                    "image_id": image_id(doc_id, position, url, data), "doc_id": doc_id,
                    "position": position, "url": url, "bytes": data,
                    "meta": image_meta(item["image_meta"], origin=origin), "status": status})
        if pending:
            results = Fetcher(options.fetch, options.max_image_bytes).fetch_all(pending)
            for url, rows in pending.items():
                result = results[url]
                for row in rows:
                    images[row]["bytes"], images[row]["status"] = result.data, result.status
                    images[row]["meta"].update(
                        {"final_url": result.final_url} if result.final_url != url else {})
                    if result.content_type:
                        images[row]["meta"]["content_type"] = result.content_type
        for row in images:
            if row["status"] == OK:
                row["status"] = check_image(row["bytes"], options.max_image_bytes,
                                            options.max_image_pixels, options.verify_images)
            if row["status"] != OK:
                row["bytes"] = None
            stats[f"images_origin_{row['meta']['origin']}"] += 1
            stats["images_ok" if row["status"] == OK else f"images_failed_{row['status']}"] += 1
            row["meta"] = json.dumps(row["meta"], ensure_ascii=False, sort_keys=True)
        return images, texts

    @staticmethod
    def _source(kind: str, root: str, url: str | None, local: LocalImages, options: Any
                ) -> tuple[bytes | None, str]:
        """Bytes and status of an image item without bytes of its own, by its location."""
        if kind == "data":
            data = decode_data_url(url or "")
            return data, OK if data is not None else "invalid_data_url"
        if kind in ("local", "file"):
            try:
                return local.read(root, url or "")
            except (OSError, ValueError):
                return None, "unreadable_file"
        if kind == "http":
            return None, "pending" if options.fetch.enabled else "not_fetched"
        return None, {"none": "no_source", "invalid": "invalid_url"}.get(kind,
                                                                      "unsupported_scheme")

    def drops(self, ctx: Context, stats: dict[str, Any]) -> list[Drop]:
        """Ingest's losses, each against its own unit: documents left empty, images it could
        not read (of those referenced), page words removed as boilerplate, unreadable files."""
        options = ctx.config.ingest
        inputs = {"documents_dropped_empty": stats.get("documents_out", 0)
                  + stats.get("documents_dropped_empty", 0),
                  "images_failed_": stats.get("images_out", 0),
                  "words_removed_": stats.get("words_kept", 0) + sum(
                      v for k, v in stats.items() if k.startswith("words_removed_")),
                  "files_failed_": stats.get("files_in", 0)}
        settings = {
            "images_failed_path_outside_input_root": ("ingest.allow_paths_outside_root",
                                                      options.allow_paths_outside_root),
            "images_failed_not_fetched": ("ingest.fetch.enabled", options.fetch.enabled),
            "images_failed_too_large": ("ingest.max_image_bytes", options.max_image_bytes),
            "images_failed_too_many_pixels": ("ingest.max_image_pixels",
                                              options.max_image_pixels),
            "files_failed_too_large": ("ingest.max_document_bytes",
                                       options.max_document_bytes)}
        found = []
        for key, value in sorted(stats.items()):
            unit = next((name for name in inputs if key.startswith(name)), None)
            if unit is not None and value:
                found.append(Drop(key, int(value), int(inputs[unit]), *settings.get(
                    key, (None, None))))
        return found

    def summary(self, ctx: Context, stats: dict[str, Any]) -> str:
        failed = {k[len("images_failed_"):]: v for k, v in stats.items()
                  if k.startswith("images_failed_")}
        line = (f"{stats.get('documents_out', 0)} documents, {stats.get('texts_out', 0)} texts, "
                f"{stats.get('images_ok', 0)}/{stats.get('images_out', 0)} images ok")
        if failed:
            line += " (failed: " + ", ".join(f"{k}={v}" for k, v in sorted(failed.items())) + ")"
        problems = {k: v for k, v in stats.items()
                    if k.startswith(("files_failed", "rows_dropped", "records_dropped"))}
        if problems:
            line += "; " + ", ".join(f"{k}={v}" for k, v in sorted(problems.items()))
        return line
