"""A stage that drops most of its input prints one warning naming the setting that decided
it, and the warning reaches the run report."""

from __future__ import annotations

import numpy as np
from balance_helpers import grouped_vectors, write_generated, write_images_final

from realsyn.balance.stage import BalanceStage
from realsyn.config import parse_config
from realsyn.drops import DROP_WARNINGS
from realsyn.pipeline import Pipeline
from realsyn.report.html import write_report
from realsyn.workspace import Workspace

# The paper's encoder: its default band is the paper's cosines [0.51, 0.61].
PAPER_ENCODER = {"backend": "open_clip", "model": "EVA02-E-14-plus",
                 "pretrained": "laion2b_s9b_b144k"}


def run_balance(root, encoder: dict | None = None, **settings) -> tuple[Workspace, list[str]]:
    """Balance alone on 120 pairs whose stored cosines are the offline encoder's (about 0.3),
    as if another encoder than the configured one had scored them."""
    config = parse_config({"workspace": str(root), "executor": {"workers": 1},
                           "embed": {"encoder": encoder or {}}, **settings})
    workspace = Workspace(config.workspace)
    if not workspace.exists("datasets/generated"):
        vectors, _ = grouped_vectors([40, 40, 40], seed=2)
        ids = [f"img{i:03d}" for i in range(len(vectors))]
        write_images_final(workspace, ids, vectors, shard_size=64)
        write_generated(workspace, ids, np.random.default_rng(2).normal(0.3, 0.05, len(ids)),
                        shard_size=60)
    lines: list[str] = []
    Pipeline([BalanceStage()]).run(config, report=lines.append)
    return workspace, lines


def test_the_default_band_of_the_papers_encoder_on_low_scores_warns(tmp_path):
    workspace, lines = run_balance(tmp_path / "ws", PAPER_ENCODER)
    warnings = [line for line in lines if line.startswith("warning:")]
    assert warnings == [
        "warning: balance dropped 120 of 120 (100%) as below_band, more than "
        "warn_drop_share=0.5; decided by balance.min_similarity=0.51"]
    stored = workspace.read_json(DROP_WARNINGS)
    assert [item["line"] for item in stored["balance"]] == warnings
    assert stored["balance"][0]["setting"] == "balance.min_similarity"
    page = workspace.read_bytes(write_report(workspace).split(workspace.url)[-1].lstrip("/")
                                ).decode()
    assert 'id="drop-warnings"' in page
    assert "balance dropped 120 of 120 (100%) as below_band" in page
    assert "balance.min_similarity=0.51" in page


def test_the_share_is_a_setting_and_a_quiet_rerun_clears_the_warning(tmp_path):
    root = tmp_path / "ws"
    _, lines = run_balance(root, PAPER_ENCODER, warn_drop_share=1.0)
    assert not [line for line in lines if line.startswith("warning:")]
    # warn_drop_share changes no output: balance is up to date, skipped, and not checked again
    workspace, lines = run_balance(root, PAPER_ENCODER, warn_drop_share=0.99)
    assert not [line for line in lines if line.startswith("warning:")]
    workspace, lines = run_balance(tmp_path / "other", PAPER_ENCODER, warn_drop_share=0.99)
    assert [line for line in lines if line.startswith("warning:")]
    # The quantile band (any other encoder) drops 15%: balance reruns and its warning goes.
    workspace, lines = run_balance(tmp_path / "other")
    assert not [line for line in lines if line.startswith("warning:")]
    assert "balance" not in workspace.read_json(DROP_WARNINGS)
    write_report(workspace)
    assert 'id="drop-warnings"' not in workspace.read_bytes("report/index.html").decode()
