"""The docs' sample-corpus funnel (docs/stages/extract.md, moved there from the README) is what
the demo config really produces."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from realsyn.config import load_config
from realsyn.pipeline import run_pipeline

ROOT = Path(__file__).resolve().parent.parent
FUNNEL_PAGE = ROOT / "docs" / "stages" / "extract.md"
# The stages that make the extraction funnel (generation and later do not change it).
FUNNEL_STAGES = ["ingest", "extract_images", "extract_sentences", "dedup", "embed",
                 "semantic_dedup"]
IMAGE_STEPS = ["extracted", "after_quality", "after_perceptual_dedup", "after_semantic_dedup"]
SENTENCE_STEPS = ["extracted", "after_quality", "after_semantic", "after_exact_near_dedup",
                  "after_paraphrase_dedup"]
FIGURES = re.compile(
    r"images ([\d,]+) → ([\d,]+) → ([\d,]+) \(perceptual\) → ([\d,]+) \(semantic\); "
    r"sentences ([\d,]+) → ([\d,]+) → ([\d,]+) → ([\d,]+) \(exact \+ MinHash\) → ([\d,]+) "
    r"\(paraphrase\)")


def readme_funnel() -> dict[str, dict[str, int]]:
    text = " ".join(FUNNEL_PAGE.read_text().split())
    match = FIGURES.search(text)
    assert match, f"{FUNNEL_PAGE} no longer states the sample corpus's funnel"
    numbers = [int(group.replace(",", "")) for group in match.groups()]
    return {"images": dict(zip(IMAGE_STEPS, numbers[:4], strict=True)),
            "sentences": dict(zip(SENTENCE_STEPS, numbers[4:], strict=True))}


@pytest.mark.slow
def test_readme_funnel_is_what_the_demo_config_produces(tmp_path):
    expected = readme_funnel()
    config = load_config(ROOT / "configs" / "sample.yaml", {"workspace": str(tmp_path / "ws")})
    run_pipeline(config, only=FUNNEL_STAGES, report=lambda line: None)
    funnel = json.loads((tmp_path / "ws" / "report" / "funnel.json").read_text())
    for kind, steps in expected.items():
        assert {step: funnel[kind][step] for step in steps} == steps, kind
