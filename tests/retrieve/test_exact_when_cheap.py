"""Small corpora are searched exactly; a router that cannot be fitted still finds what exact
search finds; the audit runs and is reported on every path (issue 25)."""

from pathlib import Path

import numpy as np
from oracle_quality import exact_search
from synthetic_retrieval import unit, write_images, write_sentences

from realsyn.config import RetrieveConfig, parse_config
from realsyn.executors.local import LocalExecutor
from realsyn.report.html import write_report
from realsyn.retrieve.queries import fallback_nprobe
from realsyn.retrieve.report_steps import REPORT
from realsyn.retrieve.stage import RetrieveStage
from realsyn.stage import Context
from realsyn.workspace import Workspace

DIM = 32


def unstructured(ctx, n_images, n_sentences, seed=0, hub=False):
    """Sentences with no topics and images offset by a shared gap: what the paper's nearest
    centre routes badly (as on real photos), so routed and exact search differ. `hub`: the
    first sentence lies along a wider gap, close to most images (a generic sentence)."""
    rng = np.random.default_rng(seed)
    sentences = unit(rng.standard_normal((n_sentences, DIM))).astype(np.float32)
    gap = (6.0 if hub else 0.8) * unit(rng.standard_normal((1, DIM)))
    if hub:
        sentences[0] = unit(gap)[0]
    images = unit(rng.standard_normal((n_images, DIM)) + gap).astype(np.float32)
    write_sentences(ctx.workspace, sentences, [f"d{i % 50}" for i in range(n_sentences)],
                    shard_size=1000)
    write_images(ctx.workspace, images, [f"i{i}" for i in range(n_images)], shard_size=16)
    return (sentences.astype(np.float16).astype(np.float32),
            images.astype(np.float16).astype(np.float32))


def default_context(tmp_path, retrieve=None):
    """The configuration a new user gets (no retrieve settings unless given)."""
    config = parse_config({"workspace": str(tmp_path / "ws"), "retrieve": retrieve or {},
                           "executor": {"workers": 1}})
    return Context(config=config, workspace=Workspace(config.workspace))


def top3_ids(ctx):
    rows = ctx.workspace.read_dataset("retrieved").to_pylist()
    return {int(r["image_id"][1:]): [int(r[f"sentence_id{j}"][1:]) for j in (1, 2, 3)]
            for r in rows}


def test_a_small_corpus_is_searched_exactly_by_default(tmp_path):
    """30 images x 3,000 sentences (90k products, under the default budget): every image's
    top-3 is exact search's, the stats and the report say the search was exact, the audit ran.
    On the code before (learned routing falling back to the paper's nearest centre with 4 of
    21 lists) most top-3s differ."""
    ctx = default_context(tmp_path)
    sentences, images = unstructured(ctx, 30, 3000)
    stats = LocalExecutor(workers=1).run(RetrieveStage(), ctx)
    _, exact_ids = exact_search(sentences, images, 3)
    found = top3_ids(ctx)
    assert len(found) == 30
    for image, ids in found.items():
        assert ids == exact_ids[image].tolist(), image
    assert stats["search_exact"] == 1 and "routing_fallback_too_few_fit_images" not in stats
    report = ctx.workspace.read_json(REPORT)
    assert report["routing"]["routing"] == "exact"
    assert report["routing"]["lists_probed"] == stats["clusters"]
    assert report["audit"]["audit_queries"] == 15 and report["audit"]["audit_recall@3"] == 1.0


def test_budget_zero_keeps_routed_search(tmp_path):
    ctx = default_context(tmp_path, {"exact_search_max_products": 0,
                                     "routing_fallback_images": 0})
    sentences, images = unstructured(ctx, 30, 3000)
    stats = LocalExecutor(workers=1).run(RetrieveStage(), ctx)
    assert "search_exact" not in stats and stats["routing_fallback_too_few_fit_images"] == 1
    assert ctx.workspace.read_json(REPORT)["routing"]["lists_probed"] == 4
    _, exact_ids = exact_search(sentences, images, 3)
    assert any(ids != exact_ids[i].tolist() for i, ids in top3_ids(ctx).items())


def test_a_router_that_cannot_be_fitted_still_reaches_the_recall_goal(make_context):
    """Routed search (budget 0), 40 images: 20 fit images are fewer than the 32 learned routing
    needs, so it falls back. The audit runs on that path and its recall@3 against exact search
    is >= 0.85 (the code before: the paper's nearest centre, 4 probed lists, far below)."""
    ctx = make_context()
    unstructured(ctx, 40, 3000)
    stats = LocalExecutor(workers=1).run(RetrieveStage(), ctx)
    assert stats["routing_fallback_too_few_fit_images"] == 1
    assert stats["audit_queries"] == 20
    assert stats["audit_recall@3"] >= 0.85
    audit = ctx.workspace.read_json(REPORT)["audit"]
    assert audit["audit_recall@3"] == stats["audit_recall@3"]


def test_fallback_scans_the_audits_share_of_the_lists():
    config = RetrieveConfig()
    assert fallback_nprobe(40, 100, config) == 100  # as cheap as the audit: every list
    assert fallback_nprobe(400, 100, config) == 50  # 200 of 400 images' worth
    assert fallback_nprobe(100_000, 100, config) == config.lists_probed  # at least nprobe
    assert fallback_nprobe(40, 100, RetrieveConfig(routing_fallback_images=0)) == 4


def test_low_recall_and_hub_sentences_are_warned_in_the_report(tmp_path):
    """The paper's fallback, no cap (switches off), on the unstructured corpus: recall@3 below
    0.85, and a sentence that is text1 of more than 5% of the images; both are warned in
    report/retrieve.json, the command's summary and the report page."""
    ctx = default_context(tmp_path, {"exact_search_max_products": 0,
                                     "routing_fallback_images": 0, "max_uses_share": None})
    unstructured(ctx, 40, 3000, hub=True)
    stage = RetrieveStage()
    stats = LocalExecutor(workers=1).run(stage, ctx)
    report = ctx.workspace.read_json(REPORT)
    assert stats["audit_recall@3"] < 0.85 and stats["quality_warnings"] == 2
    assert stats["text1_max_share"] == stats["text1_max_uses"] / stats["retrieved"] > 0.05
    recall_warning, hub_warning = report["warnings"]
    assert f"recall@3 {stats['audit_recall@3']:.3f} is below 0.85" in recall_warning
    assert f"text1 of {100 * stats['text1_max_share']:.1f}% of the images" in hub_warning
    assert f"WARNING: {recall_warning}" in stage.summary(ctx, stats)
    page = Path(write_report(ctx.workspace)).read_text()
    assert page.count('class="reason retrieval-warning"') == 2
    assert f"recall@3\n<b>{stats['audit_recall@3']:.3f}</b>" in page
    # with the defaults the same corpus is searched exactly: nothing to warn about recall
    ctx.workspace.reset_stage("retrieve")
    ctx.config.retrieve.exact_search_max_products = 10**6
    LocalExecutor(workers=1).run(stage, ctx)
    assert not any("recall" in w for w in ctx.workspace.read_json(REPORT)["warnings"])


def test_a_hub_sentence_is_capped_by_default(tmp_path):
    """With the defaults, no sentence is text1 of more than 5% of the images, even a sentence
    close to every image (the code before: no cap, the hub is text1 of most images)."""
    ctx = default_context(tmp_path)
    unstructured(ctx, 60, 3000, hub=True)
    stats = LocalExecutor(workers=1).run(RetrieveStage(), ctx)
    assert stats["search_exact"] == 1 and stats["retrieved"] == 60
    assert stats["text1_max_uses"] == 3 and stats["text1_max_share"] == 0.05
    assert ctx.workspace.read_json(REPORT)["warnings"] == []
    uses = {}
    for row in ctx.workspace.read_dataset("retrieved").to_pylist():
        for j in (1, 2, 3):
            uses[row[f"sentence_id{j}"]] = uses.get(row[f"sentence_id{j}"], 0) + 1
    assert max(uses.values()) == 3  # in any of text1..3: max(3, floor(0.05 x 60))


def test_the_cap_follows_the_share_unless_set():
    assert RetrieveConfig().uses_cap(79) == 3 and RetrieveConfig().uses_cap(10) == 3
    assert RetrieveConfig().uses_cap(349) == 17
    assert RetrieveConfig(max_uses_min=1).uses_cap(10) == 1
    assert RetrieveConfig(max_uses_per_sentence=7).uses_cap(79) == 7
    assert RetrieveConfig(max_uses_share=None).uses_cap(79) is None
    assert not RetrieveConfig(max_uses_share=None).capped
