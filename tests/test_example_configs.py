"""The example configs in configs/ are valid and say what their comments promise."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from realsyn.cli import app
from realsyn.config import load_config

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
EXAMPLES = ("sample.yaml", "obelics.yaml", "html_folder.yaml", "warc.yaml", "production.yaml",
            "handbook.yaml")


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_config_passes_config_check(name):
    result = CliRunner().invoke(app, ["config", "check", str(CONFIGS / name)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(f"{name}: ok")


def test_every_config_in_the_folder_is_an_example():
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == sorted(EXAMPLES)


def test_example_configs_read_their_formats():
    formats = {name: [spec.format for spec in load_config(CONFIGS / name).inputs]
               for name in ("obelics.yaml", "html_folder.yaml", "warc.yaml")}
    assert formats == {"obelics.yaml": ["obelics"], "html_folder.yaml": ["html"],
                       "warc.yaml": ["warc"]}


def test_production_config_is_the_papers_stack():
    config = load_config(CONFIGS / "production.yaml")
    encoder = config.embed.encoder
    assert (encoder.backend, encoder.model, encoder.pretrained, encoder.device) == (
        "open_clip", "EVA02-E-14-plus", "laion2b_s9b_b144k", "cuda")
    assert config.generate.llm.backend == "openai"
    assert config.generate.llm.base_url.startswith("http") and config.generate.captioner == "hf"
    assert config.extract.sentences.perplexity_scorer == "kenlm"
    assert config.executor.kind == "ray" and config.workspace.startswith("s3://")
    assert (config.balance.min_similarity, config.balance.max_similarity) == (0.51, 0.61)
    assert config.balance.band_kind(encoder) == "cosines"
