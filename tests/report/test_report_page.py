"""The content of the report page on a finished workspace (the browser test checks rendering)."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa

from realsyn.report import data
from realsyn.report.html import write_report


def _page(workspace) -> str:
    return Path(write_report(workspace)).read_text()


def test_page_is_self_contained(finished_workspace):
    page = _page(finished_workspace[1])
    assert "<link" not in page and "<script src" not in page and "@import" not in page
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', page)
    assert sources and all(s.startswith(("data:image/svg+xml;base64,", "data:image/jpeg;base64,"))
                           for s in sources)


def test_funnel_steps_are_in_pipeline_order_with_their_drop_reasons(finished_workspace):
    funnel = finished_workspace[1].read_json("report/funnel.json")
    steps = data.funnel_steps(funnel)
    assert [s["step"] for s in steps["images"]] == list(data.IMAGE_STEPS)
    assert [s["step"] for s in steps["sentences"]] == list(data.SENTENCE_STEPS)
    reasons = {s["step"]: [d["reason"] for d in s["drops"]] for s in steps["sentences"]}
    assert reasons["after_quality"] == ["too_few_words", "no_action"]
    assert reasons["after_semantic"] == ["low_perplexity", "high_perplexity"]
    assert reasons["after_paraphrase_dedup"] == ["paraphrase"]
    images = {s["step"]: s for s in steps["images"]}
    assert [d["reason"] for d in images["after_semantic_dedup"]["drops"]] == [
        "semantic_duplicate"]
    too_small = images["after_quality"]["drops"][0]
    assert too_small["reason"] == "too_small" and too_small["count"] == 91
    assert abs(too_small["share"] - 91 / 431) < 1e-9
    page = _page(finished_workspace[1])
    assert "too_small: 91 (21.1%)" in page
    # alphabetical order would put after_dedup first; the page follows the pipeline
    assert page.index('data-step="extracted"') < page.index('data-step="after_quality"') \
        < page.index('data-step="after_perceptual_dedup"')


def test_balance_section_gives_each_side_and_the_entropies(finished_workspace):
    workspace = finished_workspace[1]
    balance = workspace.read_json("report/balance.json")
    stats = balance["stats"]
    page = _page(workspace)
    below = 100 * stats["dropped_below_band"] / stats["records_in"]
    assert f"{stats['dropped_below_band']} fell below the band ({below:.1f}%)" in page
    assert f"entropy {balance['clusters_before']['entropy_bits']:.3f} bits before" in page
    ranks = balance["clusters_before"]["rank_sizes"]
    assert ranks[0][0] == 1 and ranks[0][1] == balance["clusters_before"]["max"]
    assert [r[1] for r in ranks] == sorted((r[1] for r in ranks), reverse=True)


def test_balance_dropped_rows_are_shown_apart_with_their_reason(finished_workspace):
    workspace = finished_workspace[1]
    balance = workspace.read_json("report/balance.json")
    report = data.collect(workspace)
    dropped = report["gallery"]["dropped"]
    assert {d["reason"] for d in dropped} == {e["reason"] for e in balance["dropped_examples"]}
    assert {"below_band", "above_band", "cluster_cap"} <= {d["reason"] for d in dropped}
    kept = set(workspace.read_dataset("balanced").column("image_id").to_pylist())
    assert not kept & {d["image_id"] for d in dropped}
    below = next(d for d in dropped if d["reason"] == "below_band")
    assert below["score"] < balance["band"][0]
    assert "dropped: below band (score" in _page(workspace)


def test_gallery_cards_carry_url_document_texts_and_cluster(finished_workspace):
    workspace = finished_workspace[1]
    card = data.collect(workspace)["gallery"]["cards"][0]
    row = workspace.read_dataset("balanced").slice(0, 1).to_pylist()[0]
    assert card["url"] == row["url"] and card["cluster"] == row["balance_cluster"]
    assert card["doc_url"].startswith("https://docs.example.org/")
    assert card["doc_source"].startswith("sample.parquet#row=")
    assert [t["name"] for t in card["texts"]] == ["text1", "text2", "text3"]
    assert card["caption"] and card["tags"][0][1] == 0.61 and card["syn_text"]
    page = _page(workspace)
    assert f'<a href="{row["url"]}">' in page and card["doc_url"] in page


def test_retrieval_and_generation_statistics(finished_workspace):
    workspace = finished_workspace[1]
    retrieved = workspace.read_dataset("retrieved")
    stats = data.retrieval_stats(retrieved)
    own = sum(a == b for a, b in zip(retrieved.column("doc_id").to_pylist(),
                                     retrieved.column("sentence_doc_id1").to_pylist(),
                                     strict=True))
    assert stats["own_document_share"] == own / retrieved.num_rows
    uses = stats["most_reused"]
    assert uses == sorted(uses, key=lambda u: -u["uses"]) and uses[0]["uses"] > 1
    assert sum(n for _, n in stats["uses_histogram"]) == stats["distinct_sentences"]
    generated = workspace.read_dataset("generated")
    gen = data.generation_stats(generated, {})
    status = generated.column("syn_status").to_pylist()
    assert gen["fallbacks"] == [("too_long", status.count("fallback:too_long"))]
    assert gen["same_as_text1"] == sum(
        a == b for a, b in zip(generated.column("text1").to_pylist(),
                               generated.column("syn_text").to_pylist(), strict=True))
    assert gen["mean_length_change_words"] > 0


def test_stage_timings_prefer_the_run_log_then_shard_sums(finished_workspace):
    rows = {row["stage"]: row for row in data.stage_timings(finished_workspace[1])}
    assert rows["balance"]["source"] == "run wall time"
    assert rows["extract_sentences"]["source"] == "sum over shards"
    assert rows["extract_sentences"]["wall_s"] == 140.0
    assert rows["extract_sentences"]["rate"] == 1861 / 140.0
    assert rows["dedup"]["wall_s"] is None


def test_evaluation_table_is_rendered(finished_workspace, tmp_path):
    workspace = finished_workspace[1]
    workspace.write_json("report/eval.json", {
        "checkpoint": "/ckpt/epoch_2.pt", "model": "ViT-B-32",
        "rows": [{"dataset": "cifar10", "task": "zeroshot_classification",
                  "metric": "acc1", "value": 0.4321}]})
    try:
        page = _page(workspace)
    finally:
        workspace.fs.rm(workspace.path("report/eval.json"))
    assert "<td>cifar10</td><td>zeroshot_classification</td><td>acc1</td>" in page
    assert "0.4321" in page and "/ckpt/epoch_2.pt" in page


def test_empty_sections_degrade(tmp_path):
    from realsyn.workspace import Workspace

    workspace = Workspace(str(tmp_path / "empty"))
    workspace.write_table("retrieved", "00000", pa.table({"image_id": ["a"], "text1": ["x"]}))
    page = _page(workspace)
    assert "No funnel yet" in page and "balance stage has not run" in page
    assert "generate stage has not run" in page
