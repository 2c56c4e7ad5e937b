"""Fingerprints decide what reruns: exactly the stages whose settings or inputs changed."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pyarrow.parquet as pq
from chained_pipeline import digests
from small_pipeline import run, slice_corpus, small_config

from realsyn.config import parse_config
from realsyn.fingerprint import flatten
from realsyn.pipeline import STAGES, Pipeline

ALL = list(STAGES)


def ran(lines: list[str]) -> list[str]:
    """The stages a run executed (the others print 'skipped (up to date)')."""
    names = []
    for line in lines:
        if line.startswith("[") and "skipped (up to date)" not in line:
            names.append(line[1:line.index("]")])
    return names


def states(config: dict) -> dict[str, str]:
    resolved = parse_config(config)
    return {item.name: item.state for item in Pipeline.from_config(resolved).status(resolved)}


def mtimes(folder) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_changing_nothing_reruns_nothing(copy_finished):
    root, config = copy_finished()
    before = mtimes(root / "datasets") | mtimes(root / "arrays") | mtimes(root / "output")
    results, lines = run(config)
    assert results == {}
    assert lines[:len(ALL)] == [f"[{name}] skipped (up to date)" for name in ALL]
    assert mtimes(root / "datasets") | mtimes(root / "arrays") | mtimes(root / "output") \
        == before
    assert set(states(config).values()) == {"up to date"}


def output_samples(root) -> dict[str, int]:
    """Samples per tar shard actually on disk."""
    counts = {}
    for tar in sorted((root / "output" / "shards").glob("*.tar")):
        with tarfile.open(tar) as archive:
            counts[tar.name] = sum(name.endswith(".jpg") for name in archive.getnames())
    return counts


def test_balance_threshold_reruns_balance_and_write_only(copy_finished):
    root, config = copy_finished()
    scores = pq.read_table(root / "datasets" / "balanced").column("balance_score").to_numpy()
    before = output_samples(root)
    threshold = float(np.quantile(scores, 0.6))  # drops about 60 % of the samples
    config["balance"] = {**config["balance"], "min_similarity": threshold}
    stale = states(config)
    assert stale["balance"] == "stale" and stale["write"] == "stale"
    assert {name for name, state in stale.items() if state == "stale"} == {"balance", "write"}

    _, lines = run(config)
    assert ran(lines) == ["balance", "write"]
    balanced = pq.read_table(root / "datasets" / "balanced")
    kept = balanced.num_rows
    assert 0 < kept < len(scores) and min(balanced.column("balance_score").to_pylist()) \
        >= threshold - 1e-6
    # output/ holds exactly the new samples: no shard, stats file or parquet of the old run.
    after = output_samples(root)
    assert len(after) < len(before)
    sizes = json.loads((root / "output" / "shards" / "sizes.json").read_text())
    assert sizes == after and sum(after.values()) == kept
    stats_files = sorted(p.name for p in (root / "output" / "shards").glob("*_stats.json"))
    assert stats_files == [name.replace(".tar", "_stats.json") for name in after]
    for part in ("release", "extended"):
        assert pq.read_table(root / "output" / part).num_rows == kept
        assert len(list((root / "output" / part).glob("*.parquet"))) == len(after)
    assert not list(root.rglob(".staging-*")) and not list(root.rglob(".old-*"))
    assert set(states(config).values()) == {"up to date"}
    # The stored config describes the data again.
    assert f"min_similarity: {threshold}" in (root / "config.yaml").read_text()


def test_sentence_word_limit_reruns_extract_sentences_and_everything_after(copy_finished):
    root, config = copy_finished()
    sentences = config["extract"]["sentences"]
    config["extract"] = {**config["extract"], "sentences": {**sentences, "min_words": 5}}
    status = states(config)
    assert [name for name in ALL if status[name] == "stale"] == \
        ALL[ALL.index("extract_sentences"):]
    _, lines = run(config)
    assert ran(lines) == ALL[ALL.index("extract_sentences"):]
    words = pq.read_table(root / "datasets" / "sentences_filtered").column("words").to_pylist()
    assert words and min(words) >= 5


def test_nprobe_reruns_the_search_but_reuses_the_index(copy_finished):
    root, config = copy_finished()
    index_before = mtimes(root / "index")
    assert index_before
    config["retrieve"] = {"nprobe": 2}
    _, lines = run(config)
    assert ran(lines) == ["retrieve", "generate", "balance", "write"]
    assert mtimes(root / "index") == index_before  # the persisted index was reused
    stats = json.loads((root / "stages" / "retrieve" / "stats.json").read_text())
    assert stats["sentences_indexed"] > 0
    assert states(config)["retrieve"] == "up to date"


def test_rerun_still_forces_and_makes_later_stages_stale(copy_finished):
    _, config = copy_finished()
    _, lines = run(config, only=["balance"], rerun=True)
    assert ran(lines) == ["balance"]
    # Same settings, but a new commit of `balanced`: what was built from the old one is stale.
    resolved = parse_config(config)
    report = {item.name: item for item in Pipeline.from_config(resolved).status(resolved)}
    assert report["balance"].state == "up to date"
    assert report["write"].state == "stale"
    assert report["write"].reasons == ["input datasets/balanced changed"]
    _, lines = run(config)
    assert ran(lines) == ["write"]


# Settings left out of fingerprints, of every kind of stage: progress reports (all stages,
# write included), concurrency, batch sizes, partitions, previews. Not here, though left out
# too: embed's batch sizes, executor.workers (torch's thread count), retrieve.query_batch_size
# and generate.batch_size change the order of float sums, so embeddings, retrieval scores and
# tag scores in their last bit.
UNFINGERPRINTED = {
    "executor": {"progress_interval_s": 7.0},
    "ingest": {"fetch": {"concurrency": 3}},
    "extract": {"sentences": {"parse_batch_size": 3}},
    "embed": {"decode_workers": 0},
    "retrieve": {"preview_images": 2, "partitions": 2},
    "generate": {"llm": {"concurrency": 2}},
    "balance": {"partitions": 2},
}


def merged(base: dict, change: dict) -> dict:
    return {**base, **{key: merged(base.get(key, {}), value) if isinstance(value, dict)
                       else value for key, value in change.items()}}


def test_settings_left_out_of_fingerprints_leave_every_output_byte_identical(finished,
                                                                               tmp_path):
    """A workspace run from scratch with those settings changed holds the same bytes as the
    reference run, and the reference, told of them, reads as up to date."""
    reference, config = finished
    corpus = slice_corpus(tmp_path / "corpus")
    changed = merged(small_config(tmp_path / "ws", corpus), UNFINGERPRINTED)
    changed["generate"]["llm"]["base_url"] = config["generate"]["llm"]["base_url"]
    before = flatten(parse_config(config).model_dump(mode="json"))
    after = flatten(parse_config(changed).model_dump(mode="json"))
    assert {key for key in after if after[key] != before[key]} == \
        set(flatten(UNFINGERPRINTED)) | {"workspace", "inputs"}  # each a real change
    results, _ = run(changed)
    assert list(results) == ALL
    assert digests(tmp_path / "ws") == digests(reference)
    told = merged(config, UNFINGERPRINTED)
    assert set(states(told).values()) == {"up to date"}
