"""The dataset card in the output folder, read back with the `datasets` library, offline."""

from __future__ import annotations

import yaml

from realsyn.write.card import config_fingerprint


def _card(workspace) -> str:
    return (workspace.fs.open(workspace.path("output/README.md")).read().decode())


def test_card_header_and_body(finished_workspace):
    config, workspace = finished_workspace
    text = _card(workspace)
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["license"] == "unknown"
    assert {c["config_name"]: c["data_files"][0]["path"] for c in front["configs"]} == {
        "release": "release/*.parquet", "extended": "extended/*.parquet"}
    shards = workspace.fs.open(workspace.path("output/shards/README.md")).read().decode()
    assert yaml.safe_load(shards.split("---\n")[1])["configs"][0]["data_files"] == [
        {"split": "train", "path": "*.tar"}]
    assert "keep *their* licences" in text
    written = workspace.stage_stats("write")["records_out"]
    assert f"- samples written: {written:,}" in text
    assert "too_small 91" in text  # the funnel, in pipeline order
    assert "- sentences: extracted 2,990 → after quality 1,432 → after semantic 858" in text
    assert "| `balance.min/max_similarity` | 0.2 / 0.5 |" in text
    assert config_fingerprint(config) in text and len(config_fingerprint(config)) == 64


def test_datasets_loads_the_output_folder_offline(finished_workspace, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    import datasets

    _, workspace = finished_workspace
    output = workspace.path("output")
    written = workspace.stage_stats("write")["records_out"]
    release = datasets.load_dataset(output, split="train", cache_dir=str(tmp_path / "cache"))
    assert release.column_names == ["raw_image_url", "text1", "text2", "text3", "syn_text"]
    assert release.num_rows == written
    balanced = workspace.read_dataset("balanced")
    assert sorted(release["raw_image_url"]) == sorted(balanced.column("url").to_pylist())
    extended = datasets.load_dataset(output, "extended", split="train",
                                     cache_dir=str(tmp_path / "cache"))
    assert extended.num_rows == written and "balance_cluster" in extended.column_names
    shards = datasets.load_dataset(f"{output}/shards", split="train",
                                   cache_dir=str(tmp_path / "cache"))
    assert shards.num_rows == written
    first = shards[0]
    assert first["jpg"].size[0] > 0 and first["txt"] == first["json"]["text1"]
