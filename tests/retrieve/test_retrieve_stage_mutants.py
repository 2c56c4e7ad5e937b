"""The retrieve stage's wiring: its datasets, and the steps each configuration runs, in the
order of the module's documentation (scripts/mutation.py mutates realsyn/retrieve/stage.py; the
stage's runs are in test_retrieve_stage.py, test_partitioned_retrieve.py and the cap tests)."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_retrieval import topic_data, write_images, write_sentences

from realsyn.config import parse_config
from realsyn.executors.local import LocalExecutor
from realsyn.retrieve.lists import CAPPED, FIT, PAIRS, SIZES, TEXT1
from realsyn.retrieve.stage import RetrieveStage

BEFORE = ["scan", "train", "assign"]
SEARCH = ["router", "route", "search", "merge"]
AFTER = ["reuse", "report"]


def config(tmp_path, **retrieve):
    return parse_config({"workspace": str(tmp_path / "ws"), "retrieve": retrieve})


@pytest.mark.parametrize(("retrieve", "names"), [
    ({"routing": "paper", "max_uses_share": None}, [*BEFORE, *SEARCH, *AFTER]),
    ({"routing": "learned", "max_uses_share": None}, [*BEFORE, "fit", *SEARCH, *AFTER]),
    ({"routing": "paper", "max_uses_share": 0.2}, [*BEFORE, *SEARCH, "cap", "write", *AFTER]),
    ({"routing": "learned", "max_uses_per_sentence": 3, "max_uses_share": None},
     [*BEFORE, "fit", *SEARCH, "cap", "write", *AFTER]),
])
def test_each_configuration_runs_its_steps_in_order(tmp_path, retrieve, names):
    steps = RetrieveStage().steps(config(tmp_path, **retrieve))
    assert [step.name for step in steps] == names


def test_the_steps_hand_their_scratch_on(tmp_path):
    """Learned routing: fit's lists feed the router; capped: the merge's pairs go to the cap,
    whose write step writes the text1 lists that reuse counts (uncapped, the merge does)."""
    capped = {step.name: step for step in RetrieveStage().steps(
        config(tmp_path, routing="learned", max_uses_per_sentence=3))}
    assert capped["fit"].writes == (FIT, SIZES)
    assert {FIT, SIZES} <= set(capped["router"].reads)
    assert capped["merge"].writes == (PAIRS,) and PAIRS in capped["cap"].reads
    assert capped["cap"].writes == (CAPPED,) and CAPPED in capped["write"].reads
    assert capped["write"].writes == (TEXT1,) and TEXT1 in capped["reuse"].reads
    uncapped = {step.name: step for step in RetrieveStage().steps(
        config(tmp_path, routing="paper", max_uses_share=None))}
    assert uncapped["merge"].writes == (TEXT1,)
    assert not {FIT, SIZES} & set(uncapped["router"].reads)


def test_the_stage_reads_datasets_and_arrays_and_writes_its_output(tmp_path):
    cfg = config(tmp_path)
    assert RetrieveStage().reads(cfg) == ["datasets/sentences_final", "arrays/sentences_final",
                                          "datasets/images_final", "arrays/images_final"]
    assert RetrieveStage().writes(cfg) == ["datasets/retrieved"]
    stage = RetrieveStage("s", "i", "o")
    assert stage.reads(cfg) == ["datasets/s", "arrays/s", "datasets/i", "arrays/i"]
    assert stage.writes(cfg) == ["datasets/o"]


@pytest.mark.parametrize("routing", ["paper", "learned"])
def test_no_usable_sentence_with_a_cap_runs_no_list_or_cap_task(make_context, routing):
    """Every sentence vector is zero: no list exists, so the steps over list partitions and the
    cap's write step have no task, and every image is dropped, capped or not."""
    ctx = make_context({"routing": routing, "max_uses_share": 0.2})
    _, _, images, _ = topic_data(3, 20, 6, seed=1, noise=0.15)
    sentences = np.zeros((60, images.shape[1]), np.float32)
    write_sentences(ctx.workspace, sentences, [f"d{i % 5}" for i in range(60)], shard_size=25)
    write_images(ctx.workspace, images, [f"e{i}" for i in range(6)], shard_size=4)
    stats = LocalExecutor(workers=1).run(RetrieveStage(), ctx)
    assert stats["sentences_indexed"] == 0 and stats["retrieved"] == 0
    assert stats["dropped_no_sentence"] == 6
    assert ctx.workspace.read_dataset("retrieved").num_rows == 0
    assert sorted(ctx.workspace.completed("retrieve")) == sorted([
        "scan~00000", "scan~00001", "scan~00002", "train~all", "router~all", "route~00000",
        "route~00001", "merge~00000", "merge~00001", "report~all"])
