"""The band as quantiles of the run's own scores (the default for any encoder but the paper's),
the paper's cosine band kept by one setting, and both recorded in report/balance.json."""

from __future__ import annotations

import numpy as np
import pytest
from balance_helpers import grouped_vectors, write_generated, write_images_final

from realsyn.balance import band
from realsyn.balance.stage import BalanceStage
from realsyn.config import ConfigError, EncoderConfig, parse_config
from realsyn.executors.local import LocalExecutor
from realsyn.report.html import write_report

PAPER_ENCODER = {"backend": "open_clip", "model": "EVA02-E-14-plus",
                 "pretrained": "laion2b_s9b_b144k"}


def test_quantile_cuts_drop_the_asked_share_on_each_side():
    scores = np.random.default_rng(0).normal(0.3, 0.06, 20_000)
    low, high = band.quantile_cuts(band.fine_counts(scores), 0.10, 0.95)
    assert low == pytest.approx(np.quantile(scores, 0.10), abs=2 * band.QUANTILE_BIN)
    assert high == pytest.approx(np.quantile(scores, 0.95), abs=2 * band.QUANTILE_BIN)
    below, above = int((scores < low).sum()), int((scores > high).sum())
    assert below <= 0.10 * len(scores) and above <= 0.05 * len(scores)
    assert below > 0.099 * len(scores) and above > 0.049 * len(scores)


def test_fine_counts_ignore_missing_scores_and_keep_the_extremes():
    counts = band.fine_counts(np.array([-1.0, 1.0, np.nan, 0.25]))
    assert counts.sum() == 3 and counts[0] == 1 and counts[-1] == 1
    assert band.quantile_cuts(np.zeros_like(counts), 0.1, 0.9) == (-1.0, 1.0)


def test_auto_band_is_quantiles_except_for_the_paper_encoder_or_a_changed_cosine_band():
    config = parse_config({})
    assert config.balance.band_kind(config.embed.encoder) == "quantiles"
    assert config.balance.band_kind(EncoderConfig(**PAPER_ENCODER)) == "cosines"
    changed = parse_config({"balance": {"min_similarity": 0.2}}).balance
    assert changed.band_kind(config.embed.encoder) == "cosines"
    paper = parse_config({"balance": {"band": "cosines"}}).balance
    assert (paper.min_similarity, paper.max_similarity) == (0.51, 0.61)
    assert paper.band_kind(config.embed.encoder) == "cosines"


def test_crossed_quantiles_are_refused_naming_the_fields():
    with pytest.raises(ConfigError, match=r"balance\.low_quantile .* balance\.high_quantile"):
        parse_config({"balance": {"low_quantile": 0.5, "high_quantile": 0.4}})


def low_scoring_workspace(ctx, n: int = 300, seed: int = 3) -> np.ndarray:
    """`generated` with cosines like the offline encoder's (about 0.2-0.4) in 3 shards."""
    vectors, _ = grouped_vectors([n // 3] * 3, seed=seed)
    ids = [f"img{i:03d}" for i in range(n)]
    scores = np.random.default_rng(seed).normal(0.30, 0.05, n)
    write_images_final(ctx.workspace, ids, vectors, shard_size=128)
    write_generated(ctx.workspace, ids, scores, shard_size=100)
    return scores.astype(np.float32).astype(np.float64)


def test_default_band_keeps_the_papers_share_of_low_scores(make_context):
    ctx = make_context({})  # the offline encoder, no balance settings
    scores = low_scoring_workspace(ctx)
    stats = LocalExecutor(1).run(BalanceStage(), ctx)
    kept = stats["scored"] - stats["dropped_below_band"] - stats["dropped_above_band"]
    assert stats["scored"] == len(scores)
    assert 0.84 <= kept / len(scores) <= 0.86
    assert 0.09 <= stats["dropped_below_band"] / len(scores) <= 0.10
    assert 0.04 <= stats["dropped_above_band"] / len(scores) <= 0.05
    report = ctx.workspace.read_json("report/balance.json")
    low, high = report["band"]
    assert report["band_kind"] == "quantiles"
    assert low == pytest.approx(np.quantile(scores, 0.10), abs=1e-3)
    assert high == pytest.approx(np.quantile(scores, 0.95), abs=1e-3)
    assert report["band_quantiles"] == [
        pytest.approx(float((scores < low).mean())), pytest.approx(float((scores <= high).mean()))]
    assert report["band_settings"] == [["balance.low_quantile", 0.1],
                                       ["balance.high_quantile", 0.95]]
    write_report(ctx.workspace)
    page = ctx.workspace.read_bytes("report/index.html").decode()
    shown = page[page.index('id="balance-band"'):].split("</p>")[0]
    q_low, q_high = report["band_quantiles"]
    assert f"cosines [{low:.4f}, {high:.4f}]" in shown
    assert f"quantiles [{q_low:.3f}, {q_high:.3f}]" in shown
    assert "balance.low_quantile=0.1" in shown


def test_the_papers_cosine_band_by_one_setting(make_context):
    ctx = make_context({"band": "cosines"})
    scores = low_scoring_workspace(ctx)
    stats = LocalExecutor(1).run(BalanceStage(), ctx)
    assert stats["dropped_below_band"] == int((scores < 0.51).sum())
    assert stats["dropped_above_band"] == int((scores > 0.61).sum())
    report = ctx.workspace.read_json("report/balance.json")
    assert report["band"] == [0.51, 0.61] and report["band_kind"] == "cosines"
    assert report["band_quantiles"][0] == pytest.approx(float((scores < 0.51).mean()))


def test_changing_the_band_kind_makes_balance_stale(tmp_path):
    from realsyn.executors.base import stage_fingerprint
    from realsyn.stage import Context
    from realsyn.workspace import Workspace

    def fingerprint(balance):
        config = parse_config({"workspace": str(tmp_path), "balance": balance})
        ctx = Context(config=config, workspace=Workspace(config.workspace))
        return stage_fingerprint(BalanceStage(), ctx).value

    assert fingerprint({}) != fingerprint({"band": "cosines"})
    assert fingerprint({}) != fingerprint({"low_quantile": 0.05})

