"""The extraction funnel of spec section 1, from the stats of the extract stages.

    images:    extracted / decoded / after quality / after dedup (perceptual, then semantic)
    sentences: extracted / after quality / after semantic / after dedup (exact + near, then
               paraphrase)

with every drop reason counted, and, for HTML and WARC inputs, the words of page text the reader
kept and those it removed by reason (boilerplate_nav, boilerplate_footer, script, ...; counted
by realsyn.ingest.html). Stored as report/funnel.json and printed by the CLI (it is the
summary line of the dedup and semantic_dedup stages).
"""

from __future__ import annotations

from typing import Any

from realsyn.extract.sentences import QUALITY_REASONS, SEMANTIC_REASONS
from realsyn.workspace import Workspace

FUNNEL_PATH = "report/funnel.json"
# The steps in pipeline order (the stored JSON has its keys sorted).
IMAGE_STEPS = ("extracted", "decoded", "after_quality", "after_perceptual_dedup",
               "after_semantic_dedup")
SENTENCE_STEPS = ("extracted", "after_quality", "after_semantic", "after_exact_near_dedup",
                  "after_paraphrase_dedup")


def _drops(stats: dict[str, Any]) -> dict[str, int]:
    return {key.removeprefix("dropped_"): int(value) for key, value in sorted(stats.items())
            if key.startswith("dropped_") and value}


def text_words(ingest: dict[str, Any]) -> dict[str, Any]:
    """Words of page text kept and removed by reason ({} when no page was read)."""
    removed = {key.removeprefix("words_removed_"): int(value)
               for key, value in sorted(ingest.items())
               if key.startswith("words_removed_") and value}
    if not removed and not ingest.get("words_kept"):
        return {}
    return {"kept": int(ingest.get("words_kept", 0)), "removed": removed}


# The ingest counters of pages that lost most of their visible text, and the listing of them.
TEXT_LOSS_COUNTERS = ("documents_dropped_empty_with_visible_text", "documents_mostly_removed")
TEXT_LOSS_LISTING = "pages_losing_text"
INGEST_FILES = "stages/ingest/files"


def text_loss(workspace: Workspace, ingest: dict[str, Any], most: int = 20) -> dict[str, Any]:
    """Pages whose source holds visible text the reader removed ({} when there are none):
    the counts, and up to `most` of the pages (largest loss first) with their source."""
    counts = {key: int(ingest.get(key, 0)) for key in TEXT_LOSS_COUNTERS}
    if not any(counts.values()):
        return {}
    pages = [page for name in workspace.list_files(INGEST_FILES, ".json")
             for entry in (workspace.read_json(f"{INGEST_FILES}/{name}") or {}).values()
             for page in entry.get(TEXT_LOSS_LISTING, [])]
    pages.sort(key=lambda page: (-page["words_removed"], page["source"]))
    return {**counts, "pages": pages[:most]}


def build(workspace: Workspace) -> dict[str, Any]:
    images = workspace.stage_stats("extract_images")
    sentences = workspace.stage_stats("extract_sentences")
    dedup = workspace.stage_stats("dedup")
    semantic = workspace.stage_stats("semantic_dedup")

    image_rows: dict[str, int] = {}
    if images:
        image_rows["extracted"] = images.get("records_in", 0)
        image_rows["decoded"] = images.get("images_decoded", 0)
        image_rows["after_quality"] = images.get("images_out", 0)
    if dedup:
        image_rows["after_perceptual_dedup"] = dedup.get("images_out", 0)
    if semantic:
        image_rows["after_semantic_dedup"] = semantic.get("images_out", 0)
    sentence_rows: dict[str, int] = {}
    if sentences:
        extracted = sentences.get("sentences_extracted", 0)
        quality = sum(sentences.get(f"dropped_{r}", 0) for r in QUALITY_REASONS)
        semantic_drops = sum(sentences.get(f"dropped_{r}", 0) for r in SEMANTIC_REASONS)
        sentence_rows["extracted"] = extracted
        sentence_rows["after_quality"] = extracted - quality
        sentence_rows["after_semantic"] = extracted - quality - semantic_drops
    if dedup:
        sentence_rows["after_exact_near_dedup"] = dedup.get("sentences_out", 0)
    if semantic:
        sentence_rows["after_paraphrase_dedup"] = semantic.get("sentences_out", 0)
    for rows, key in ((image_rows, "after_dedup"), (sentence_rows, "after_dedup")):
        last = [name for name in rows if name.startswith("after_") and "dedup" in name]
        if last:
            rows[key] = rows[last[-1]]

    image_drops = _drops(images)
    sentence_drops = _drops(sentences)
    for name, value in _drops(dedup).items():
        (image_drops if name == "perceptual_duplicate" else sentence_drops)[name] = value
    for name, value in _drops(semantic).items():
        if name.startswith("images_"):
            image_drops[name.removeprefix("images_")] = value
        else:
            sentence_drops[name.removeprefix("sentences_")] = value
    return {
        "images": image_rows,
        "sentences": sentence_rows,
        "image_drops": image_drops,
        "sentence_drops": sentence_drops,
        "text_words": text_words(workspace.stage_stats("ingest")),
        "text_loss": text_loss(workspace, workspace.stage_stats("ingest")),
        "perplexity_scorer": workspace.manifest().get("perplexity_scorer"),
    }


def store(workspace: Workspace) -> dict[str, Any]:
    result = build(workspace)
    workspace.write_json(FUNNEL_PATH, result)
    return result


def format_funnel(result: dict[str, Any]) -> str:
    lines = ["extraction funnel (report/funnel.json):"]
    for kind in ("images", "sentences"):
        rows = result.get(kind) or {}
        if rows:
            lines.append(f"  {kind}: " + " / ".join(f"{name.replace('_', ' ')} {value}"
                                                    for name, value in rows.items()))
        drops = result.get(f"{kind[:-1]}_drops") or {}
        if drops:
            lines.append("    dropped: " + ", ".join(f"{name} {value}"
                                                     for name, value in drops.items()))
    words = result.get("text_words") or {}
    if words:
        removed = words.get("removed") or {}
        lines.append(f"  page text words: kept {words.get('kept', 0)}, removed "
                     f"{sum(removed.values())}" + (" (" + ", ".join(
                         f"{name} {value}" for name, value in removed.items()) + ")"
                         if removed else ""))
    loss = result.get("text_loss") or {}
    if loss:
        worst = loss["pages"][0] if loss.get("pages") else None
        lines.append(
            f"  WARNING: {loss['documents_dropped_empty_with_visible_text']} pages emptied and "
            f"{loss['documents_mostly_removed']} mostly removed by the HTML reader although "
            "their source holds visible text (ingest.text_loss_factor)"
            + (f"; largest: {worst['url'] or worst['source']} (kept {worst['words_kept']}, "
               f"removed {worst['words_removed']} words)" if worst else "")
            + "; the run report lists them")
    if result.get("perplexity_scorer"):
        lines.append(f"  perplexity scorer: {result['perplexity_scorer']}")
    return "\n".join(lines)
