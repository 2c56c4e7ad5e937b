"""Mutation testing of the core modules with mutmut 3, one module at a time, and tests/MUTATION.md.

Each module runs in its own scratch folder (build/mutation/<module>/) whose setup.cfg tells mutmut
to mutate that one file and to run only the fast tests listed for it below, so a module's run
fits on a small machine and never re-runs the whole suite. mutmut copies the tree into the
scratch folder's mutants/; the scratch folder only links to src/ and tests/.

Per module, the verdict of every mutant and the wall time go to tests/mutation/<module>.json
(committed), and tests/MUTATION.md is rewritten from all of those files, with every surviving
mutant's judgement read from tests/mutation/judgements.toml (keyed by mutant name, each with the
changed lines it judged: a judgement whose mutant no longer matches is shown as stale).

    python scripts/mutation.py                      # every module
    python scripts/mutation.py extract/phash.py     # one module (others keep their results)
    python scripts/mutation.py --report-only        # only rewrite tests/MUTATION.md
    python scripts/mutation.py --recheck executors/ray.py   # its survivors, with today's tests
    python scripts/mutation.py --recheck --gap-closed pipeline.py   # only those judged closed

In the report every mutant counts in one column: killed, equivalent, equivalent in use,
accepted, timeout or open (see write_report and the categories of judgements.toml).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRATCH = ROOT / "build" / "mutation"
RESULTS = ROOT / "tests" / "mutation"
JUDGEMENTS = RESULTS / "judgements.toml"
REPORT = ROOT / "tests" / "MUTATION.md"
GOAL = 0.85
# Wall seconds for one fresh pytest run of a module's tests (see run_untracked).
UNTRACKED_S = 600
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# The local executor's tests, without the Ray variant (starting Ray takes a minute).
LOCAL_TESTS = ["tests/executors/test_local_mutants.py"] + [
    f"tests/executors/test_local.py::{name}" for name in (
        "test_resume_after_sigkill_is_byte_identical",
        "test_finished_shards_are_skipped",
        "test_a_failing_shard_names_itself_and_keeps_finished_work",
        "test_threads_per_worker_share_the_cores",
        "test_pool_workers_share_the_cores_instead_of_each_taking_all",
        "test_a_thread_count_the_user_set_is_kept",
        "test_workers_exit_when_the_runner_is_killed_alone[local-5]",
        "test_every_shard_records_its_wall_time_and_the_merge_sums_it")] + [
    # progress from inside the shards, in the driver (1 worker) and relayed from a pool (2)
    "tests/executors/test_progress.py::"
    "test_progress_lines_show_records_moving_before_the_first_shard_finishes",
    # the pool kept across the steps of a stage
    "tests/executors/test_steps.py::test_one_worker_pool_serves_every_step",
    "tests/executors/test_steps.py::test_steps_run_in_order_and_partitions_hold_every_shard"]

# The write stage's tests, without the open_clip read-back (15 s) and the writer kill.
WRITE_STAGE_TESTS = [f"tests/write/test_write_stage.py::{name}" for name in (
    "test_counts_and_layout", "test_webdataset_round_trip", "test_release_and_extended_parquet",
    "test_rerun_skips_and_outputs_are_deterministic")]

# The retrieve stage's tests that run its partitioned search, cap and output, without those of
# the index's reuse (seconds each, they only change when the index is rebuilt).
RETRIEVE_STAGE_TESTS = [
    "tests/retrieve/test_candidates.py", "tests/retrieve/test_candidates_mutants.py",
    *[f"tests/retrieve/test_retrieve_stage.py::{name}" for name in (
        "test_retrieves_top3_of_the_right_topic", "test_exclude_own_document_and_min_score",
        "test_images_with_nothing_above_min_score_are_dropped",
        "test_misaligned_embeddings_fail_clearly", "test_summary_prints_top_texts_with_scores",
        "test_remote_workspace_keeps_the_index_in_the_store",
        "test_no_usable_sentence_drops_every_image")],
    *[f"tests/retrieve/test_partitioned_retrieve.py::{name}" for name in (
        "test_partitioned_search_equals_single_process[1-paper-3]",
        "test_partitioned_search_equals_single_process[4-learned-3]",
        "test_own_document_filter_and_score_floor_equal_single_process[learned]",
        "test_sentence_cap_is_the_documented_reduce")],
    "tests/retrieve/test_retrieve_quality.py::test_sentence_cap_limits_uses_and_keeps_the_best_"
    "pairs",
    "tests/retrieve/test_exact_when_cheap.py::test_a_hub_sentence_is_capped_by_default"]

# Module (under src/realsyn) -> the fast tests that exercise it (pytest node ids or files).
MODULES: dict[str, list[str]] = {
    # The other pipeline tests run the model stages: minutes per mutant.
    "pipeline.py": ["tests/pipeline/test_pipeline_mutants.py"],
    "workspace.py": ["tests/test_workspace.py", "tests/test_workspace_mutants.py",
                     "tests/executors/test_steps.py::test_partitions_round_trip_and_empty_partition"],
    # The shuffle file format: written and read by the workspace for every partitioned step.
    "partfile.py": ["tests/test_workspace_mutants.py",
                    "tests/executors/test_steps.py::test_partitions_round_trip_and_empty_partition"],
    "executors/base.py": [*LOCAL_TESTS, "tests/executors/test_steps.py",
                          "tests/executors/test_base_mutants.py",
                          "tests/executors/test_task_memory.py",
                          "tests/pipeline/test_pipeline_mutants.py"],
    "executors/local.py": LOCAL_TESTS,
    # The fast Ray tests (a local 2-CPU Ray per run); the two-node cluster test takes minutes.
    "executors/ray.py": ["tests/executors/test_ray.py", "tests/executors/test_steps_ray.py"],
    # With the tests of the retrieve stage that runs them (search_steps, lists, candidates).
    "retrieve/search.py": [
        "tests/retrieve/test_hierarchical_search.py",
        "tests/retrieve/test_routing.py",
        "tests/retrieve/test_search_mutants.py",
        "tests/retrieve/test_retrieve_stage.py",
        "tests/retrieve/test_partitioned_retrieve.py",
    ],
    "retrieve/index.py": ["tests/retrieve/test_cluster_index.py",
                          "tests/retrieve/test_index_mutants.py",
                          "tests/retrieve/test_hierarchical_search.py",
                          "tests/retrieve/test_candidates.py",
                          "tests/retrieve/test_retrieve_stage.py",
                          "tests/retrieve/test_partitioned_retrieve.py"],
    "balance/sampling.py": ["tests/balance/test_sampling.py",
                            "tests/balance/test_sampling_mutants.py",
                            "tests/balance/test_cluster_scale.py",
                            *[f"tests/balance/test_balance_stage.py::{name}" for name in (
                                "test_target_sets_cap_and_is_deterministic",
                                "test_everything_outside_band_gives_empty_output",
                                "test_zero_embedding_counts_as_missing",
                                "test_kept_set_is_the_single_process_rule")],
                            "tests/balance/test_band_and_cap.py"],
    # The dedup stage reaches normalize_text and shingles through extract/lsh_keys.py.
    "extract/dedup.py": ["tests/extract/test_dedup.py", "tests/extract/test_dedup_mutants.py",
                         "tests/extract/test_partitioned_dedup.py::"
                         "test_exact_and_minhash_bucket_edges_match_todays_rule"],
    # The dataflow primitives, each with the tests of the stages that call it.
    "dataflow/rank.py": ["tests/dataflow/test_primitives.py", "tests/retrieve/test_candidates.py",
                         "tests/retrieve/test_retrieve_stage.py",
                         "tests/retrieve/test_partitioned_retrieve.py",
                         *[f"tests/balance/test_balance_stage.py::{name}" for name in (
                             "test_target_sets_cap_and_is_deterministic",
                             "test_kept_set_is_the_single_process_rule")]],
    "dataflow/join.py": ["tests/dataflow/test_primitives.py",
                         *[f"tests/balance/test_balance_stage.py::{name}" for name in (
                             "test_target_sets_cap_and_is_deterministic",
                             "test_zero_embedding_counts_as_missing",
                             "test_kept_set_is_the_single_process_rule")]],
    "dataflow/sampling.py": ["tests/dataflow/test_primitives.py",
                             "tests/retrieve/test_retrieve_stage.py",
                             *[f"tests/balance/test_balance_stage.py::{name}" for name in (
                                 "test_target_sets_cap_and_is_deterministic",
                                 "test_kept_set_is_the_single_process_rule")]],
    # stable_hashes partitions rows (partitioning.py), signed_hashes keys documents (retrieve).
    "dataflow/digest.py": ["tests/dataflow/test_primitives.py",
                           "tests/retrieve/test_cluster_index.py",
                           "tests/retrieve/test_retrieve_stage.py",
                           "tests/executors/test_steps.py",
                           *[f"tests/balance/test_balance_stage.py::{name}" for name in (
                               "test_target_sets_cap_and_is_deterministic",
                               "test_kept_set_is_the_single_process_rule")]],
    # Connected components of the dedup stage's edges, and its one-per-group rule.
    "dataflow/components.py": ["tests/dataflow/test_components_mutants.py",
                               "tests/extract/test_phash.py", *[
        f"tests/extract/test_partitioned_dedup.py::{name}" for name in (
            "test_edge_components_on_sparse_global_ids",
            "test_component_labels_match_the_oracle_closure",
            "test_keep_one_per_group_by_priority_then_order_key",
            "test_stages_keep_the_single_process_records[3]")]],
    "extract/phash.py": ["tests/extract/test_phash.py", "tests/extract/test_phash_mutants.py"],
    "ingest/fetch.py": ["tests/ingest/test_fetch.py", "tests/ingest/test_fetch_mutants.py",
                        "tests/ingest/test_url_gate.py"],
    # Called by the executor (fingerprints of a stage) and the pipeline (why a stage is stale).
    "fingerprint.py": ["tests/test_fingerprint_mutants.py",
                       "tests/executors/test_base_mutants.py",
                       "tests/pipeline/test_pipeline_mutants.py"],
    # Called by the executor (commit, resume) and the pipeline (recover, status); the kill test
    # with half of its cases (each runs a subprocess).
    "commit.py": ["tests/test_commit_mutants.py",
                  *[f"tests/pipeline/test_commit_kill.py::test_sigkill_during_the_swap_leaves_"
                    f"old_or_new_and_recovery_completes[{case}]"
                    for case in ("0-True", "1-False", "2-True")],
                  "tests/pipeline/test_commit_kill.py::test_a_run_with_fewer_shards_leaves_"
                  "exactly_the_new_set",
                  "tests/pipeline/test_commit_kill.py::test_outputs_are_replaced_as_a_whole_on_"
                  "any_fsspec_filesystem",
                  "tests/executors/test_base_mutants.py",
                  "tests/pipeline/test_pipeline_mutants.py"],
    # Called by the fetcher (every image URL and redirect) and the URL-list reader.
    "ingest/urlgate.py": ["tests/ingest/test_urlgate_mutants.py", "tests/ingest/test_url_gate.py",
                          "tests/fuzz/test_fuzz_url_gate.py", "tests/ingest/test_fetch.py",
                          "tests/ingest/test_fetch_mutants.py"],
    # Called by the dedup stage (extract/dedup_stage.py), whose partitioned tests run it against
    # the single-process dedup.
    # (the stage test with partitioned routing only: 20 s a run).
    "extract/lsh_keys.py": ["tests/extract/test_lsh_keys_mutants.py", *[
        f"tests/extract/test_partitioned_dedup.py::{name}" for name in (
            "test_phash_bucket_edges_match_brute_force",
            "test_exact_and_minhash_bucket_edges_match_todays_rule",
            "test_stages_keep_the_single_process_records[3]")]],
    # Called by the write stage: its tests, without the open_clip read-back (15 s) and the kill.
    "write/parquet.py": ["tests/write/test_parquet_mutants.py", *WRITE_STAGE_TESTS],
    "write/webdataset.py": [
        "tests/write/test_webdataset_mutants.py", "tests/write/test_webdataset_writer.py",
        *WRITE_STAGE_TESTS,
        "tests/write/test_write_stage.py::test_a_writer_killed_mid_shard_never_publishes_its_"
        "temporary"],
    # Called by the write stage's finalize (write/stage.py): the card alone, whole, then through
    # the stage (tests/report/test_card.py reads it after the whole pipeline: minutes, left out).
    "write/card.py": ["tests/write/test_card_mutants.py", *WRITE_STAGE_TESTS],
    # The write stage itself (run by the pipeline): its small hand-made workspace with every
    # locator case first, then the stage's tests on generated images and the killed writer's
    # resume into an output folder outside the workspace.
    "write/stage.py": [
        "tests/write/test_write_stage_mutants.py",
        "tests/write/test_card_mutants.py::test_the_write_stage_puts_its_counts_in_the_card",
        *WRITE_STAGE_TESTS,
        "tests/write/test_write_stage.py::test_a_writer_killed_mid_shard_never_publishes_its_"
        "temporary"],
    # The dedup stage itself (run by the pipeline after extract): its planted corpus against the
    # brute-force oracle, the drop report's reasons, the extract stages' real pHashes, then the
    # larger corpus whose shuffles split into several partitions (22 s: last).
    "extract/dedup_stage.py": [
        "tests/extract/test_dedup_stage_mutants.py",
        "tests/test_drops.py::test_dedup_counts_images_and_sentences_apart",
        "tests/extract/test_stages.py::test_dedup_keeps_one_per_group",
        "tests/extract/test_partitioned_dedup.py::test_stages_keep_the_single_process_records[3]"],
    # The retrieve stage's wiring (run by the pipeline): its steps per configuration and its
    # datasets, then the stage's runs (paper and learned routing, capped and not, no usable
    # sentence).
    "retrieve/stage.py": ["tests/retrieve/test_retrieve_stage_mutants.py", *RETRIEVE_STAGE_TESTS],
    # The semantic_dedup stage itself (run by the pipeline after dedup): its planted workspace
    # against the brute-force oracle and the scratch of each step (with a paraphrase model
    # last: 35 s), the extract stages' run with its funnel, the larger corpus with a capped
    # fan-out (20 s), then the older paraphrase-model test (10 s).
    "extract/semantic_dedup_stage.py": [
        "tests/extract/test_semantic_dedup_stage_mutants.py",
        "tests/extract/test_stages.py::test_semantic_dedup_keeps_arrays_aligned",
        "tests/extract/test_stages.py::test_semantic_dedup_without_embeddings_says_so",
        "tests/extract/test_partitioned_dedup.py::test_stages_keep_the_single_process_records[3]",
        "tests/extract/test_stages.py::test_paraphrase_model_groups_sentences_and_the_joint_"
        "arrays_are_kept"],
    # The generate stage (run by the pipeline after retrieve), on real photos and the local
    # fake OpenAI-compatible server: its whole output and stats per rule, retry_failed, then
    # its fault tests (without the killed subprocess run: 13 s).
    "generate/stage.py": [
        "tests/generate/test_generate_stage_mutants.py",
        *[f"tests/generate/test_stage_faults.py::{name}" for name in (
            "test_faults_are_bounded_flagged_and_lose_nothing",
            "test_retry_failed_redoes_only_flagged_rows", "test_shards_run_in_a_process_pool",
            "test_a_shard_counts_its_rows_for_the_progress_lines_as_batches_finish")]],
    # Usable rows, row alignment and row codes: read by the retrieve, balance and dedup stages.
    "dataflow/rows.py": ["tests/dataflow/test_rows_mutants.py", "tests/dataflow/test_primitives.py",
                         "tests/retrieve/test_index_mutants.py",
                         "tests/retrieve/test_retrieve_stage.py",
                         "tests/retrieve/test_partitioned_retrieve.py::"
                         "test_two_workers_give_the_same_records",
                         *[f"tests/balance/test_balance_stage.py::{name}" for name in (
                             "test_zero_embedding_counts_as_missing",
                             "test_kept_set_is_the_single_process_rule")],
                         "tests/extract/test_partitioned_dedup.py::"
                         "test_stages_keep_the_single_process_records[3]"],
    # k-means and nearest centres: trained and assigned by the retrieve index, the balance
    # stage and semantic_dedup's partitions; two-level centres through the retrieve stage's
    # index, cache and routing (test_two_level_retrieve.py: 4 s).
    "dataflow/kmeans.py": ["tests/dataflow/test_kmeans_mutants.py",
                           "tests/dataflow/test_two_level_kmeans.py",
                           "tests/retrieve/test_two_level_retrieve.py",
                           "tests/dataflow/test_primitives.py", "tests/retrieve/test_clustering.py",
                           "tests/retrieve/test_cluster_index.py",
                           "tests/retrieve/test_index_mutants.py",
                           "tests/retrieve/test_partitioned_retrieve.py::"
                           "test_two_workers_give_the_same_records",
                           *[f"tests/balance/test_balance_stage.py::{name}" for name in (
                               "test_target_sets_cap_and_is_deterministic",
                               "test_kept_set_is_the_single_process_rule")],
                           "tests/extract/test_partitioned_dedup.py::"
                           "test_semantic_partitions_find_the_exhaustive_groups"],
    # The retrieve stage's candidates, cap and output: its partitioned tests check them against
    # the single-process search.
    "retrieve/candidates.py": RETRIEVE_STAGE_TESTS,
    "retrieve/cap_steps.py": ["tests/retrieve/test_cap_steps_mutants.py", *RETRIEVE_STAGE_TESTS],
    "retrieve/output.py": ["tests/retrieve/test_output_mutants.py", *RETRIEVE_STAGE_TESTS],
    # The samples, exact-search budget and routers of a run, with the routing quality tests.
    "retrieve/queries.py": [
        "tests/retrieve/test_queries_mutants.py",
        *[test for test in RETRIEVE_STAGE_TESTS if not test.startswith((
            "tests/retrieve/test_retrieve_quality.py", "tests/retrieve/test_exact_when_cheap.py"))],
        "tests/retrieve/test_retrieve_quality.py", "tests/retrieve/test_exact_when_cheap.py"],
    # The balance stage itself (run by the pipeline after generate): its planted workspace's
    # whole output, report, summary and drops (the drop warning's own input), two partitions,
    # and texts scored by the tiny open_clip; then the stage's tests on planted image groups
    # (band, cap, target) and the quantile band. Left out: the demo corpus (67 s), the two
    # tests that load the real offline encoder (20 s to load), the two-worker run (22 s: its
    # workers import everything afresh) and the drop warning through the pipeline (5 s).
    "balance/stage.py": [
        "tests/balance/test_balance_stage_mutants.py",
        *[f"tests/balance/test_balance_stage.py::{name}" for name in (
            "test_target_sets_cap_and_is_deterministic",
            "test_everything_outside_band_gives_empty_output",
            "test_zero_embedding_counts_as_missing",
            "test_encoder_mismatch_is_refused_before_loading",
            "test_kept_set_is_the_single_process_rule[1-1]")],
        "tests/balance/test_band_and_cap.py", "tests/balance/test_quantile_band.py",
        "tests/balance/test_cluster_scale.py"],
    # semantic_dedup's k-means partitions and routing, with its partitioned tests against the
    # exhaustive pairs (the stage test against the single-process records takes 5-7 s a run:
    # left out, as it calls these functions the way those tests do).
    "extract/semantic_partition.py": ["tests/extract/test_semantic_partition_mutants.py", *[
        f"tests/extract/test_partitioned_dedup.py::{name}" for name in (
            "test_semantic_partitions_find_the_exhaustive_groups",
            "test_route_caps_the_fan_out_at_the_nearest_admitted_partitions")]],
    # The HTML reader: its own tests, the page tests (chrome tokens, srcset, documentation pages,
    # text loss) and the ingest stage's HTML inputs (HTML files, WARC pages, bad inputs). Left
    # out: the Chromium comparison (a browser per run) and the linear-time tests (10 s a case).
    "ingest/html.py": [
        "tests/ingest/test_html_mutants.py", "tests/ingest/test_html.py",
        "tests/ingest/test_html_self_closed.py",
        "tests/ingest/test_chrome_tokens.py", "tests/ingest/test_doc_pages.py",
        "tests/ingest/test_text_loss.py", "tests/ingest/test_bad_inputs.py",
        "tests/ingest/test_srcset.py::test_img_and_picture_take_their_largest_source",
        "tests/ingest/test_warc.py::test_sample_corpus_round_trip_through_warc",
        "tests/ingest/test_warc.py::test_binary_payload_labelled_html_is_not_read_as_text",
        "tests/ingest/test_stage.py::test_realsyn_ingest_command_on_each_input_kind[html]"],
}

# Extra mutmut settings of a module. Ray's gRPC does not survive a fork of a process that ran
# Ray (every mutant hung until its timeout): its mutants fork from a server that never did.
SETTINGS: dict[str, str] = {
    "executors/ray.py": "process_isolation = forkserver\nforkserver_warmup = none\n",
}

# Judgement categories (`category` in judgements.toml). A survivor counts in the column of its
# category; "gap closed" (a test added after the run kills it by hand) and "timeout" (why a
# timed-out mutant was detected) only explain it: until a run or --recheck decides such a
# survivor again it counts as open.
SURVIVOR_COLUMNS = ("equivalent", "equivalent in use", "accepted")
CATEGORIES = (*SURVIVOR_COLUMNS, "gap closed", "timeout")
REPORT_COLUMNS = ("killed", *SURVIVOR_COLUMNS, "timeout", "open")
# The `kind` of judgements written before categories existed, and its category.
LEGACY_KINDS = {
    "equivalent": "equivalent",
    "not killed (accepted)": "accepted",
    "not killed (tuning default)": "accepted",
    "gap closed": "gap closed",
    "detected (timeout)": "timeout",
}

# mutmut's exit-code verdicts, folded. A segfault is the tests' process crashing under the
# mutant (e.g. faiss handed a None pointer): the tests did not pass, so it counts as killed.
FOLD = {
    "killed": "killed",
    "caught by type check": "killed",
    "segfault": "killed",
    "survived": "survived",
    "timeout": "timeout",
    "no tests": "no tests",
    "not checked": "not checked",
}


def slug(module: str) -> str:
    return module.removesuffix(".py").replace("/", ".")


def prepare(module: str) -> Path:
    """A fresh scratch folder configured for one module."""
    folder = SCRATCH / slug(module)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name in ("src", "tests", "configs", "examples", "scripts", "pyproject.toml"):
        (folder / name).symlink_to(ROOT / name)
    # Made now so that PYTHONPATH names an existing folder when mutmut starts: Python caches a
    # missing path entry as "no finder", and realsyn would then be imported from elsewhere.
    (folder / "mutants" / "src").mkdir(parents=True)
    tests = "\n    ".join(MODULES[module])
    (folder / "setup.cfg").write_text(
        "[mutmut]\n"
        "source_paths = src\n"
        f"only_mutate = src/realsyn/{module}\n"
        f"pytest_add_cli_args_test_selection =\n    {tests}\n"
        "pytest_add_cli_args =\n    -p\n    no:cacheprovider\n    -q\n"
        "also_copy =\n    configs\n    examples\n    scripts\n"
        "use_git_change_detection = false\n"
        # CPU seconds a mutant may take: (tests + 2 s) x 5 x 2; mutmut's default x15 spends
        # minutes on every mutant that loops forever.
        "timeout_multiplier = 5.0\ntimeout_constant = 2.0\n"
        + SETTINGS.get(module, "")
    )
    return folder


def mutation_env(module: str, folder: Path) -> dict:
    env = dict(os.environ)
    # Child processes (executors, subprocess CLIs) import the mutated copy too.
    env["PYTHONPATH"] = str(folder / "mutants" / "src")
    # One thread per numeric library: mutmut forks a process per mutant, and a fork of a process
    # whose OpenMP pool (faiss, torch) is running hangs until the timeout.
    # (Not for the executors: their tests check how the pool sets these variables itself.)
    if not module.startswith("executors/"):
        env.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    return env


def run_module(module: str, jobs: int = 1) -> dict:
    folder = prepare(module)
    env = mutation_env(module, folder)
    mutmut = [str(Path(sys.executable).parent / "mutmut")]
    start = time.monotonic()
    done = subprocess.run(
        ["nice", "-n", "10", *mutmut, "run", "--max-children", str(jobs)], cwd=folder, env=env
    )
    wall = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit(f"mutmut failed on {module} (exit {done.returncode}); see above")
    verdicts = read_verdicts(folder, mutmut, env)
    # A run stopped before the end (Ctrl-C: mutmut keeps what it decided) leaves mutants it
    # never ran: listed apart, not counted as decided.
    not_checked = sorted(name for name, verdict in verdicts.items() if verdict == "not checked")
    for name in not_checked:
        del verdicts[name]
    untracked = [name for name, verdict in verdicts.items() if verdict == "no tests"]
    for name in untracked:
        verdicts[name] = run_untracked(folder, module, name, env)
    diffs = {
        name: show(folder, mutmut, name, env)
        for name, verdict in verdicts.items()
        if verdict != "killed"
    }
    wall = time.monotonic() - start
    result = {"module": module, "tests": MODULES[module], "wall_seconds": round(wall),
              "verdicts": verdicts, "diffs": diffs, "untracked": untracked}
    if not_checked:
        result["not_checked"] = not_checked
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{slug(module)}.json").write_text(json.dumps(result, indent=1, sort_keys=True))
    return result


def run_untracked(folder: Path, module: str, name: str, env: dict) -> str:
    """The verdict on a mutant mutmut ran no test for. mutmut records which tests reach a
    function in the test process only, so code that runs only in worker processes (spawned
    pools, CLIs) looks untested; its trampoline still obeys MUTANT_UNDER_TEST, so a fresh
    pytest of the module's tests with that variable set decides it."""
    try:
        done = subprocess.run(
            ["nice", "-n", "10", sys.executable, "-m", "pytest", "-x", "-q", "-p",
             "no:cacheprovider", *MODULES[module]], cwd=folder / "mutants",
            env={**env, "MUTANT_UNDER_TEST": name}, capture_output=True, timeout=UNTRACKED_S)
    except subprocess.TimeoutExpired:
        return "timeout"
    return {0: "survived", 1: "killed", 3: "killed", 5: "no tests"}.get(done.returncode, "other")


def rerun_untracked(module: str) -> dict:
    """Decide the "no tests" mutants of an earlier run of `module` (its scratch folder)."""
    folder = SCRATCH / slug(module)
    path = RESULTS / f"{slug(module)}.json"
    result = json.loads(path.read_text())
    env = mutation_env(module, folder)
    start = time.monotonic()
    untracked = [n for n, v in result["verdicts"].items() if v == "no tests"]
    for name in untracked:  # saved after each one: a stopped rerun keeps what it decided
        result["verdicts"][name] = run_untracked(folder, module, name, env)
        result["untracked"] = sorted({*result.get("untracked", []), name})
        result["wall_seconds"] += round(time.monotonic() - start)
        start = time.monotonic()
        path.write_text(json.dumps(result, indent=1, sort_keys=True))
    return result


def recheck(module: str, jobs: int = 1, gap_closed: bool = False, only_open: bool = False
            ) -> dict:
    """Decide again the mutants of an earlier run of `module` that were not killed, each in a
    fresh pytest of the module's tests as they are now (after tests that close gaps went in):
    quicker than a whole run when only a few survived. With `gap_closed`, only those judged
    "gap closed"; with `only_open`, only those the report counts as open (no judgement that
    holds, or "gap closed")."""
    folder = SCRATCH / slug(module)
    path = RESULTS / f"{slug(module)}.json"
    result = json.loads(path.read_text())
    copy = folder / "mutants" / "tests"  # mutmut ran against its own copy of the tests
    shutil.rmtree(copy)
    shutil.copytree(ROOT / "tests", copy, symlinks=True)
    env = mutation_env(module, folder)
    start = time.monotonic()
    left = [n for n, v in result["verdicts"].items() if v != "killed"]
    if gap_closed:
        judgements = tomllib.loads(JUDGEMENTS.read_text())
        left = [n for n in left if n in judgements and category(judgements[n]) == "gap closed"]
    if only_open:
        judgements = tomllib.loads(JUDGEMENTS.read_text())
        left = [n for n in left if column_of(n, result["verdicts"][n],
                                             result["diffs"].get(n, ""), judgements) == "open"]
    with ThreadPoolExecutor(jobs) as pool:  # each mutant is its own pytest process
        decided = {pool.submit(run_untracked, folder, module, name, env): name for name in left}
        for future in as_completed(decided):  # saved as they come: a stopped recheck keeps them
            name = decided[future]
            result["verdicts"][name] = future.result()
            result["rechecked"] = sorted({*result.get("rechecked", []), name})
            if result["verdicts"][name] == "killed":
                result["diffs"].pop(name, None)
            result["wall_seconds"] += round(time.monotonic() - start)
            start = time.monotonic()
            path.write_text(json.dumps(result, indent=1, sort_keys=True))
    return result


def read_verdicts(folder: Path, mutmut: list[str], env: dict) -> dict[str, str]:
    """Mutant name -> verdict, as mutmut itself reports them."""
    out = subprocess.run([*mutmut, "results", "--all", "true"], cwd=folder, env=env,
                         capture_output=True, text=True, check=True).stdout
    verdicts: dict[str, str] = {}
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            verdicts[name] = FOLD.get(status, "other")
    return dict(sorted(verdicts.items()))


def show(folder: Path, mutmut: list[str], name: str, env: dict) -> str:
    out = subprocess.run([*mutmut, "show", name], cwd=folder, env=env, capture_output=True,
                         text=True, check=True).stdout
    # Only the hunk itself: the header names temporary files.
    return "\n".join(line for line in out.splitlines() if line[:1] in "+-@ "
                     and not line.startswith(("+++", "---")))


def write_report() -> None:
    judgements = tomllib.loads(JUDGEMENTS.read_text()) if JUDGEMENTS.exists() else {}
    rows, sections, rechecked = [], [], []
    for module in MODULES:
        path = RESULTS / f"{slug(module)}.json"
        if not path.exists():
            rows.append(f"| {module} | not run |" + " |" * (len(REPORT_COLUMNS) + 3))
            continue
        result = json.loads(path.read_text())
        counts = dict.fromkeys(REPORT_COLUMNS, 0)
        for name, verdict in result["verdicts"].items():
            counts[column_of(name, verdict, result["diffs"].get(name, ""), judgements)] += 1
        total = sum(counts.values())
        score = counts["killed"] / total if total else 0.0
        mark = "yes" if score >= GOAL else "**no**"
        left = {n: v for n, v in result["verdicts"].items() if v != "killed"}
        rows.append(
            f"| {module} | {total} | "
            + " | ".join(str(counts[column]) for column in REPORT_COLUMNS)
            + f" | {score:.1%} ({mark}) | {len(result.get('untracked', []))} | "
            f"{result['wall_seconds']} |"
        )
        if result.get("rechecked"):
            again = result["rechecked"]
            rechecked.append(f"- {module}: {len(again)} mutants the run did not kill were decided "
                             f"again (`--recheck`) after tests that close gaps went in; "
                             f"{sum(result['verdicts'][n] == 'killed' for n in again)} of them "
                             f"are now killed.")
        if result.get("not_checked"):
            rechecked.append(f"- {module}: the run was stopped before "
                             f"{len(result['not_checked'])} more mutants were run; the row "
                             f"counts only the {total} it decided.")
        if left:
            sections.append(f"### {module}\n")
            for name, verdict in left.items():
                sections.append(judged(name, verdict, result["diffs"].get(name, ""), judgements))
    REPORT.write_text(
        "# Mutation testing\n\n"
        "Generated by `make mutation` (scripts/mutation.py, mutmut 3): do not edit by hand; "
        "judgements live in tests/mutation/judgements.toml.\n"
        "Each module is mutated alone and tested only with the fast tests listed in "
        "scripts/mutation.py. Score = killed / all mutants; goal "
        f"{GOAL:.0%} per module. Wall time on the 2-core machine shared with other jobs, "
        "1 worker unless the run was given `--jobs` (balance/stage.py: 2), nice 10 or more.\n\n"
        "Every mutant is counted in one column. *killed*: a test failed (or mutmut's type check"
        " caught it, or the tests' process crashed). *timeout*: the tests did not end within "
        "mutmut's limit. A mutant that survived is counted by its judgement: *equivalent*: no "
        "input at all tells it apart (the judgement says why); *equivalent in use*: only the "
        "pipeline's own calls cannot tell it apart; *accepted*: a real difference left "
        "untested, with the reason. *open*: a survivor with no judgement, a stale one (the "
        "mutant changed), or one whose gap a later test closed but that no run or `--recheck` "
        "has decided since. Only *killed* counts for the score: equivalent, equivalent in use, "
        "accepted, timeout and open all count against it.\n\n"
        "Mutants mutmut finds no test for (it tracks only the test process) are rerun by the "
        "script in a fresh pytest of the module's tests with the mutant active, so code that "
        "runs only in worker processes is judged too; the column \"rerun fresh\" counts them.\n\n"
        "A module shown as not run has no results file yet (tests/mutation/<module>.json): "
        "`make mutation MODULES=<module>` makes one.\n\n"
        "| module | mutants | " + " | ".join(REPORT_COLUMNS)
        + " | score (goal met) | rerun fresh | wall s |\n"
        + "|---" * (len(REPORT_COLUMNS) + 5) + "|\n"
        + "\n".join(rows)
        + ("\n\n" + "\n".join(rechecked) if rechecked else "")
        + "\n\n## Mutants not killed, judged\n\n"
        + ("\n".join(sections) if sections else "None.\n")
    )


def changed_lines(diff: str) -> str:
    return "\n".join(line for line in diff.splitlines() if line[:1] in "+-")


def category(entry: dict) -> str:
    """The category of a judgement; entries written before categories existed have a `kind`."""
    if "category" in entry:
        if entry["category"] not in CATEGORIES:
            raise ValueError(f"unknown judgement category {entry['category']!r}; "
                             f"choose from {CATEGORIES}")
        return entry["category"]
    return LEGACY_KINDS[entry["kind"]]


def holds(name: str, diff: str, judgements: dict) -> dict | None:
    """The judgement of `name` when it still matches the mutant (else None: none or stale)."""
    entry = judgements.get(name)
    if entry and changed_lines(entry["change"]) == changed_lines(diff):
        return entry
    return None


def column_of(name: str, verdict: str, diff: str, judgements: dict) -> str:
    """The report column a mutant counts in: its verdict when killed or timed out, else the
    category of its judgement (open without one that holds)."""
    if verdict in ("killed", "timeout"):
        return verdict
    entry = holds(name, diff, judgements)
    if entry and category(entry) in SURVIVOR_COLUMNS:
        return category(entry)
    return "open"


def judged(name: str, verdict: str, diff: str, judgements: dict) -> str:
    entry = judgements.get(name)
    if entry is None:
        note = "**not judged yet**"
    elif changed_lines(entry["change"]) != changed_lines(diff):
        note = f"**stale judgement** (the mutant changed): {entry['why']}"
    else:
        note = f"{category(entry)}: {entry['why']}"
    return f"- `{name}` ({verdict}): {note}\n\n```diff\n{changed_lines(diff)}\n```\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"modules under src/realsyn: {list(MODULES)}")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--rerun-untracked", action="store_true",
                        help="only decide the 'no tests' mutants of the last run")
    parser.add_argument("--recheck", action="store_true",
                        help="only decide again the mutants of the last run that were not "
                             "killed, with the tests as they are now")
    parser.add_argument("--gap-closed", action="store_true",
                        help="--recheck: only the survivors judged 'gap closed'")
    parser.add_argument("--open", action="store_true",
                        help="--recheck: only the survivors counted as open (not judged, "
                             "stale, or gap closed)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="mutants decided at once (a run: mutmut's children; --recheck: "
                             "one pytest process each)")
    args = parser.parse_args()
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        raise SystemExit(f"unknown module(s) {unknown}; choose from {list(MODULES)}")
    if args.recheck:
        for module in args.modules:
            recheck(module, args.jobs, args.gap_closed, args.open)
    elif args.rerun_untracked:
        for module in args.modules or [m for m in MODULES
                                       if (RESULTS / f"{slug(m)}.json").exists()]:
            rerun_untracked(module)
    elif not args.report_only:
        for module in args.modules or MODULES:
            result = run_module(module, args.jobs)
            print(f"{module}: {len(result['verdicts'])} mutants in {result['wall_seconds']} s")
    write_report()


if __name__ == "__main__":
    main()
