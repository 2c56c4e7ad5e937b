"""`realsyn run --dry-run`: the census against what the stages really produce, the scaling
arithmetic, and the command on the sample corpus with the cheap stages."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from realsyn.cli import app
from realsyn.config import parse_config
from realsyn.dryrun.census import Census, take_census
from realsyn.dryrun.estimate import (
    busy_workers,
    closing_note,
    estimate,
    format_plan,
    sentence_correction,
    stage_range,
    stage_scale,
    stage_work,
)
from realsyn.dryrun.probe import ProbeResult, StageProbe, TaskCall, spread
from realsyn.pipeline import run_pipeline
from realsyn.workspace import Workspace

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample_corpus" / "sample.parquet"
CHEAP_STAGES = ["ingest", "extract_images", "extract_sentences", "dedup"]


def cheap_config(workspace: Path, **extra) -> dict:
    """The sample corpus through the stages that need no parser or language model."""
    return {"workspace": str(workspace), "stages": CHEAP_STAGES,
            "inputs": [{"path": str(SAMPLE), "format": "obelics"}],
            "executor": {"workers": 2, "shard_size": 20},
            "extract": {"sentences": {"perplexity_scorer": "none", "min_complexity": 0,
                                      "require_action": False}}, **extra}


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """The cheap stages really run on the whole sample corpus."""
    config = parse_config(cheap_config(tmp_path_factory.mktemp("ran") / "ws",
                                       executor={"workers": 1, "shard_size": 20}))
    run_pipeline(config, report=lambda line: None)
    return config, Workspace(config.workspace)


def test_census_counts_what_ingest_and_dedup_produce(ran):
    config, workspace = ran
    census = take_census(config)
    ingest = workspace.stage_stats("ingest")
    assert census.units_read == census.units_total == 3 and census.scale == 1
    assert (census.documents, census.images, census.texts) == (
        ingest["documents_out"], ingest["images_out"], ingest["texts_out"])
    # every image of the sample has its bytes: the census dedups them as the stages do
    assert census.images_sampled == census.images
    assert census.images_quality_ok == workspace.stage_stats("extract_images")["images_out"]
    assert census.images_unique == workspace.stage_stats("dedup")["images_out"]
    assert census.sentences_sampled == 400
    assert 0 < census.cheap_pass_rate < 1


def test_stopped_census_extrapolates_from_the_units_read(ran):
    config, _ = ran
    census = take_census(config, max_documents=1)
    assert census.units_read == 1 and census.units_total == 3
    assert census.expected(census.documents) == census.documents * 3


def _probe(cores: int = 2, **stats) -> ProbeResult:
    """Each stage measured at 3 s wall: 2 s of tasks (one hand-out, all at once on 2 workers),
    1 s fixed; dedup is global (one task)."""
    stages = {}
    for name, values in stats.items():
        tasks = 1 if name == "dedup" else 2
        stages[name] = StageProbe(name, kind=name, wall_s=1.0 + 2.0 / tasks,
                                  calls=[TaskCall(tasks, 2, 2.0)], stats=values,
                                  is_global=name == "dedup", cores=cores)
    return ProbeResult(documents=2, images=10, texts=40, stages=stages, generated_rows=[])


def test_stages_scale_by_what_drives_them():
    census = Census(units_total=10, units_read=10, documents=20, images=200, texts=400,
                    images_quality_ok=100, images_unique=25)
    probe = _probe(ingest={"records_in": 2},
                   extract_images={"records_in": 10, "images_out": 8},
                   extract_sentences={"records_in": 40, "sentences_out": 20},
                   dedup={"records_in": 28, "images_out": 4, "sentences_out": 18},
                   generate={"records_in": 4})
    assert stage_scale("ingest", census, probe) == 10
    assert stage_scale("extract_images", census, probe) == 20
    assert stage_scale("extract_sentences", census, probe) == 10
    # dedup's inputs: 8 images (x20) and 20 sentences (x10)
    assert stage_scale("dedup", census, probe) == (20 * 8 + 10 * 20) / 28
    # the census keeps 25% after pHash dedup, the probe 50%: later image stages halve
    assert stage_scale("generate", census, probe) == 20 * 0.5
    probe.retrieved_rows, probe.generated_probe_rows = 12, 4
    probe.stages["generate"].thinned = True  # its input was thinned to 4 of 12 rows
    assert stage_scale("generate", census, probe) == 20 * 0.5 * 3
    # a census that decoded its 200 images: half pass quality there, 8 of 10 in the probe, so
    # its 12.5% left after quality and pHash stand against the probe's 4 of 10
    census.images_sampled = 200
    assert stage_scale("generate", census, probe) == pytest.approx(20 * 0.125 / 0.4 * 3)


def test_estimate_shares_per_shard_work_among_busy_workers():
    """Fixed cost as the probe paid it, plus the probe's task wall seconds per record x the
    records, over the run's shards on its workers (#33: wall seconds, not CPU seconds)."""
    config = parse_config({"executor": {"workers": 2, "shard_size": 10}})
    assert busy_workers(config, 3, cores=2) == 1.5 and busy_workers(config, 4, cores=2) == 2
    assert busy_workers(config, 1, cores=2) == 1
    census = Census(units_total=1, units_read=1, documents=30, images=50, texts=40,
                    shards_total=3)
    probe = _probe(ingest={"records_in": 3}, dedup={"records_in": 50})
    probe.documents = 3
    ingest_probe = probe.stages["ingest"]
    assert ingest_probe.work_wall_s == 1.0 and ingest_probe.fixed_s == 1.0
    plan = estimate(config, census, probe, cores=2)
    ingest, dedup = plan.stages
    assert ingest.records == 30
    # 3 shards, 2 workers: 1.5 busy; 2 task seconds for 3 records, x10
    assert ingest.seconds == pytest.approx(1.0 + 2.0 * 10 / 1.5)
    # global: as in the probe (2 s of one task); without the probe's split of its inputs it
    # scales as images (x5)
    assert dedup.seconds == pytest.approx(1.0 + 2.0 * 5)
    # ranges: the work moves by two standard errors of a mean over the probe's 3 records;
    # the fixed cost (1 s) does not
    factor = 1 + 2 / 3 ** 0.5
    assert ingest.high_s == pytest.approx(1.0 + 2.0 * 10 / 1.5 * factor)
    assert ingest.low_s == pytest.approx(1.0 + 2.0 * 10 / 1.5 / factor)
    assert plan.total_range == pytest.approx((ingest.low_s + dedup.low_s,
                                              ingest.high_s + dedup.high_s))
    note = closing_note(plan, {"ingest": ingest.seconds * 2, "dedup": dedup.seconds * 2})
    assert "(0.50x the measured time)" in note
    assert "no measured run" in closing_note(plan, {})


def test_workers_beyond_the_cores_share_them():
    """4 tasks at once on 2 cores take twice their time alone: the probe's task seconds are
    divided by that contention, and the run's 4 workers pass no more than 2 cores' worth of
    work per second (#33: the scikit-image gallery's config has 4 workers; the machine measured
    had 2 cores)."""
    config = parse_config({"executor": {"workers": 4, "shard_size": 10}})
    assert busy_workers(config, 4, cores=2) == 2 and busy_workers(config, 4, cores=8) == 4
    census = Census(units_total=4, units_read=4, documents=40, images=0, texts=40,
                    shards_total=4)
    probe = _probe(ingest={"records_in": 4})
    probe.documents = 4
    measured = probe.stages["ingest"]
    measured.calls = [TaskCall(4, 4, 8.0)]  # 4 tasks of 2 s wall each, 4 at once on 2 cores
    measured.wall_s = 1.5 + 8.0 / 4
    assert measured.contention == 2 and measured.fixed_s == pytest.approx(1.5)
    (two,) = estimate(config, census, probe, cores=2).stages
    (eight,) = estimate(config, census, probe, cores=8).stages
    assert two.seconds == pytest.approx(1.5 + 8.0 / 2 * 10 / 2)
    assert eight.seconds == pytest.approx(1.5 + 8.0 / 2 * 10 / 4)


def test_spread_takes_keys_from_all_over():
    assert spread([f"{i:05d}" for i in range(28)], 2) == ["00000", "00014"]
    assert spread(["a"], 3) == ["a"]


def test_dry_run_command_prints_the_plan_and_runs_nothing(tmp_path, ran):
    config_path = tmp_path / "cheap.yaml"
    import yaml

    config_path.write_text(yaml.safe_dump(cheap_config(tmp_path / "never")))
    result = CliRunner().invoke(app, ["run", str(config_path), "--dry-run",
                                      "--probe-documents", "4"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "inputs: 56 documents, 431 images, 1,861 text items" in out
    for stage in CHEAP_STAGES:
        assert f"\n{stage} " in out
    assert "probe: 4 documents" in out and "no measured run in this workspace yet" in out
    assert not (tmp_path / "never").exists()

    # against the workspace of a measured run, the note compares the two
    _, workspace = ran
    config_path.write_text(yaml.safe_dump(cheap_config(Path(workspace.url))))
    result = CliRunner().invoke(app, ["run", str(config_path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "the last measured run of this workspace took" in result.output
    assert "x the measured time" in result.output


def test_a_pipeline_with_a_user_stage_is_estimated(tmp_path, ran):
    """The probe runs the config's own pipeline through the local executor (#26 part 4): a
    renamed built-in stage and a user stage named by dotted path are estimated like the others,
    with their records and time; the user stage's records scale as the stage it reads from."""
    from realsyn.dryrun import make_plan
    from realsyn.dryrun.estimate import format_plan

    pipeline = ["ingest", "extract_images", {"stage": "extract_sentences", "name": "split"},
                "dedup", {"stage": "user_stage:WordCounts", "config": {"min_words": 3},
                          "args": {"sentences": "sentences_filtered"}}]
    config = parse_config(cheap_config(tmp_path / "never", stages=None, pipeline=pipeline))
    plan = make_plan(config, probe_documents=4)
    assert [stage.name for stage in plan.stages] == [
        "ingest", "extract_images", "split", "dedup", "word_counts"]
    assert all(stage.seconds and stage.seconds > 0 for stage in plan.stages)
    probe = plan.probe.stages
    assert probe["split"].kind == "extract_sentences" and probe["word_counts"].kind is None
    assert probe["word_counts"].tasks >= 2 and plan.probe.workers == 2  # the run's pool
    records = {stage.name: stage.records for stage in plan.stages}
    # the user stage reads the sentences `split` writes: they scale as its text items
    _, measured = ran  # the cheap stages really run on the whole corpus
    real = measured.stage_stats("extract_sentences")
    assert records["split"] == pytest.approx(real["records_in"], rel=0.25)
    assert records["word_counts"] == pytest.approx(real["sentences_out"], rel=0.5)
    text = format_plan(plan)
    assert "\nword_counts " in text and "user stage;" in text
    assert not (tmp_path / "never").exists()


def test_probe_without_images_still_estimates_images_reaching_generation():
    """A corpus whose first documents have no images: the probe's few documents send no image
    through retrieval, yet the census saw 1,171 images, 545 of them left after dedup (#33)."""
    config = parse_config({"executor": {"workers": 2, "shard_size": 10}})
    census = Census(units_total=10, units_read=10, documents=369, images=1171,
                    texts=58000, images_sampled=1171, images_quality_ok=900, images_unique=545)
    probe = _probe(ingest={"records_in": 4}, extract_images={"records_in": 4, "images_out": 0},
                   dedup={"records_in": 50, "images_out": 0, "sentences_out": 40},
                   retrieve={"records_in": 0}, generate={"records_in": 0})
    probe.documents, probe.images = 4, 4
    plan = estimate(config, census, probe)
    records = {stage.name: stage.records for stage in plan.stages}
    assert records["retrieve"] == records["generate"] == 545
    # one fusion and one caption request per image with the default captioner
    assert plan.llm_requests == 2 * 545


def test_shards_come_from_the_ingest_plan(ran):
    """Per-shard stages are shared among workers by the shards the run's planner makes."""
    config, workspace = ran
    census = take_census(config)
    assert census.shards_total == len(workspace.read_json("stages/ingest/plan.json")["shards"])


def test_probe_reads_on_until_it_holds_images(tmp_path):
    """The first spread of shards may hold no image: the probe's ingest reads more shards."""
    from realsyn.dryrun.probe import Strata, spread_order
    order = spread_order([f"{i:05d}" for i in range(10)], 2)
    assert order[:2] == ["00000", "00005"] and sorted(order) == [f"{i:05d}" for i in range(10)]
    strata = Strata(documents=4, images=8, texts=1, max_shards=5)
    assert not strata.enough(Counter(documents_out=4, images_usable=0, texts_out=9), 2)
    # images the quality filter would drop do not count (#33: ImageMagick's first pages hold
    # icons and arrows only)
    assert not strata.enough(Counter(documents_out=6, images_out=8, texts_out=9), 3)
    assert strata.enough(Counter(documents_out=6, images_usable=8, texts_out=9), 3)
    assert strata.enough(Counter(), 5)
    # text items do not stop the reading: the probe thins them before the sentence stage
    assert not strata.enough(Counter(documents_out=4, images_usable=0, texts_out=5000), 2)


def near_duplicate_corpus(folder: Path) -> Path:
    """Five photos, each four times under other documents: as it is, cropped, mirrored, and
    brightened and cropped. pHash tells them from the original (Hamming distances 12 to 34,
    above the default 10); the offline encoder puts most of them within the semantic
    threshold."""
    import sys

    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import ImageEnhance, ImageOps

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from real_photos import encode, photo

    def variants(image):
        w, h = image.size
        return [image, image.crop((w * 12 // 100, h * 12 // 100, w, h)), ImageOps.mirror(image),
                ImageEnhance.Brightness(image).enhance(1.4).crop((w * 8 // 100, 0, w,
                                                                   h * 92 // 100))]

    images = [encode(variant, "JPEG", quality=90)
              for name in ("china", "chelsea", "rocket", "motorcycle", "coffee")
              for variant in variants(photo(name))]
    text = ("The photographer walked along the river at dawn and took this picture of the "
            "old city before the market opened.")
    rows = {"texts": [[text, None] for _ in images], "images": [[None, data] for data in images]}
    corpus = folder / "near_duplicates.parquet"
    pq.write_table(pa.table(rows, pa.schema([("texts", pa.list_(pa.string())),
                                              ("images", pa.list_(pa.binary()))])), corpus)
    return corpus


def test_census_sees_semantic_duplicates_the_probe_cannot(tmp_path):
    """Images that survive pHash dedup but not semantic dedup: the census embeds its image
    sample and groups it as semantic_dedup does, so the images expected to reach generation
    (and the LLM requests) are the run's, not the pHash survivors (#33: the handbook's semantic
    dedup left 15 images where the estimate kept 73)."""
    stages = [*CHEAP_STAGES, "embed", "semantic_dedup"]
    config = parse_config(cheap_config(tmp_path / "ws", stages=stages,
                                       inputs=[{"path": str(near_duplicate_corpus(tmp_path)),
                                                "format": "obelics"}],
                                       executor={"workers": 1, "shard_size": 5},
                                       embed={"encoder": {"backend": "offline"}}))
    run_pipeline(config, report=lambda line: None)
    workspace = Workspace(config.workspace)
    phash_out = workspace.stage_stats("dedup")["images_out"]
    semantic_out = workspace.stage_stats("semantic_dedup")["images_out"]
    assert phash_out == 20 and semantic_out <= 10  # the corpus is what it says

    census = take_census(config)
    # A probe of 4 documents showed no duplicate of either kind; the census corrects both.
    probe = _probe(ingest={"records_in": 4},
                   extract_images={"records_in": 4, "images_out": 4},
                   extract_sentences={"records_in": 4, "sentences_out": 4},
                   dedup={"records_in": 8, "images_out": 4, "sentences_out": 4},
                   semantic_dedup={"records_in": 8, "images_in": 4, "images_out": 4},
                   retrieve={"records_in": 4}, generate={"records_in": 4, "llm_requests": 8})
    probe.documents, probe.images, probe.texts = 4, 4, 4
    probe.retrieved_rows = probe.generated_probe_rows = 4
    plan = estimate(config, census, probe)
    records = {stage.name: stage.records for stage in plan.stages}
    assert records["generate"] == semantic_out
    assert plan.llm_requests == 2 * semantic_out
    low, high = plan.llm_requests_range
    assert low < plan.llm_requests < high
    # the census's own counts are the stages'
    assert census.images_unique == phash_out
    assert census.images_embedded == phash_out
    assert census.images_semantic_unique == semantic_out


def test_a_task_s_own_cost_is_told_from_its_records():
    """Tasks of several sizes: a line through their (records, wall seconds) tells what each task
    pays whatever its size (its shard's I/O, a fresh worker's lazy loads) from what each record
    costs; the run pays the first once per shard of its plan (#33: the probe's 2-document
    shards made ingest look 10x dearer per document than it is)."""
    measured = StageProbe("generate", kind="generate", cores=2,
                          calls=[TaskCall(2, 2, 26.0, [(2, 10.0), (6, 16.0)])])
    assert measured.task_cost() == pytest.approx((7.0, 1.5))
    same = StageProbe("ingest", kind="ingest", cores=2, stats={"records_in": 4},
                      calls=[TaskCall(2, 2, 6.0, [(2, 3.0), (2, 3.0)])])
    assert same.task_cost() == pytest.approx((3.0, 0.0))  # one (tiny) size: all the task's
    flat = StageProbe("dedup", kind="dedup", cores=2,
                      calls=[TaskCall(2, 2, 2.0, [(1, 1.2), (9, 0.8)])])
    assert flat.task_cost() == pytest.approx((1.0, 0.0))
    config = parse_config({"executor": {"workers": 2, "shard_size": 10}})
    per_task, work, _ = stage_work(config, measured, 60, shards=4, cores=2)
    assert per_task == pytest.approx(7.0 * 4 / 2) and work == pytest.approx(1.5 * 60 / 2)


def test_ranges_carry_how_the_probe_s_tasks_scatter():
    """#33: the ranges carried only an assumed per-record spread (coefficient of variation 1).
    With 3 tasks or more, the tasks are resampled (a bootstrap) and the range is the middle 95%
    of what the lines through the resamples say the run's tasks cost; the fixed cost, one
    measurement, is kept at both ends; the plan says the load the times assume."""
    # repeats of one size, the first of each worker dearer (lazy loads): all the task's
    same = StageProbe("ingest", kind="ingest", cores=2, stats={"records_in": 8},
                      calls=[TaskCall(4, 2, 12.0, [(2, 5.0), (2, 5.0), (2, 1.0), (2, 1.0)])],
                      wall_s=16.0)
    assert same.task_cost() == (3.0, 0.0) and same.fixed_s == pytest.approx(10.0)
    costs = same.resampled_costs()
    assert costs == same.resampled_costs()  # seeded: the same plan every time
    assert len(costs) == 400 and {per_record for _, per_record in costs} == {0.0}
    assert min(costs)[0] == 1.0 and max(costs)[0] == 5.0
    assert StageProbe("g", calls=[TaskCall(2, 2, 0.0, [(2, 10.0), (6, 16.0)])]
                      ).resampled_costs() == []  # too few tasks to resample

    config = parse_config({"executor": {"workers": 2, "shard_size": 10}})
    census = Census(units_total=1, units_read=1, documents=80, images=0, texts=0,
                    shards_total=4)
    probe = ProbeResult(documents=8, images=0, texts=0, stages={"ingest": same},
                        generated_rows=[], load=(1.0, 1.5))
    (stage,) = estimate(config, census, probe, cores=2).stages
    # the midpoint as before: fixed + 4 shards x 3 s per task on 2 workers (2 at once)
    assert stage.seconds == pytest.approx(10.0 + 3.0 * 4 / 2)
    # resampled means of {5, 5, 1, 1} (1 in 16 resamples holds only 1s, 1 in 16 only 5s)
    task_means = sorted(cost[0] for cost in costs)
    assert stage.low_s == pytest.approx(10.0 + task_means[10] * 4 / 2)
    assert stage.high_s == pytest.approx(10.0 + task_means[390] * 4 / 2)
    assert task_means[10] == 1.0 and task_means[390] == 5.0
    assert "load during the probe: 1.0 - 1.5 on" in format_plan(
        estimate(config, census, probe, cores=2))

    # tasks of several sizes: the range holds the line's own estimate and moves with the scatter
    tight = StageProbe("extract_sentences", kind="extract_sentences", cores=2, calls=[TaskCall(
        4, 1, 0.0, [(1, 2.0), (2, 3.0), (3, 4.0), (4, 5.0)])])
    loose = StageProbe("extract_sentences", kind="extract_sentences", cores=2, calls=[TaskCall(
        4, 1, 0.0, [(1, 2.0), (2, 3.4), (3, 3.6), (4, 5.0)])])
    assert tight.task_cost() == pytest.approx((1.0, 1.0))
    assert loose.task_cost() == pytest.approx((1.2, 0.92))

    def run_range(measured):
        low, high = stage_range(config, measured, 100, 4, 2, census)
        middle = sum(stage_work(config, measured, 100, 4, 2)[:2])
        return low, middle, high

    low, middle, high = run_range(tight)
    assert low == pytest.approx(middle) == pytest.approx(high)  # every resample on one line
    low, middle, high = run_range(loose)
    assert low < middle < high


def test_sentences_after_extraction_are_counted_by_the_census_sample():
    """#33, ImageMagick's web site: the probe's 4 pages kept 0.64 sentences per text item, the
    whole site 0.35, and the estimate embedded 2.2x the sentences the run did. The census runs
    every sentence filter (parser and perplexity too) on its sample of sentences from all over
    the input; the stages after extraction scale their sentences by it."""
    census = Census(units_total=10, units_read=10, documents=20, images=200, texts=400,
                    images_quality_ok=100, images_unique=50, sentences_sampled=200,
                    sentences_per_text=1.5, sentence_filter_full=Counter(kept=50, no_action=150))
    assert census.sentence_kept_share == 0.25
    probe = _probe(ingest={"records_in": 2},
                   extract_images={"records_in": 10, "images_out": 8},
                   extract_sentences={"records_in": 40, "sentences_out": 30},
                   dedup={"records_in": 38, "images_out": 4, "sentences_out": 30},
                   embed={"records_in": 34})
    # the probe kept 0.75 sentences per text item, the census's sample 1.5 x 25% = 0.375
    assert sentence_correction(census, probe) == pytest.approx(0.5)
    # embed's inputs: 4 images (x20 x the pHash correction 1) and 30 sentences (x10 x 0.5)
    assert stage_scale("embed", census, probe) == pytest.approx((20 * 4 + 5 * 30) / 34)
    assert stage_scale("extract_sentences", census, probe) == 10  # text items, as before
    # without the full filter's sample: the probe's share, as before
    census.sentence_filter_full = Counter()
    assert sentence_correction(census, probe) == 1.0
    assert stage_scale("embed", census, probe) == pytest.approx((20 * 4 + 10 * 30) / 34)


def test_the_census_runs_every_sentence_filter(tmp_path):
    """With the default filters (spaCy parser, n-gram perplexity), the census's full filter drops
    what the cheap filters cannot see."""
    config = parse_config({**cheap_config(tmp_path / "ws"), "extract": {}})
    census = take_census(config)
    full, cheap = census.sentence_filter_full, census.sentence_filter
    assert sum(full.values()) == sum(cheap.values())  # the same sentences
    model_drops = sum(full[f"dropped_{reason}"] for reason in (
        "no_action", "low_complexity", "high_perplexity", "low_perplexity"))
    assert model_drops > 0 and full["kept"] < cheap["kept"]
    assert census.sentence_kept_share == full["kept"] / census.sentences_sampled < \
        census.cheap_pass_rate


def test_usable_images_are_those_extract_images_keeps(tmp_path):
    """The probe reads on until it holds images that pass the quality filter: an icon, a
    broken file and a missing one do not count."""
    import io
    import sys

    import pyarrow as pa
    from PIL import Image

    from realsyn.dryrun.probe import usable_images
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from real_photos import encode, photo

    icon = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(icon, "PNG")
    workspace = Workspace(str(tmp_path / "ws"))
    workspace.write_table("images", "00000", pa.table(
        {"bytes": [encode(photo("chelsea"), "JPEG", quality=90), icon.getvalue(), b"broken",
                   None]}, pa.schema([("bytes", pa.binary())])))
    config = parse_config({})
    assert usable_images(workspace, "00000", config) == 1
    assert usable_images(workspace, "00001", config) == 0  # no such shard


def test_the_probe_thins_text_items_before_the_sentence_stage(tmp_path):
    """Reading on for usable images must not send every text item read through the sentence
    and embedding stages: they are thinned to an even spread, in tasks of several sizes, and
    the estimate scales text stages by the text items kept."""
    from realsyn.dryrun.probe import run_probe
    config = parse_config(cheap_config(tmp_path / "ws"))
    probe = run_probe(config, documents=8, unit_documents=4, min_images=0, max_texts=40)
    sentences = probe.stages["extract_sentences"]
    assert probe.texts == sentences.records_in == 40
    assert sentences.tasks >= 4 and len({n for n, _ in sentences.task_pairs()}) > 1
