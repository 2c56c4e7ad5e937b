"""From census and probe to a plan: expected records and time per stage, LLM requests and tokens.

Records: each stage's count scales the probe's by what drives it: documents (ingest), images
(extract_images and everything after retrieval), text items (extract_sentences), or both in
their measured proportion (dedup, embed, semantic_dedup); a user stage scales as the stage
that writes its input. Stages are told apart by what they are (a renamed built-in stage is
still the stage it was), not by their names. Duplicates span documents, so a few documents show
few of them: the images left after dedup are corrected by the census's quality and pHash dedup
of an image sample, and the images left after semantic dedup by the census's semantic dedup of
that sample's pHash survivors (embedded with the run's encoder, grouped at the stage's
threshold). The sentences left after extraction are corrected the same way, by the share of the
census's sentence sample that every sentence filter keeps (a few pages keep their own share).
What retrieval drops after that (images without a usable sentence) comes from the probe.

Time = the stage's fixed cost, measured in the probe as it will be paid (pool start, each
worker's imports and model loads, finalize, commit: the probe runs the same pool) + its work:
the probe's task wall seconds per record x the records, shared among the shards the run's plan
makes on the run's workers, no more at once than the machine's cores (task walls measured while
more tasks than cores ran are first divided by that contention). A global or stepped stage
keeps the probe's own parallelism.

Ranges (about two standard errors, from what the probe measured): the fixed cost is one
measurement and is kept at both ends; the tasks' seconds run over the middle 95% of the lines
through resamples of the probe's tasks (a bootstrap: how much the split between a task's own
cost and its records' moves with which tasks the probe happened to run), or, with fewer than 3
tasks, over two standard errors of a mean per-record time (costs per record taken to vary about
as much as they are large: coefficient of variation 1, not measured); either end also moves by
the census's error on the stage's image count. The machine's load is taken as it was during the
probe (the plan prints it): other jobs that start or stop later move every wall time.

LLM requests = images reaching generation x the probe's requests per image, as the stage counts
them (a caption request per image, a fusion request per image with a text1); their range
carries the sampling error of the shares behind the count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from realsyn.config import RealsynConfig
from realsyn.dryrun.census import Census
from realsyn.dryrun.probe import ProbeResult, StageProbe, machine_cores
from realsyn.generate.fusion import (
    caption_template,
    estimate_tokens,
    fusion_messages,
    parse_tags,
)
from realsyn.progress import format_duration

# Mixed stages: where their image and their sentence inputs are counted, as (stage kind, stats
# key).
MIXED_INPUTS = {
    "dedup": (("extract_images", "images_out"), ("extract_sentences", "sentences_out")),
    "embed": (("dedup", "images_out"), ("dedup", "sentences_out")),
    "semantic_dedup": (("dedup", "images_out"), ("dedup", "sentences_out")),
}


@dataclass
class StageEstimate:
    name: str
    records: int
    seconds: float | None
    basis: str
    # Seconds at the low and high end of the sampling uncertainty (about 2 standard errors).
    low_s: float | None = None
    high_s: float | None = None


@dataclass
class Plan:
    census: Census
    probe: ProbeResult
    stages: list[StageEstimate]
    llm_requests: int
    prompt_tokens: int
    completion_tokens: int
    # LLM requests at the low and high end of the image count's sampling error (2 standard errors)
    llm_requests_range: tuple[int, int] = (0, 0)

    @property
    def total_seconds(self) -> float:
        return sum(stage.seconds or 0.0 for stage in self.stages)

    @property
    def total_range(self) -> tuple[float, float]:
        return (sum(stage.low_s or 0.0 for stage in self.stages),
                sum(stage.high_s or 0.0 for stage in self.stages))


def _ratio(full: float, probe: float) -> float:
    return full / probe if probe else 0.0


def stage_scale(name: str, census: Census, probe: ProbeResult) -> float:
    measured = probe.stages[name]
    scale = _records_scale(measured, census, probe)
    return scale * probe.thinning if measured.thinned else scale


def dedup_correction(census: Census, probe: ProbeResult) -> float:
    """How much more perceptual dedup removes from the census's image sample than from the
    probe's few documents (1 when either cannot tell); with the census's quality share too
    when it decoded its sample (the probe's few images pass quality at their own rate)."""
    extract, dedup = probe.of_kind("extract_images"), probe.of_kind("dedup")
    if census.unique_share is None or not extract or not dedup:
        return 1.0
    census_share, base = census.unique_share, extract.stats.get("images_out", 0)
    if census.images_sampled and extract.records_in:
        census_share *= census.images_quality_ok / census.images_sampled
        base = extract.records_in
    probe_share = _ratio(dedup.stats.get("images_out", 0), base)
    return census_share / probe_share if probe_share else 1.0


def semantic_correction(census: Census, probe: ProbeResult) -> float:
    """How much more semantic dedup removes from the census's pHash survivors than from the
    probe's (1 when either cannot tell)."""
    stage = probe.of_kind("semantic_dedup")
    if census.semantic_share is None or not stage:
        return 1.0
    probe_share = _ratio(stage.stats.get("images_out", 0), stage.stats.get("images_in", 0))
    return census.semantic_share / probe_share if probe_share else 1.0


def sentence_correction(census: Census, probe: ProbeResult) -> float:
    """How many more sentences per text item every filter keeps on the census's sentence sample
    than in the probe's few documents (1 when either cannot tell): sentence counts after
    extract_sentences come from the census, never from the probe's few pages."""
    stage = probe.of_kind("extract_sentences")
    share = census.sentence_kept_share
    if share is None or not stage or not stage.records_in:
        return 1.0
    probe_per_text = stage.stats.get("sentences_out", 0) / stage.records_in
    census_per_text = share * census.sentences_per_text
    return census_per_text / probe_per_text if probe_per_text else 1.0


def producer(measured: StageProbe, probe: ProbeResult) -> StageProbe | None:
    """The latest stage before `measured` that writes what it reads first."""
    before: list[StageProbe] = []
    for stage in probe.stages.values():
        if stage is measured:
            break
        before.append(stage)
    for location in measured.reads:
        for stage in reversed(before):
            if location in stage.writes:
                return stage
    return None


def _records_scale(measured: StageProbe, census: Census, probe: ProbeResult) -> float:
    documents = _ratio(census.expected(census.documents), probe.documents)
    images = _ratio(census.expected(census.images), probe.images)
    texts = _ratio(census.expected(census.texts), probe.texts)
    deduplicated = images * dedup_correction(census, probe)
    kind = measured.kind
    if kind is None:  # a user stage: as many more records as the stage it reads from
        source = producer(measured, probe)
        return _records_scale(source, census, probe) if source is not None else documents
    if kind == "ingest":
        return documents
    if kind == "extract_sentences":
        return texts
    if kind == "extract_images":
        return images
    if kind in MIXED_INPUTS:
        (image_stage, image_key), (text_stage, text_key) = MIXED_INPUTS[kind]
        image_part = probe.of_kind(image_stage)
        text_part = probe.of_kind(text_stage)
        n_images = image_part.stats.get(image_key, 0) if image_part else 0
        n_texts = text_part.stats.get(text_key, 0) if text_part else 0
        total = n_images + n_texts
        image_scale = images if kind == "dedup" else deduplicated
        text_scale = texts * sentence_correction(census, probe)
        return (image_scale * n_images + text_scale * n_texts) / total if total else image_scale
    return deduplicated * semantic_correction(census, probe)


# Stages whose records are images that survived perceptual dedup (or fewer: retrieval keeps those
# with matched sentences).
IMAGE_STAGES = ("retrieve", "generate", "balance", "write")


def census_images_after_dedup(census: Census) -> int:
    """Images expected after quality, perceptual and semantic dedup, from the census's image
    sample alone: duplicates span documents, so only a sample from all over the input shows
    them."""
    if not census.images_sampled or census.unique_share is None:
        return 0
    quality = census.images_quality_ok / census.images_sampled
    semantic = census.semantic_share if census.semantic_share is not None else 1.0
    return round(census.expected(census.images) * quality * census.unique_share * semantic)


def stage_records(kind: str | None, probe_records: int, scale: float,
                  census: Census) -> tuple[int, str]:
    """Records of a stage, and where the count comes from. When no probe record reached an image
    stage, the probe knows nothing of it: the census's images after dedup stand in (an upper
    bound, as retrieval keeps only the images with matched sentences), never zero."""
    if kind in IMAGE_STAGES and probe_records == 0:
        fallback = census_images_after_dedup(census)
        if fallback:
            return fallback, "census images after dedup (no probe record reached it)"
    return round(probe_records * scale), ""


def share_error(share: float, sample: int) -> float:
    """Relative standard error of a share measured on `sample` items (binomial); 1 when the
    sample is empty, i.e. the share is unknown."""
    if sample <= 0 or share <= 0:
        return 1.0
    return math.sqrt((1 - share) / (share * sample))


def count_error(kind: str | None, census: Census) -> float:
    """Relative standard error of a stage's count from the census's shares: the pHash share on
    the quality-passing sample, and after semantic dedup the semantic share on the embedded
    pHash survivors; for stages of images and sentences, also the share of sampled sentences
    every filter keeps (each part's error taken whole: an upper bound on the sum's)."""
    error = 0.0
    if kind in MIXED_INPUTS and census.sentence_kept_share is not None:
        error += share_error(census.sentence_kept_share, census.sentences_sampled) ** 2
    if kind in IMAGE_STAGES or kind in ("embed", "semantic_dedup"):
        error += share_error(census.unique_share or 0.0, census.images_quality_ok) ** 2
    if kind in IMAGE_STAGES and census.semantic_share is not None:
        error += share_error(census.semantic_share, census.images_embedded) ** 2
    return math.sqrt(error)


def relative_error(kind: str | None, records: int, census: Census,
                   resampled: bool = False) -> float:
    """Relative standard error of a stage's work: the census's error on its image count
    (`count_error`) and, unless the probe's tasks were `resampled` (which measures it), that of
    its per-record time, a mean over the probe's `records` (costs per record taken to vary
    about as much as they are large: coefficient of variation 1)."""
    time_error = 0.0 if resampled else 1 / math.sqrt(max(1, records))
    return math.sqrt(time_error ** 2 + count_error(kind, census) ** 2)


def time_range(fixed: float, work: float, error: float) -> tuple[float, float]:
    """Low and high seconds: `fixed` is kept and `work` moves by two standard errors (divided
    at the low end, so the low end stays above the fixed cost)."""
    spread_factor = 1 + 2 * error
    return fixed + work / spread_factor, fixed + work * spread_factor


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def stage_range(config: RealsynConfig, measured: StageProbe, records: int, shards: int,
                cores: int | None, census: Census) -> tuple[float, float]:
    """Low and high wall seconds of a stage. Its fixed cost is one measurement, kept at both
    ends. Its tasks' seconds: with 3 tasks or more, the middle 95% of what the run's tasks cost
    by the lines through resamples of the probe's tasks (`StageProbe.resampled_costs`); with
    fewer, two standard errors of a mean per-record time. Either end moves by two of the
    census's standard errors on the stage's count."""
    work = [sum(stage_work(config, measured, records, shards, cores, cost)[:2])
            for cost in measured.resampled_costs()]
    if not work:
        work = [sum(stage_work(config, measured, records, shards, cores)[:2])]
    error = relative_error(measured.kind, measured.records_in, census, len(work) > 1)
    low = time_range(0.0, percentile(work, 0.025), error)[0]
    high = time_range(0.0, percentile(work, 0.975), error)[1]
    return measured.fixed_s + low, measured.fixed_s + high


def requests_per_image(config: RealsynConfig) -> int:
    """LLM requests per generated image: the fusion prompt, and the caption prompt when the LLM
    writes the captions (used when the probe generated nothing to count them)."""
    return 1 + (config.generate.captioner == "tags_llm")


def busy_workers(config: RealsynConfig, shards: int, cores: int | None = None) -> float:
    """Shards run `workers` at a time (3 shards on 2 workers take 2 rounds: 1.5 busy), and on
    the local executor no more of them pass a second of work per second than the machine has
    `cores` (4 workers on 2 cores: 2)."""
    workers = max(1, config.executor.workers)
    shards = max(1, shards)
    busy = shards / math.ceil(shards / workers)
    if config.executor.kind == "local":
        busy = min(busy, cores or machine_cores())
    return busy


def stage_work(config: RealsynConfig, measured: StageProbe, records: int, shards: int,
               cores: int | None = None, cost: tuple[float, float] | None = None
               ) -> tuple[float, float, str]:
    """Wall seconds of a stage's tasks in the run, as (what its tasks pay whatever their size,
    what scales with its records), and how they were shared. From the probe's tasks: seconds per
    task and per record (`StageProbe.task_cost`, each task's wall time over the tasks that shared
    its core). Per-shard stages pay per task once per shard of the run's plan and share the work
    among its workers; global and stepped stages run as many tasks, as many at once, as in the
    probe. `cost`: (seconds per task, per record) instead of the probe's line."""
    per_task, per_record = cost or measured.task_cost()
    if measured.is_global or measured.stepped:
        kind = "global" if measured.is_global else "steps"
        busy = measured.parallelism
        tasks = measured.tasks
        basis = f"{kind} as in the probe ({busy:.3g} tasks at once)"
    else:
        busy = busy_workers(config, shards, cores)
        tasks = shards
        contention = measured.contention
        per_task, per_record = per_task / contention, per_record / contention
        basis = f"{shards} shards on {busy:.3g} busy workers"
    return (per_task * tasks / busy, per_record * records / busy,
            basis + f"; {per_task:.2f} s per task + {per_record:.3f} s per record")


def llm_usage(config: RealsynConfig, probe: ProbeResult, images: int) -> tuple[int, int, int]:
    """(requests, prompt tokens, completion tokens) for `images` generated rows, from the
    probe's rows: the fusion prompt of each, the caption prompt when the LLM writes captions."""
    generate = probe.of_kind("generate")
    rows = probe.generated_rows
    if generate is None or not rows or generate.records_in == 0:
        return requests_per_image(config) * images, 0, 0
    per_image = sum(v for k, v in generate.stats.items()
                    if k.endswith("llm_requests")) / generate.records_in
    prompt = completion = 0
    captions_by_llm = config.generate.captioner == "tags_llm"
    for row in rows:
        tags = [tag for tag, _ in parse_tags(row.get("tags"))]
        messages = fusion_messages(row.get("text1") or "", row.get("caption") or "", tags)
        prompt += sum(estimate_tokens(m["content"]) for m in messages)
        completion += estimate_tokens(row.get("syn_text") or "")
        if captions_by_llm:
            caption = caption_template().render(labels=", ".join(tags))
            prompt += sum(estimate_tokens(m["content"]) for m in caption)
            completion += estimate_tokens(row.get("caption") or "")
    scale = images / len(rows)
    return round(per_image * images), round(prompt * scale), round(completion * scale)


def estimate(config: RealsynConfig, census: Census, probe: ProbeResult,
             cores: int | None = None) -> Plan:
    """`cores`: of the machine that will run a local executor (default: this one)."""
    shards = max(1, census.shards_total or math.ceil(
        census.expected(census.documents) / max(1, config.executor.shard_size)))
    stages = []
    for name, measured in probe.stages.items():
        if measured.error:
            stages.append(StageEstimate(name, 0, None, f"probe failed: {measured.error}"))
            continue
        scale = stage_scale(name, census, probe)
        records, source = stage_records(measured.kind, measured.records_in, scale, census)
        per_tasks, work, basis = stage_work(config, measured, records, shards, cores)
        fixed = measured.fixed_s + per_tasks
        seconds = fixed + work
        low, high = stage_range(config, measured, records, shards, cores, census)
        what = measured.kind or "user stage"
        stages.append(StageEstimate(
            name, records, seconds,
            (f"{what}; " if what != name else "")
            + f"{basis}; probe {measured.records_in} records in {measured.tasks} tasks: "
            f"fixed {measured.fixed_s:.1f} s + tasks {measured.task_s:.1f} s "
            f"({measured.wall_s:.1f} s wall)"
            + (f"; records: {source}" if source else ""), low, high))
    generate = next((s for s, m in zip(stages, probe.stages.values(), strict=True)
                     if m.kind == "generate"), None)
    requests, prompt, completion = llm_usage(config, probe, generate.records if generate else 0)
    low, high = time_range(0.0, requests, generation_count_error(census, probe))
    return Plan(census, probe, stages, requests, prompt, completion,
                (math.floor(low), math.ceil(high)))


def generation_count_error(census: Census, probe: ProbeResult) -> float:
    """Relative standard error of the images reaching generation: the census's dedup shares,
    and the share of images retrieval keeps, measured on the probe's few."""
    retrieve = probe.of_kind("retrieve")
    error = count_error("generate", census) ** 2
    if retrieve and retrieve.records_in and probe.retrieved_rows:
        error += share_error(probe.retrieved_rows / retrieve.records_in, retrieve.records_in) ** 2
    return math.sqrt(error)


def format_plan(plan: Plan, measured: dict[str, float] | None = None) -> str:
    census = plan.census
    lines = [
        f"inputs: {census.expected(census.documents):,} documents, "
        f"{census.expected(census.images):,} images, {census.expected(census.texts):,} text "
        f"items (read {census.units_read} of {census.units_total} work units)",
        f"sentences: about {census.sentences_per_text:.1f} per text item; "
        f"{plan.census.cheap_pass_rate:.0%} of {census.sentences_sampled} sampled pass the cheap "
        f"filters ({', '.join(f'{k} {v}' for k, v in sorted(census.sentence_filter.items()))})",
        f"images: {census.images_sampled} sampled with their bytes, "
        f"{census.images_quality_ok} pass quality, {census.images_unique} left after "
        f"perceptual dedup" + (f", {census.images_semantic_unique} of {census.images_embedded} "
                               "embedded left after semantic dedup"
                               if census.images_semantic_unique is not None else ""),
        *([f"sentences kept by every filter (parser and perplexity included): "
           f"{census.sentence_kept_share:.0%} of the {census.sentences_sampled} sampled"]
          if census.sentence_kept_share is not None else []),
        f"probe: {plan.probe.documents} documents, {plan.probe.images} images, "
        f"{plan.probe.texts} text items through every stage (images after dedup corrected "
        f"x{dedup_correction(census, plan.probe):.2f}, after semantic dedup "
        f"x{semantic_correction(census, plan.probe):.2f} by the image sample; sentences "
        f"x{sentence_correction(census, plan.probe):.2f} by the sentence sample)",
        "",
        f"times: wall seconds of the probe's run ({format_duration(plan.probe.wall_s)} on "
        f"{plan.probe.workers} workers, as the run's pool): each stage's fixed cost (pool start, "
        "model loads, commit) + its task seconds per record x the records, shared among the "
        "run's shards and workers",
        load_line(plan.probe),
        f"{'stage':<18} {'records in':>11} {'estimate':>10} {'range':>19}  basis",
    ]
    for stage in plan.stages:
        time_text = format_duration(stage.seconds) if stage.seconds is not None else "?"
        lines.append(f"{stage.name:<18} {stage.records:>11,} {time_text:>10} "
                     f"{format_range(stage.low_s, stage.high_s):>19}  {stage.basis}")
    low, high = plan.total_range
    lines.append(f"{'total':<18} {'':>11} {format_duration(plan.total_seconds):>10} "
                 f"{format_range(low, high):>19}")
    low, high = plan.llm_requests_range
    lines.append(f"LLM: {plan.llm_requests:,} requests ({low:,} - {high:,}), about "
                 f"{plan.prompt_tokens:,} prompt and {plan.completion_tokens:,} completion tokens")
    lines.append("")
    lines.append(closing_note(plan, measured))
    return "\n".join(lines)


def load_line(probe: ProbeResult) -> str:
    """The machine's load during the probe: the times assume it."""
    if probe.load is None:
        return "load during the probe: not measured"
    return (f"load during the probe: {probe.load[0]:.1f} - {probe.load[1]:.1f} on "
            f"{machine_cores()} cores; the times assume the same load")


def format_range(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "?"
    return f"{format_duration(low)} - {format_duration(high)}"


def closing_note(plan: Plan, measured: dict[str, float] | None) -> str:
    """The estimate against the stage times of a run this workspace measured, when it has one."""
    if not measured:
        return ("note: no measured run in this workspace yet. The estimate comes from a probe of "
                f"{plan.probe.documents} documents run by the local executor; compare it with the "
                "stage times `realsyn run` prints (and the report's 'Time per stage').")
    estimated = {stage.name: stage.seconds or 0.0 for stage in plan.stages}
    common = [name for name in estimated if name in measured]
    est = sum(estimated[name] for name in common)
    real = sum(measured[name] for name in common)
    worst = max(common, key=lambda n: abs(estimated[n] - measured[n]))
    return (f"note: the last measured run of this workspace took {format_duration(real)} over "
            f"{len(common)} stages; this estimate says {format_duration(est)} "
            f"({est / real:.2f}x the measured time). Furthest stage: {worst} "
            f"({format_duration(estimated[worst])} estimated, "
            f"{format_duration(measured[worst])} measured).")
