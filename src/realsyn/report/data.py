"""What the report page shows, gathered from a workspace as plain data (no HTML here).

Every section degrades to None/empty when the stage that feeds it has not run yet.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from realsyn import datasets
from realsyn.drops import DROP_WARNINGS
from realsyn.extract.funnel import IMAGE_STEPS, SENTENCE_STEPS
from realsyn.extract.sentences import QUALITY_REASONS, SEMANTIC_REASONS
from realsyn.generate.fusion import parse_tags
from realsyn.pipeline import STAGES
from realsyn.runlog import timing_path
from realsyn.workspace import Workspace

# The datasets whose rows make the gallery, latest pipeline step first.
GALLERY_SOURCES = (datasets.BALANCED, datasets.GENERATED, datasets.RETRIEVED)


# ---------------------------------------------------------------- funnel
def _sentence_step(reason: str) -> str:
    if reason in QUALITY_REASONS:
        return "after_quality"
    if reason in SEMANTIC_REASONS:
        return "after_semantic"
    return "after_paraphrase_dedup" if "paraphrase" in reason else "after_exact_near_dedup"


def _image_step(reason: str) -> str:
    if "semantic" in reason:
        return "after_semantic_dedup"
    return "after_perceptual_dedup" if "duplicate" in reason else "after_quality"


def funnel_steps(funnel: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per kind, the steps in pipeline order with their count, share of extracted and the drop
    reasons that lead to them (count and share of extracted)."""
    out = {}
    for kind, steps, step_of in (("images", IMAGE_STEPS, _image_step),
                                 ("sentences", SENTENCE_STEPS, _sentence_step)):
        counts = funnel.get(kind) or {}
        drops = funnel.get(f"{kind[:-1]}_drops") or {}
        first = max(1, counts.get("extracted", 0))
        rows = []
        for step in steps:
            if step not in counts:
                continue
            reasons = [{"reason": reason, "count": count, "share": count / first}
                       for reason, count in sorted(drops.items(), key=lambda kv: -kv[1])
                       if step_of(reason) == step]
            rows.append({"step": step, "count": counts[step], "share": counts[step] / first,
                         "drops": reasons})
        out[kind] = rows
    return out


# ---------------------------------------------------------------- stage timings
def stage_timings(workspace: Workspace) -> list[dict[str, Any]]:
    """Wall time and records/s per finished stage: the run log's timing of the last run that
    did the stage's work, else the sum of per-shard `wall_s` in its stats (worker seconds)."""
    rows = []
    for stage in STAGES:
        stats = workspace.stage_stats(stage)
        timing = workspace.read_json(timing_path(stage), {})
        if not stats and not timing:
            continue
        records = stats.get("records_in") or timing.get("records_in") or 0
        if timing.get("wall_s") is not None:
            wall, source = float(timing["wall_s"]), "run wall time"
        elif stats.get("wall_s") is not None:
            wall, source = float(stats["wall_s"]), "sum over shards"
        else:
            wall, source = None, "not recorded"
        rate = records / wall if wall else None
        rows.append({"stage": stage, "records": records, "wall_s": wall, "rate": rate,
                     "source": source, "counters": stats})
    return rows


# ---------------------------------------------------------------- retrieval and generation
def _score_columns(table: pa.Table) -> list[str]:
    return [name for name in ("score1", "score2", "score3") if name in table.column_names]


def retrieval_stats(table: pa.Table | None, most: int = 10) -> dict[str, Any] | None:
    if table is None or table.num_rows == 0:
        return None
    scores = {name: np.asarray(table.column(name).cast(pa.float64()).fill_null(np.nan)
                               .to_numpy(), dtype=np.float64) for name in _score_columns(table)}
    uses: Counter[str] = Counter()
    text_of: dict[str, str] = {}
    for k in (1, 2, 3):
        if f"sentence_id{k}" not in table.column_names:
            continue
        for sentence, text in zip(table.column(f"sentence_id{k}").to_pylist(),
                                  table.column(f"text{k}").to_pylist(), strict=True):
            if sentence:
                uses[sentence] += 1
                text_of[sentence] = text
    images_per_sentence = Counter(uses.values())
    own = None
    if "sentence_doc_id1" in table.column_names and "doc_id" in table.column_names:
        same = pc.equal(table.column("sentence_doc_id1"), table.column("doc_id"))
        own = pc.sum(same.fill_null(False).cast(pa.int64())).as_py() / table.num_rows
    return {
        "images": table.num_rows,
        "scores": {name: values[np.isfinite(values)].tolist() for name, values in scores.items()},
        "score_means": {name: float(np.nanmean(values)) if np.isfinite(values).any() else None
                        for name, values in scores.items()},
        "distinct_sentences": len(uses),
        "reused_sentences": sum(1 for count in uses.values() if count > 1),
        "uses_histogram": sorted(images_per_sentence.items()),
        "most_reused": [{"text": text_of[s], "uses": n} for s, n in uses.most_common(most)
                        if n > 1],
        "own_document_share": own,
    }


def retrieval_checks(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """The retrieve stage's self-checks: how it searched, the audit's recall against exact
    search, the largest share of images one text1 serves, and its warnings."""
    if not report:
        return None
    stats, audit = report.get("stats") or {}, report.get("audit") or {}
    recall = next((value for key, value in audit.items() if key.startswith("audit_recall@")),
                  None)
    return {"routing": (report.get("routing") or {}).get("routing"),
            "lists_probed": (report.get("routing") or {}).get("lists_probed"),
            "audit_queries": audit.get("audit_queries", 0), "audit_recall": recall,
            "audit_score_ratio": audit.get("audit_score_ratio"),
            "text1_max_share": stats.get("text1_max_share"),
            "warnings": report.get("warnings") or []}


def generation_stats(table: pa.Table | None, stats: dict[str, Any]) -> dict[str, Any] | None:
    if table is None or table.num_rows == 0 or "syn_text" not in table.column_names:
        return None
    text1 = table.column("text1").to_pylist()
    syn = table.column("syn_text").to_pylist()
    status = (table.column("syn_status").to_pylist() if "syn_status" in table.column_names
              else ["ok"] * table.num_rows)
    same = sum(1 for a, b in zip(text1, syn, strict=True)
               if (a or "").split() == (b or "").split())
    changes = [len((b or "").split()) - len((a or "").split())
               for a, b, s in zip(text1, syn, status, strict=True) if s == "ok"]
    fallbacks = Counter(s.removeprefix("fallback:") for s in status if s and s != "ok")
    return {
        "rows": table.num_rows,
        "same_as_text1": same,
        "same_share": same / table.num_rows,
        "fallbacks": sorted(fallbacks.items(), key=lambda kv: -kv[1]),
        "fallback_total": sum(fallbacks.values()),
        "mean_length_change_words": float(np.mean(changes)) if changes else None,
        "mean_text1_words": float(np.mean([len((t or "").split()) for t in text1])),
        "llm_requests": stats.get("llm_requests", 0) + stats.get("caption_llm_requests", 0),
        "cache_hits": stats.get("cache_hits", 0),
    }


# ---------------------------------------------------------------- gallery
def read_optional(workspace: Workspace, dataset: str) -> pa.Table | None:
    return workspace.read_dataset(dataset) if workspace.shards(dataset) else None


def image_bytes(workspace: Workspace, wanted: set[str]) -> dict[str, bytes]:
    """Bytes of the wanted images from the latest image dataset that exists."""
    found: dict[str, bytes] = {}
    for dataset in (datasets.IMAGES_FINAL, datasets.IMAGES_DEDUP, datasets.IMAGES_FILTERED,
                    datasets.IMAGES):
        if not workspace.shards(dataset):
            continue
        for _, table in workspace.iter_tables(dataset, ["image_id", "bytes"]):
            mask = pc.is_in(table.column("image_id"), value_set=pa.array(sorted(wanted)))
            chosen = table.filter(mask)
            found.update(zip(chosen.column("image_id").to_pylist(),
                             chosen.column("bytes").to_pylist(), strict=True))
        return found
    return found


def documents(workspace: Workspace, wanted: set[str]) -> dict[str, dict[str, Any]]:
    """url and source of the wanted documents."""
    if not wanted or not workspace.shards(datasets.DOCUMENTS):
        return {}
    out = {}
    for _, table in workspace.iter_tables(datasets.DOCUMENTS, ["doc_id", "url", "source"]):
        chosen = table.filter(pc.is_in(table.column("doc_id"), value_set=pa.array(sorted(wanted))))
        out.update({row["doc_id"]: row for row in chosen.to_pylist()})
    return out


def sample_card(row: dict[str, Any], docs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    doc = docs.get(row.get("doc_id"), {})
    texts = []
    for k in (1, 2, 3):
        if row.get(f"text{k}") is not None:
            texts.append({"name": f"text{k}", "text": row[f"text{k}"],
                          "score": row.get(f"score{k}"),
                          "own_document": row.get(f"sentence_doc_id{k}") == row.get("doc_id")})
    return {
        "image_id": row["image_id"], "url": row.get("url"), "doc_id": row.get("doc_id"),
        "doc_url": doc.get("url"), "doc_source": doc.get("source"), "texts": texts,
        "caption": row.get("caption"), "tags": parse_tags(row.get("tags")),
        "syn_text": row.get("syn_text"), "syn_status": row.get("syn_status"),
        "cluster": row.get("balance_cluster"), "balance_score": row.get("balance_score"),
        "image_cluster": row.get("image_cluster_id"),
    }


def gallery(workspace: Workspace, limit: int, balance: dict[str, Any] | None
            ) -> dict[str, Any]:
    """The first `limit` samples of the latest dataset, and the rows balance dropped (from
    `generated`) with their reason."""
    source, rows = None, []
    for dataset in GALLERY_SOURCES:
        if workspace.shards(dataset):
            source = dataset
            rows = workspace.read_dataset(dataset).slice(0, limit).to_pylist()
            break
    dropped_rows = []
    examples = (balance or {}).get("dropped_examples") or []
    if examples and workspace.shards(datasets.GENERATED):
        reason_of = {e["image_id"]: e for e in examples}
        generated = workspace.read_dataset(datasets.GENERATED)
        chosen = generated.filter(pc.is_in(generated.column("image_id"),
                                           value_set=pa.array(sorted(reason_of))))
        for row in chosen.to_pylist():
            example = reason_of[row["image_id"]]
            dropped_rows.append({**row, "drop_reason": example["reason"],
                                 "drop_score": example.get("score")})
        order = {e["image_id"]: i for i, e in enumerate(examples)}
        dropped_rows.sort(key=lambda r: order[r["image_id"]])
    wanted = {r["image_id"] for r in rows + dropped_rows}
    docs = documents(workspace, {r.get("doc_id") for r in rows + dropped_rows} - {None})
    cards = [sample_card(r, docs) for r in rows]
    dropped = [{**sample_card(r, docs), "reason": r["drop_reason"], "score": r["drop_score"]}
               for r in dropped_rows]
    return {"source": source, "cards": cards, "dropped": dropped,
            "images": image_bytes(workspace, wanted) if wanted else {}}


# ---------------------------------------------------------------- everything
def collect(workspace: Workspace, limit: int = 48) -> dict[str, Any]:
    funnel = workspace.read_json("report/funnel.json")
    balance = workspace.read_json("report/balance.json")
    retrieved = read_optional(workspace, datasets.RETRIEVED)
    generated = read_optional(workspace, datasets.GENERATED)
    return {
        "workspace": workspace.url,
        "funnel": funnel,
        "funnel_steps": funnel_steps(funnel) if funnel else None,
        "balance": balance,
        "drop_warnings": workspace.read_json(DROP_WARNINGS),
        "timings": stage_timings(workspace),
        "retrieval": retrieval_stats(retrieved),
        "retrieval_checks": retrieval_checks(workspace.read_json("report/retrieve.json")),
        "generation": generation_stats(generated, workspace.stage_stats("generate")),
        "generation_quality": workspace.read_json("report/generation.json"),
        "gallery": gallery(workspace, limit, balance),
        "train": workspace.read_json("report/train.json"),
        "eval": workspace.read_json("report/eval.json"),
    }
