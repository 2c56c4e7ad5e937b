"""Drop warnings of every stage: each reason against the input it removes records from, and the
setting that decides it."""

from __future__ import annotations

from realsyn import drops
from realsyn.config import parse_config
from realsyn.extract.stages import DedupStage, ExtractImagesStage, ExtractSentencesStage
from realsyn.stage import Context, Stage
from realsyn.workspace import Workspace


def context(tmp_path, **settings) -> Context:
    config = parse_config({"workspace": str(tmp_path / "ws"), **settings})
    return Context(config=config, workspace=Workspace(config.workspace))


def by_reason(found: list[drops.Drop]) -> dict[str, drops.Drop]:
    return {drop.reason: drop for drop in found}


def test_sentence_filters_count_against_the_sentences_not_the_texts(tmp_path):
    # records_in counts text items; the filters judge the sentences split from them
    stats = {"records_in": 1861, "sentences_extracted": 2990, "dropped_too_few_words": 962,
             "dropped_no_action": 292, "sentences_out": 1245}
    found = by_reason(ExtractSentencesStage().drops(context(tmp_path), stats))
    assert found["too_few_words"] == drops.Drop("too_few_words", 962, 2990,
                                                "extract.sentences.min_words", 3)
    assert found["no_action"].setting == "extract.sentences.require_action"
    assert drops.heavy(list(found.values()), 0.3) == [found["too_few_words"]]
    assert drops.heavy(list(found.values()), 0.5) == []


def test_dedup_counts_images_and_sentences_apart(tmp_path):
    stats = {"records_in": 1575, "images_in": 330, "sentences_in": 1245,
             "dropped_perceptual_duplicate": 166, "dropped_exact_duplicate": 100}
    found = by_reason(DedupStage().drops(context(tmp_path), stats))
    assert (found["perceptual_duplicate"].of, found["perceptual_duplicate"].setting) == (
        330, "extract.images.phash_max_distance")
    assert found["exact_duplicate"].of == 1245 and found["exact_duplicate"].setting is None
    line = drops.warning_line("dedup", found["perceptual_duplicate"], 0.5)
    assert line == ("warning: dedup dropped 166 of 330 (50%) as perceptual_duplicate, more "
                    "than warn_drop_share=0.5; decided by extract.images.phash_max_distance=10")


def test_a_stage_without_settings_counts_against_records_in(tmp_path):
    class Plain(Stage):
        name = "plain"

    found = Plain().drops(context(tmp_path), {"records_in": 10, "dropped_odd": 6,
                                              "dropped_none": 0, "kept": 4})
    assert found == [drops.Drop("odd", 6, 10)]
    assert "decided by the data, not by a setting" in drops.warning_line("plain", found[0], 0.5)


def test_image_sizes_name_their_settings(tmp_path):
    ctx = context(tmp_path, extract={"images": {"min_side": 64}})
    found = by_reason(ExtractImagesStage().drops(ctx, {"records_in": 10, "dropped_too_small": 9,
                                                       "dropped_unavailable": 1}))
    assert (found["too_small"].setting, found["too_small"].value) == (
        "extract.images.min_side", 64)
    assert found["unavailable"].setting.startswith("ingest.allow_paths_outside_root")


def test_check_stores_a_stages_warnings_and_a_quiet_run_removes_them(tmp_path):
    workspace = context(tmp_path).workspace
    heavy = [drops.Drop("odd", 6, 10, "x.y", 1)]
    lines = drops.check("plain", heavy, 0.5, workspace)
    drops.check("other", [drops.Drop("even", 9, 10)], 0.5, workspace)
    stored = workspace.read_json(drops.DROP_WARNINGS)
    assert [item["line"] for item in stored["plain"]] == lines and len(lines) == 1
    assert stored["plain"][0]["share"] == 0.6 and set(stored) == {"plain", "other"}
    assert drops.check("plain", heavy, 0.6, workspace) == []  # 60% is not more than 60%
    assert set(workspace.read_json(drops.DROP_WARNINGS)) == {"other"}


def test_ingest_counts_documents_images_words_and_files_each_against_its_own(tmp_path):
    from realsyn.ingest.stage import IngestStage

    # KiCad's manuals (Debian kicad-doc-en): the HTML reader removed every page's text
    stats = {"records_in": 8, "files_in": 8, "documents_out": 0, "documents_dropped_empty": 8,
             "words_removed_boilerplate_toc": 81486, "words_removed_style": 37448,
             "images_out": 577, "images_ok": 220,
             "images_failed_path_outside_input_root": 357, "texts_out": 0}
    found = by_reason(IngestStage().drops(context(tmp_path), stats))
    assert found["documents_dropped_empty"] == drops.Drop("documents_dropped_empty", 8, 8)
    assert found["words_removed_boilerplate_toc"].of == 81486 + 37448
    assert found["images_failed_path_outside_input_root"] == drops.Drop(
        "images_failed_path_outside_input_root", 357, 577, "ingest.allow_paths_outside_root",
        False)
    assert [drop.reason for drop in drops.heavy(list(found.values()), 0.5)] == [
        "documents_dropped_empty", "images_failed_path_outside_input_root",
        "words_removed_boilerplate_toc"]
