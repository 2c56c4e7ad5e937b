"""The retrieve stage's self-checks: routing choice, audit against exact search, reuse of
sentences as text1, and the per-sentence cap."""

from collections import Counter

import numpy as np
import pytest
from oracle_quality import exact_search
from test_retrieve_stage import populate, run

from realsyn.config import ConfigError, parse_config
from realsyn.retrieve.queries import sample_rows
from realsyn.retrieve.report_steps import REPORT


def sentence_vectors(ctx):
    ws = ctx.workspace
    return np.concatenate([np.asarray(ws.read_array("sentences_final", s), np.float32)
                           for s in ws.array_shards("sentences_final")])


def image_vectors(ctx):
    ws = ctx.workspace
    return np.concatenate([np.asarray(ws.read_array("images_final", s), np.float32)
                           for s in ws.array_shards("images_final")])


def test_audit_reports_what_exact_search_says(make_context):
    ctx = make_context({"n_clusters": 6, "nprobe": 1, "routing": "paper", "audit_queries": 20})
    populate(ctx, n_images=80)
    stats = run(ctx)
    _, audit_rows = sample_rows(80, ctx.config.retrieve)
    assert stats["audit_queries"] == len(audit_rows) == 20
    rows = {int(r["image_id"][1:]): r for r in ctx.workspace.read_dataset("retrieved").to_pylist()}
    exact_scores, exact_ids = exact_search(sentence_vectors(ctx), image_vectors(ctx)[audit_rows], 3)
    routed = [[rows[i][f"score{j}"] or 0.0 for j in (1, 2, 3)] for i in audit_rows]
    assert stats["audit_score_ratio"] == pytest.approx(np.sum(routed) / exact_scores.sum(),
                                                       abs=1e-4)
    found = [{int(rows[i][f"sentence_id{j}"][1:]) for j in (1, 2, 3)} for i in audit_rows]
    recall = np.mean([len(f & set(e)) / 3 for f, e in zip(found, exact_ids, strict=True)])
    assert stats["audit_recall@3"] == pytest.approx(recall, abs=1e-4)
    report = ctx.workspace.read_json(REPORT)
    assert report["audit"]["audit_queries"] == 20 and report["audit"]["routing"] == "paper"


def test_every_list_probed_audits_perfect(make_context):
    ctx = make_context({"n_clusters": 4, "lists_per_cluster": 1, "nprobe": 4,
                        "routing_margin": None,
                        "audit_queries": 10})
    populate(ctx)
    stats = run(ctx)
    assert stats["audit_score_ratio"] == 1.0 and stats["audit_recall@3"] == 1.0


def test_learned_routing_is_fitted_reported_and_deterministic(make_context):
    ctx = make_context({"n_clusters": 6, "audit_queries": 20, "routing_fit_images": 100})
    populate(ctx, n_images=140)
    stats = run(ctx)
    assert stats["routing_learned"] == 1 and stats["routing_fit_images"] == 100
    # adaptive routing (the default margin): between one list and nprobe per image
    assert 1 <= stats["audit_lists_per_image"] <= ctx.config.retrieve.lists_probed
    first = ctx.workspace.read_dataset("retrieved")
    ctx.workspace.reset_stage("retrieve")
    again = run(ctx)
    assert ctx.workspace.read_dataset("retrieved").equals(first)
    assert again["audit_score_ratio"] == stats["audit_score_ratio"]
    assert ctx.workspace.read_json(REPORT)["routing"]["routing"] == "learned"


def test_too_few_fit_images_fall_back_to_paper_routing(make_context):
    ctx = make_context({"n_clusters": 4, "routing_min_fit_images": 1000})
    populate(ctx)
    stats = run(ctx)
    assert stats["routing_learned"] == 0 and stats["routing_fallback_too_few_fit_images"] == 1
    assert ctx.workspace.read_json(REPORT)["routing"]["routing"] == "paper"
    assert stats["retrieved"] == 60


def test_text1_reuse_is_reported(make_context):
    ctx = make_context({"n_clusters": 4})
    populate(ctx)
    stats = run(ctx)
    uses = Counter(r["sentence_id1"] for r in ctx.workspace.read_dataset("retrieved").to_pylist())
    assert stats["text1_sentences"] == len(uses)
    assert stats["text1_max_uses"] == max(uses.values()) > 1
    assert stats["images_sharing_text1"] == sum(n for n in uses.values() if n > 1)
    top = ctx.workspace.read_json(REPORT)["text1_reuse"]["top"]
    assert len(top) == 10 and [t["uses"] for t in top] == sorted(uses.values(), reverse=True)[:10]
    assert uses[top[0]["sentence_id"]] == top[0]["uses"]
    assert top[0]["text"] == f"sentence number {top[0]['sentence_id'][1:]}"


def test_sentence_cap_limits_uses_and_keeps_the_best_pairs(make_context):
    ctx = make_context({"n_clusters": 4, "nprobe": 4})
    populate(ctx)
    run(ctx)
    uncapped = ctx.workspace.read_dataset("retrieved").to_pylist()
    assert max(Counter(r[f"sentence_id{j}"] for r in uncapped for j in (1, 2, 3)).values()) > 1
    ctx.workspace.reset_stage("retrieve")
    ctx.config.retrieve.max_uses_per_sentence = 1
    stats = run(ctx)
    rows = ctx.workspace.read_dataset("retrieved").to_pylist()
    used = Counter(r[f"sentence_id{j}"] for r in rows for j in (1, 2, 3) if r[f"text{j}"])
    assert max(used.values()) == 1
    # a sentence keeps the images that score it best, whether or not they end up using it:
    # an image can lose every candidate (counted)
    assert stats["texts_changed_by_cap"] > 0
    assert stats["retrieved"] == len(rows) == 60 - stats["dropped_sentence_cap"] >= 55
    for row in rows:
        scores = [row[f"score{j}"] for j in (1, 2, 3) if row[f"score{j}"] is not None]
        assert scores == sorted(scores, reverse=True)
    # the best pair of all is served first; a sentence goes to the image it matches best
    top = max(uncapped, key=lambda r: r["score1"])
    kept = next(r for r in rows if r["image_id"] == top["image_id"])
    assert kept["sentence_id1"] == top["sentence_id1"]


def test_bad_routing_names_the_field():
    with pytest.raises(ConfigError, match="routing"):
        parse_config({"workspace": "/tmp/x", "retrieve": {"routing": "nearest"}})
    with pytest.raises(ConfigError, match="max_uses_per_sentence"):
        parse_config({"workspace": "/tmp/x", "retrieve": {"max_uses_per_sentence": 0}})
