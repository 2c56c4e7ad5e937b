"""The balance stage's whole output, report, summary and drops on one planted workspace, found
by mutation testing of src/realsyn/balance/stage.py (issue #27).

The workspace: 90 images in three well-separated groups over four `images_final` shards (the
last one repeats an image id with another group's vector: the join keeps the first), one image
with an all-zero embedding, and 93 `generated` rows over three shards in a seeded order, three
of them for images that do not exist (the last shard holds only those). Stored scores put rows
below, above and exactly on the band, with NaN and null scores. Everything expected is worked
out here from the inputs: which rows pass the band, which group (cluster) each image is in, and
which members the cap keeps (the smallest seeded hashes of the image ids, ties by row).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pytest
from balance_helpers import grouped_vectors, write_generated

from realsyn.balance import sampling
from realsyn.balance.stage import CAP_DERIVED, BalanceStage
from realsyn.config import parse_config
from realsyn.dataflow.digest import stable_hashes
from realsyn.drops import Drop
from realsyn.executors.local import LocalExecutor
from realsyn.stage import Context
from realsyn.workspace import Workspace

LOW, HIGH = 0.5, 0.625  # float32 holds both exactly: scores sit on the edges
GROUPS = [40, 30, 20]
IMAGE_SHARD, GENERATED_SHARD = 25, 45  # the last generated shard: 3 lost images only
LOST = 3
CAP = 15
EXAMPLES = 12  # the report keeps the first 12 examples of each reason


@dataclass
class Planted:
    ids: list[str]  # image ids, by image row
    group: np.ndarray  # planted group of each image
    generated: list[str]  # image id of each generated row (global position)
    scores: np.ndarray  # stored score1 per generated row as the stage reads it (NaN: none)
    image_place: dict[str, tuple[str, int]]  # image id -> (images_final shard, row): the first
    embedded: np.ndarray  # per generated row: its image exists and its embedding is not zero


def plant(workspace: Workspace, generated: str = "generated",
          images: str = "images_final") -> Planted:
    vectors, group = grouped_vectors(GROUPS, seed=3)
    n = len(vectors)
    ids = [f"img{i:03d}" for i in range(n)]
    rng = np.random.default_rng(11)
    order = rng.permutation(n)
    zero, dup = int(order[30]), int(order[31])
    vectors[zero] = 0  # what `embed` writes for an undecodable image
    other = int(np.flatnonzero(group != group[dup])[0])
    # the last image shard repeats ids[dup] with another group's vector
    image_ids = [*ids, ids[dup]]
    image_vectors = np.vstack([vectors, vectors[other][None]])
    place: dict[str, tuple[str, int]] = {}
    for number, start in enumerate(range(0, len(image_ids), IMAGE_SHARD)):
        part = image_ids[start:start + IMAGE_SHARD]
        shard = f"{number:05d}"
        workspace.write_table(images, shard, pa.table({
            "image_id": part, "url": [f"https://example.org/{i}.jpg" for i in part]}))
        workspace.write_array(images, shard,
                              image_vectors[start:start + len(part)].astype(np.float16))
        for row, image_id in enumerate(part):
            place.setdefault(image_id, (shard, row))
    gen_ids = [ids[i] for i in order] + [f"lost{i}" for i in range(LOST)]
    scores = rng.uniform(0.51, 0.61, len(gen_ids))
    scores[0], scores[19] = LOW, HIGH  # on the edges, before the first examples are cut
    scores[1:15] = 0.40  # 14 below in the first shard: more than the examples kept per shard
    scores[40:45] = 0.45  # 5 more below in the second
    scores[[15, 16, 17, 45, 46]] = 0.70
    scores[[18, 47]] = np.nan
    write_generated(workspace, gen_ids, scores, shard_size=GENERATED_SHARD)
    # a null score1 (row 48): no score either
    table = workspace.read_table("generated", "00001")
    at = table.column_names.index("score1")
    nulled = table.column("score1").to_pylist()
    nulled[48 - GENERATED_SHARD] = None
    workspace.write_table("generated", "00001",
                          table.set_column(at, "score1", pa.array(nulled, pa.float32())))
    if generated != "generated":
        for shard in workspace.shards("generated"):
            workspace.write_table(generated, shard, workspace.read_table("generated", shard))
    stored = scores.astype(np.float32).astype(np.float64)
    stored[48] = np.nan
    embedded = np.array([image_id in place and image_id != ids[zero] for image_id in gen_ids])
    return Planted(ids, group, gen_ids, stored, place, embedded)


def context(tmp_path, name: str = "ws", **balance) -> Context:
    config = parse_config({"workspace": str(tmp_path / name), "balance": balance,
                           "executor": {"workers": 1}})
    return Context(config=config, workspace=Workspace(config.workspace))


def test_the_join_is_sized_from_both_inputs_rows(tmp_path):
    """The join's partition count: every image and generated row at PLACE_ROW_BYTES each over
    the task budget (16 MB: 131,072 rows a partition), unless balance.partitions is set. First in
    the file: with a wrong budget every later stage run would name billions of partitions."""
    from realsyn.stage import GLOBAL_SHARD, StepScope

    def sized(images: int, generated: int, **balance) -> int:
        config = parse_config({"workspace": str(tmp_path / f"ws{images}-{generated}"),
                               "executor": {"task_memory_mb": 16}, "balance": balance})
        ctx = Context(config=config, workspace=Workspace(config.workspace))
        stage = BalanceStage()
        ids = pa.array([f"i{i}" for i in range(images)])
        for shard, part in (("00000", ids[:images // 2]), ("00001", ids[images // 2:])):
            ctx.workspace.write_table("images_final", shard, pa.table({"image_id": part}))
            ctx.workspace.write_array("images_final", shard, np.ones((len(part), 1), np.float16))
        ctx.workspace.write_table("generated", "00000", pa.table(
            {"image_id": ids[:generated]}))
        step = stage.steps(config)[0]
        ctx.step = StepScope(stage.name, step, "scratch/balance")
        stage.size(ctx, GLOBAL_SHARD)
        # the count itself (a wrong budget gives billions: never build their names)
        return ctx.workspace.read_json(ctx.scratch_read("size.json"))["join_partitions"]

    assert sized(100_000, 31_072) == 1
    assert sized(100_000, 31_073) == 2
    assert sized(100, 10, partitions=3) == 3


def in_band(planted: Planted) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return planted.embedded & (planted.scores >= LOW) & (planted.scores <= HIGH)


def group_of(planted: Planted, image_id: str) -> int:
    return int(planted.group[planted.ids.index(image_id)])


def expected_kept(planted: Planted, band: np.ndarray, cap: int, seed: int = 0) -> np.ndarray:
    """Generated rows kept: per planted group, the `cap` members of smallest seeded hash."""
    rows = np.flatnonzero(band)
    keys = stable_hashes([planted.generated[r] for r in rows], seed)
    kept: list[int] = []
    for g in range(len(GROUPS)):
        members = sorted((int(keys[i]), int(r)) for i, r in enumerate(rows)
                         if group_of(planted, planted.generated[r]) == g)
        kept += [r for _, r in members[:cap]]
    return np.array(sorted(kept))


def first_per_shard(rows: np.ndarray) -> list[int]:
    """The examples a reason keeps: the first 12 of each generated shard, in shard order, then
    the first 12 of those."""
    out: list[int] = []
    for start in range(0, 93, GENERATED_SHARD):
        out += [int(r) for r in rows if start <= r < start + GENERATED_SHARD][:EXAMPLES]
    return out[:EXAMPLES]


@pytest.fixture
def capped_run(tmp_path):
    """The planted workspace balanced with the cosine band [LOW, HIGH] and cap 15. One run per
    test, not per module: mutmut runs, for a mutant, only the tests during which the mutated
    function ran."""
    ctx = context(tmp_path / "capped", band="cosines", min_similarity=LOW,
                  max_similarity=HIGH, n_clusters=3, cap=CAP)
    planted = plant(ctx.workspace)
    stats = LocalExecutor(1).run(BalanceStage(), ctx)
    return ctx, planted, stats


def test_the_output_is_the_kept_rows_with_score_cluster_and_image_place(capped_run):
    ctx, planted, stats = capped_run
    band = in_band(planted)
    kept = expected_kept(planted, band, CAP)
    workspace = ctx.workspace
    assert workspace.shards("balanced") == ["00000", "00001", "00002"]
    generated = workspace.read_dataset("generated")
    out = workspace.read_dataset("balanced")
    # the generated rows themselves, in input order, then the four added columns
    assert out.select(generated.column_names).equals(generated.take(pa.array(kept)))
    assert out.column_names == [*generated.column_names, "balance_score", "balance_cluster",
                                "image_shard", "image_row"]
    assert out.schema.field("balance_score").type == pa.float32()
    assert out.schema.field("balance_cluster").type == pa.int64()
    assert out.schema.field("image_row").type == pa.int64()
    assert out.column("balance_score").to_pylist() == planted.scores[kept].tolist()
    places = [planted.image_place[planted.generated[r]] for r in kept]
    assert out.column("image_shard").to_pylist() == [shard for shard, _ in places]
    assert out.column("image_row").to_pylist() == [row for _, row in places]
    # one cluster per planted group (the repeated id is clustered by its first vector)
    pairs = set(zip([group_of(planted, planted.generated[r]) for r in kept],
                    out.column("balance_cluster").to_pylist(), strict=True))
    assert len(pairs) == len(GROUPS) == len({label for _, label in pairs})
    # each shard holds its own kept rows
    for number, shard in enumerate(workspace.shards("balanced")):
        mine = kept[(kept >= number * GENERATED_SHARD) & (kept < (number + 1) * GENERATED_SHARD)]
        assert workspace.read_table("balanced", shard).column("image_id").to_pylist() == [
            planted.generated[r] for r in mine]
    assert stats["records_out"] == len(kept) == out.num_rows
    assert stats["dropped_cluster_cap"] == int(band.sum()) - len(kept) > EXAMPLES


def test_the_counts_of_every_reason(capped_run):
    _, planted, stats = capped_run
    scored = planted.embedded & np.isfinite(planted.scores)
    assert stats["records_in"] == 93
    assert stats["dropped_no_embedding"] == 93 - int(planted.embedded.sum()) == LOST + 1
    assert stats["dropped_no_score"] == 3  # two NaN, one null
    assert stats["scored"] == int(scored.sum())
    assert stats["dropped_below_band"] == int((scored & (planted.scores < LOW)).sum()) == 19
    assert stats["dropped_above_band"] == int((scored & (planted.scores > HIGH)).sum()) == 5
    assert stats["clusters"] == 3 and stats["cap_t"] == CAP and stats["cap_extra"] == 0


def band_sizes(planted: Planted) -> list[int]:
    band = np.flatnonzero(in_band(planted))
    return [int(sum(group_of(planted, planted.generated[r]) == g for r in band))
            for g in range(len(GROUPS))]


def test_the_report_holds_the_band_the_clusters_and_the_first_drops(capped_run):
    ctx, planted, stats = capped_run
    band = in_band(planted)
    scored = planted.embedded & np.isfinite(planted.scores)
    kept = expected_kept(planted, band, CAP)
    report = ctx.workspace.read_json("report/balance.json")
    histogram = Counter(dict(sampling.score_histogram(planted.scores[scored])))
    sizes = band_sizes(planted)
    merged = ctx.workspace.stage_stats("balance")
    # the report is written by the last step, before that step's own wall time is added
    assert 0 < report["stats"].pop("wall_s") <= merged.pop("wall_s")
    scores = planted.scores

    def examples(rows, reason):
        return [{"image_id": planted.generated[r], "reason": reason,
                 "score": None if np.isnan(scores[r]) else float(scores[r])}
                for r in first_per_shard(rows)]

    below = np.flatnonzero(scored & (scores < LOW))
    above = np.flatnonzero(scored & (scores > HIGH))
    no_score = np.flatnonzero(planted.embedded & ~np.isfinite(scores))
    cut = np.setdiff1d(np.flatnonzero(band), kept)
    n_scored = int(scored.sum())
    assert report == json.loads(json.dumps({
        "score_text": "text1", "band": [LOW, HIGH], "band_kind": "cosines",
        "band_quantiles": [round(19 / n_scored, 6), round(1 - 5 / n_scored, 6)],
        "band_settings": [["balance.min_similarity", LOW], ["balance.max_similarity", HIGH]],
        "score_histogram": sorted(histogram.items()),
        "kmeans_clusters": 3, "cap_t": CAP, "cap_extra": 0, "target": None,
        "cap_setting": ["balance.cap", CAP], "seed": 0,
        "clusters_before": sampling.size_distribution(np.array(sizes)),
        "clusters_after": sampling.size_distribution(np.minimum(sizes, CAP)),
        "stats": merged,
        "dropped_examples": [*examples(below, "below_band"), *examples(above, "above_band"),
                             *examples(no_score, "no_score"), *examples(cut, "cluster_cap")]}))
    assert len(below) > EXAMPLES and len(cut) > EXAMPLES  # the first 12 of each are kept
    assert merged["records_out"] == stats["records_out"] and merged["scored"] == n_scored


def test_the_summary_line(capped_run):
    ctx, _, stats = capped_run
    q = [19 / stats["scored"], 1 - 5 / stats["scored"]]
    entropy = (stats["entropy_before"], stats["entropy_after"])
    assert entropy[1] > entropy[0] > 0
    assert BalanceStage().summary(ctx, stats) == (
        f"kept {stats['records_out']} of 93 images; band (cosines) [0.5000, 0.6250] = quantiles "
        f"[{q[0]:.3f}, {q[1]:.3f}] on text1 dropped 19 below, 5 above; cap t=15 over 3 clusters "
        f"dropped {stats['dropped_cluster_cap']}; entropy {entropy[0]:.3f} -> {entropy[1]:.3f} "
        f"bits; report: {ctx.workspace.path('report/balance.json')}")


def test_the_drops_name_the_settings_that_decided_them(capped_run):
    ctx, planted, stats = capped_run
    n_band = int(in_band(planted).sum())
    assert BalanceStage().drops(ctx, stats) == [
        Drop("above_band", 5, 93, "balance.max_similarity", HIGH),
        Drop("below_band", 19, 93, "balance.min_similarity", LOW),
        Drop("no_embedding", 4, 93),
        Drop("no_score", 3, 93, "balance.score_text", "text1"),
        Drop("cluster_cap", stats["dropped_cluster_cap"], n_band, "balance.cap", CAP)]


def test_a_derived_cap_and_a_quantile_band_with_renamed_datasets(tmp_path, capfd):
    """No cap and no target: t is auto_cap lowered to the mean cluster size; the clusters'
    count comes from images_per_cluster; the band is the run's quantiles. The stage reads and
    writes the datasets it is given."""
    ctx = context(tmp_path, band="quantiles", low_quantile=0.2, high_quantile=0.9,
                  images_per_cluster=20, cluster_floor_exponent=0.0, auto_cap=30)
    planted = plant(ctx.workspace, generated="gen", images="imgs")
    stage = BalanceStage(generated="gen", images="imgs", output="out")
    stats = LocalExecutor(1).run(stage, ctx)
    # 93 rows fit one task's memory: one join partition, one cluster partition
    progress = capfd.readouterr().err
    assert "[balance:join] 1/1 shards" in progress and "[balance:select] 1/1 shards" in progress
    report = ctx.workspace.read_json("report/balance.json")
    assert report["band_kind"] == "quantiles"
    low, high = report["band"]
    with np.errstate(invalid="ignore"):
        band = planted.embedded & (planted.scores >= low) & (planted.scores <= high)
    n_band = int(band.sum())
    assert report["kmeans_clusters"] == round(n_band / 20) == 3
    sizes = band_sizes(Planted(**{**planted.__dict__, "scores": np.where(band, 0.55, 0.0)}))
    t = n_band // 3
    assert t < 30 and t < max(sizes)  # lowered to the mean size, it binds
    kept = expected_kept(planted, band, t)
    out = ctx.workspace.read_dataset("out")
    assert out.column("image_id").to_pylist() == [planted.generated[r] for r in kept]
    assert not ctx.workspace.exists("datasets/balanced")
    assert report["cap_t"] == stats["cap_t"] == t
    assert report["cap_setting"] == [CAP_DERIVED, 30]
    assert stats["dropped_below_band"] + stats["dropped_above_band"] + n_band == stats["scored"]
    drops = stage.drops(ctx, stats)
    assert [(d.reason, d.setting, d.value) for d in drops] == [
        ("above_band", "balance.high_quantile", 0.9), ("below_band", "balance.low_quantile", 0.2),
        ("no_embedding", None, None), ("no_score", "balance.score_text", "text1"),
        ("cluster_cap", CAP_DERIVED, t)]
    assert drops[-1] == Drop("cluster_cap", n_band - len(kept), n_band, CAP_DERIVED, t)
    assert stage.reads(ctx.config) == ["datasets/gen", "datasets/imgs", "arrays/imgs"]
    assert stage.writes(ctx.config) == ["datasets/out"]


def test_a_target_fills_and_names_itself(tmp_path):
    ctx = context(tmp_path, band="cosines", min_similarity=LOW, max_similarity=HIGH,
                  n_clusters=3, target=40, fill_target=True, seed=4)
    planted = plant(ctx.workspace)
    stats = LocalExecutor(1).run(BalanceStage(), ctx)
    sizes = sorted(band_sizes(planted))
    t = max(t for t in range(max(sizes) + 1) if sum(min(s, t) for s in sizes) <= 40)
    extra = 40 - sum(min(s, t) for s in sizes)
    assert extra > 0 and stats["records_out"] == 40
    assert (stats["cap_t"], stats["cap_extra"]) == (t, extra)
    report = ctx.workspace.read_json("report/balance.json")
    assert (report["target"], report["cap_setting"], report["seed"]) == (
        40, ["balance.target", 40], 4)
    assert (report["cap_t"], report["cap_extra"]) == (t, extra)
    assert isinstance(report["cap_t"], int) and isinstance(report["cap_extra"], int)
    assert f"; cap t={t} over 3 clusters dropped " in BalanceStage().summary(ctx, stats)
    # each group keeps its members of smallest hash under the configured seed
    out = set(ctx.workspace.read_dataset("balanced").column("image_id").to_pylist())
    rows = np.flatnonzero(in_band(planted))
    keys = dict(zip(rows.tolist(), stable_hashes([planted.generated[r] for r in rows], 4),
                    strict=True))
    for g in range(len(GROUPS)):
        members = sorted((int(keys[r]), r) for r in rows.tolist()
                         if group_of(planted, planted.generated[r]) == g)
        mine = [planted.generated[r] in out for _, r in members]
        assert mine == sorted(mine, reverse=True) and sum(mine) in (min(len(mine), t), t + 1)
    assert BalanceStage().drops(ctx, stats)[-1] == Drop(
        "cluster_cap", int(in_band(planted).sum()) - 40, int(in_band(planted).sum()),
        "balance.target", 40)


def test_more_clusters_asked_than_rows_in_the_band(tmp_path):
    """n_clusters above the band's rows: one cluster per row, every row kept."""
    ctx = context(tmp_path, band="cosines", min_similarity=0.6, max_similarity=0.61,
                  n_clusters=500, cap=1)
    planted = plant(ctx.workspace)
    with np.errstate(invalid="ignore"):
        band = planted.embedded & (planted.scores >= 0.6) & (planted.scores <= 0.61)
    stats = LocalExecutor(1).run(BalanceStage(), ctx)
    assert 1 < int(band.sum()) < len(GROUPS) * 3
    report = ctx.workspace.read_json("report/balance.json")
    assert report["kmeans_clusters"] == int(band.sum())
    assert stats["clusters"] == len(set(ctx.workspace.read_dataset("balanced").column(
        "balance_cluster").to_pylist())) <= int(band.sum())


def test_the_steps_run_in_order_and_hand_their_scratch_on(tmp_path):
    """Each step's tasks, and the scratch it reads and writes: every read was written by an
    earlier step (Context.scratch_read refuses any other)."""
    stage = BalanceStage()
    steps = stage.steps(context(tmp_path).config)
    assert [(s.name, s.shards.__name__, s.process.__name__, s.reads, s.writes)
            for s in steps] == [
        ("size", "single", "size", (), ("size.json",)),
        ("locate", "image_shards", "locate", ("size.json",), ("places",)),
        ("request", "generated_shards", "request", ("size.json",), ("requests",)),
        ("join", "join_partitions", "join", ("size.json", "places", "requests"),
         ("located",)),
        ("score", "generated_shards", "score", ("located",), ("scored", "score_counts")),
        ("band", "single", "resolve_band", ("score_counts",), ("band.json",)),
        ("cut", "generated_shards", "cut", ("band.json", "scored"), ("in_band", "examples")),
        ("train", "single", "train", ("in_band",),
         ("centroids.npy", "coarse.npy", "cells.npy", "plan.json")),
        ("assign", "generated_shards", "assign",
         ("plan.json", "in_band", "centroids.npy", "coarse.npy", "cells.npy"),
         ("labels", "counts", "members")),
        ("plan", "single", "plan", ("plan.json", "counts"), ("caps.npy", "plan.json")),
        ("select", "cluster_partitions", "select", ("plan.json", "members", "caps.npy"),
         ("kept",)),
        ("write", "generated_shards", "write", ("in_band", "labels", "plan.json", "kept"),
         ("capped",)),
        ("report", "single", "report", ("plan.json", "examples", "capped", "band.json"), ())]
    written: set[str] = set()
    for step in steps:
        assert set(step.reads) <= written, step.name
        written |= set(step.writes)


def test_no_images_is_refused_naming_the_dataset(tmp_path):
    """The image shards a task list is built from (the executor refuses a missing dataset
    before any step; an empty one reaches the stage)."""
    ctx = context(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"dataset 'imgs' is empty or missing in "
                       + str(tmp_path / "ws")):
        BalanceStage(images="imgs").image_shards(ctx)


def test_stored_scores_need_no_encoder(tmp_path):
    """text1 with its stored score1: the configured encoder (here one that cannot load) is
    never loaded."""
    config = parse_config({"workspace": str(tmp_path / "ws"), "executor": {"workers": 1},
                           "embed": {"encoder": {"backend": "open_clip",
                                                 "model": str(tmp_path / "missing.json")}},
                           "balance": {"band": "cosines", "min_similarity": LOW,
                                       "max_similarity": HIGH, "n_clusters": 3, "cap": CAP}})
    ctx = Context(config=config, workspace=Workspace(config.workspace))
    planted = plant(ctx.workspace)
    stats = LocalExecutor(1).run(BalanceStage(), ctx)
    assert stats["records_out"] == len(expected_kept(planted, in_band(planted), CAP))


# ---------------------------------------------------------------- texts scored by an encoder
# The tiny open_clip architecture with seeded random weights (tests/tiny_open_clip.py): a real
# encoder the stage loads itself from embed.encoder, in a second.
SUBJECTS = ["a cat on a sofa", "a red truck", "a bowl of soup", "a mountain lake",
            "a violin", "a street at night", "a dog in snow", "a sailing boat"]


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    from realsyn.config import EncoderConfig
    from realsyn.models.encoders import load_encoder
    from tiny_open_clip import TINY_OPEN_CLIP

    path = tmp_path_factory.mktemp("open_clip") / "realsyn-tiny-balance.json"
    path.write_text(json.dumps(TINY_OPEN_CLIP))
    settings = {"backend": "open_clip", "model": str(path)}
    return settings, load_encoder(EncoderConfig(**settings))


def encoded_workspace(tmp_path, name: str, encoder, score_text: str, with_scores: bool = True):
    """Eight images whose vectors are the encoder's embeddings of SUBJECTS, and their generated
    rows; syn_text: a paraphrase, another subject's, none, or blank."""
    from realsyn.models.encoders import encoder_identity

    settings, model = encoder
    config = parse_config({"workspace": str(tmp_path / name), "executor": {"workers": 1},
                           "embed": {"encoder": settings, "text_batch_size": 3},
                           "balance": {"score_text": score_text, "band": "cosines",
                                       "min_similarity": -1.0, "max_similarity": 1.0,
                                       "n_clusters": 1, "cap": 100}})
    ctx = Context(config=config, workspace=Workspace(config.workspace))
    vectors = np.asarray(model.embed_texts(SUBJECTS), np.float32)
    ids = [f"img{i}" for i in range(len(SUBJECTS))]
    ctx.workspace.write_table("images_final", "00000", pa.table({"image_id": ids}))
    ctx.workspace.write_array("images_final", "00000", vectors.astype(np.float16))
    ctx.workspace.update_manifest(encoder={"identity": encoder_identity(config.embed.encoder)})
    syn = ["a cat lying on a sofa", "a city street at night", None, "  ", "a cat sleeping",
           "soup in a bowl", "a boat", "a big red truck"]
    write_generated(ctx.workspace, ids, np.linspace(0.2, 0.4, len(ids)), syn_texts=syn,
                    with_scores=with_scores)
    return ctx, ids, syn


def cosines(model, texts: list[str | None], ctx) -> np.ndarray:
    """Each image's cosine with its text, the text embedded alone (NaN: no text)."""
    images = ctx.workspace.read_array("images_final", "00000")
    return np.array([np.nan if not (text and text.strip()) else float(sampling.rowwise_cosine(
        images[i:i + 1], model.embed_texts([text]))[0]) for i, text in enumerate(texts)])


def test_syn_text_is_embedded_by_the_configured_encoder_in_batches(tmp_path, tiny_encoder):
    ctx, ids, syn = encoded_workspace(tmp_path, "syn", tiny_encoder, "syn_text")
    stats = LocalExecutor(1).run(BalanceStage(), ctx)
    assert ctx.workspace.read_json("report/balance.json")["kmeans_clusters"] == 1  # n_clusters
    expected = cosines(tiny_encoder[1], syn, ctx)
    out = ctx.workspace.read_dataset("balanced")
    assert out.column("image_id").to_pylist() == [ids[i] for i in (0, 1, 4, 5, 6, 7)]
    assert out.column("balance_score").to_numpy() == pytest.approx(
        expected[[0, 1, 4, 5, 6, 7]], abs=1e-5)
    assert stats["dropped_no_score"] == 2  # no syn_text, a blank one


def test_mean_averages_the_stored_scores_and_syn_text(tmp_path, tiny_encoder):
    ctx, ids, syn = encoded_workspace(tmp_path, "mean", tiny_encoder, "mean")
    LocalExecutor(1).run(BalanceStage(), ctx)
    generated = ctx.workspace.read_dataset("generated")
    stored = np.vstack([np.asarray(generated.column(f"score{k}"), np.float64)
                        for k in (1, 2, 3)])
    syn_scores = cosines(tiny_encoder[1], syn, ctx)
    expected = [np.mean([*stored[:, i], *([] if np.isnan(syn_scores[i]) else [syn_scores[i]])])
                for i in range(len(ids))]
    out = ctx.workspace.read_dataset("balanced")
    assert out.column("image_id").to_pylist() == ids
    assert out.column("balance_score").to_numpy() == pytest.approx(expected, abs=1e-5)


def test_text1_without_stored_scores_is_embedded(tmp_path, tiny_encoder):
    ctx, ids, _ = encoded_workspace(tmp_path, "text1", tiny_encoder, "text1", with_scores=False)
    LocalExecutor(1).run(BalanceStage(), ctx)
    texts = ctx.workspace.read_dataset("generated").column("text1").to_pylist()
    out = ctx.workspace.read_dataset("balanced")
    assert out.column("image_id").to_pylist() == ids
    assert out.column("balance_score").to_numpy() == pytest.approx(
        cosines(tiny_encoder[1], texts, ctx), abs=1e-5)


def test_the_recorded_encoder_must_be_the_configured_one(tmp_path, tiny_encoder):
    """The identity is recorded as a dict or (older workspaces) as a plain string."""
    from realsyn.balance.stage import TextScorer, load_text_encoder

    ctx, _, _ = encoded_workspace(tmp_path, "check", tiny_encoder, "syn_text")
    assert load_text_encoder(ctx) is tiny_encoder[1]
    identity = ctx.workspace.manifest()["encoder"]["identity"]
    ctx.workspace.update_manifest(encoder=identity)
    assert load_text_encoder(ctx) is tiny_encoder[1]
    for recorded in ("open_clip:another:model", {"identity": "open_clip:another:model"}):
        ctx.workspace.update_manifest(encoder=recorded)
        with pytest.raises(ValueError, match=f"with 'open_clip:another:model' but the "
                           f"configured encoder is '{identity}'"):
            load_text_encoder(ctx)
    table = pa.table({"syn_text": ["a cat"]})
    with pytest.raises(ValueError, match="scoring 'syn_text' needs a text encoder"):
        TextScorer(None, 3).scores(table, "syn_text", np.ones((1, 64), np.float32))


def test_summary_and_drops_before_any_count(tmp_path):
    """A stage with no stats yet (nothing ran, no report): every count shows as 0 and the band
    as unknown, and nothing is dropped."""
    ctx = context(tmp_path)
    assert BalanceStage().summary(ctx, {}) == (
        "kept 0 of 0 images; band (?) [?, ?] = quantiles [?, ?] on text1 dropped 0 below, "
        "0 above; cap t=None over 0 clusters dropped 0; entropy 0.000 -> 0.000 bits; report: "
        f"{ctx.workspace.path('report/balance.json')}")
    assert BalanceStage().drops(ctx, {}) == []
    # counters without the counts they are out of: out of nothing
    assert BalanceStage().drops(ctx, {"dropped_no_embedding": 2, "dropped_cluster_cap": 3}) == [
        Drop("no_embedding", 2, 0), Drop("cluster_cap", 3, 0, CAP_DERIVED, None)]
    # scores only below: the share below is all of them, the upper edge keeps them all
    assert "quantiles [1.000, 1.000]" in BalanceStage().summary(
        ctx, {"scored": 4, "dropped_below_band": 4})
    assert "quantiles [0.000, 0.500]" in BalanceStage().summary(
        ctx, {"scored": 4, "dropped_above_band": 2})


def test_partitioned_clusters_and_join_keep_the_same_rows(capped_run, tmp_path, capfd):
    """Two join and two cluster partitions (members split by cluster range): the same output
    as the single partition of the capped run."""
    ctx, _, stats = capped_run
    parted = context(tmp_path, band="cosines", min_similarity=LOW, max_similarity=HIGH,
                     n_clusters=3, cap=CAP, partitions=2)
    plant(parted.workspace)
    assert LocalExecutor(1).run(BalanceStage(), parted)["records_out"] == stats["records_out"]
    progress = capfd.readouterr().err
    assert "[balance:join] 2/2 shards" in progress and "[balance:select] 2/2 shards" in progress
    assert parted.workspace.read_dataset("balanced").equals(ctx.workspace.read_dataset(
        "balanced"))


def test_an_image_shard_whose_embeddings_miss_rows_is_refused_by_name(tmp_path):
    ctx = context(tmp_path, band="cosines", n_clusters=3, cap=CAP)
    plant(ctx.workspace)
    ctx.workspace.write_array("images_final", "00001", np.ones((24, 16), np.float16))
    with pytest.raises(Exception, match="images_final/00001: 25 records but 24 embedding rows"):
        LocalExecutor(1).run(BalanceStage(), ctx)


def test_an_injected_encoder_is_used_instead_of_the_configured_one(tmp_path, tiny_encoder):
    """An encoder given to the stage (tests, notebooks) scores the texts: the configured one,
    which cannot load here, is never loaded."""
    ctx, _, syn = encoded_workspace(tmp_path, "injected", tiny_encoder, "syn_text")
    ctx.config.embed.encoder.model = str(tmp_path / "missing.json")
    ctx.workspace.update_manifest(encoder={})
    LocalExecutor(1).run(BalanceStage(encoder=tiny_encoder[1]), ctx)
    out = ctx.workspace.read_dataset("balanced")
    assert out.column("balance_score").to_numpy() == pytest.approx(
        cosines(tiny_encoder[1], syn, ctx)[[0, 1, 4, 5, 6, 7]], abs=1e-5)
