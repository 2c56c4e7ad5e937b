"""Hub sentences: how often the most used sentence is text1, and what each remedy costs.

A generic sentence sits close to every image in a proxy embedding space and becomes text1 of
many of them. For each remedy this prints the largest share of images with the same text1, the
number of distinct text1 sentences, the mean text1 cosine (the raw image-sentence score, whatever
ranked it) and its change against no remedy:

  none         exact top-3 (what retrieve returns when it searches exactly)
  cap N        retrieve.max_uses_per_sentence = N: each sentence keeps the N images that score it
               highest, first among the images that hold it in their top-3, then among their
               30 best candidates; each image its top-3 of what is left (retrieve/candidates.py
               cap_uses_top_first, the stage's reduce by sentence)
  share S      the cap that `retrieve.max_uses_share` = S sets: max(max_uses_min, floor(S x images))
  csls K       hubness-corrected ranking (CSLS, Conneau et al. 2018): 2 cos(x, s) - r(s), r(s)
               the mean cosine of s to its K nearest images; the image's own term is a constant

Corpora: a finished workspace (`--workspace`, its images_final and sentences_final arrays; the
demo) or the real photo set of benchmarks/bench_retrieval.py (`--photos`: the GIMP manual's
photos and 7 photos from Python wheels against the sentences of the installed GIMP manual and
Debian handbook that pass the paper's quality filters and the completeness filter; embeddings
cached by `bench_retrieval.py real --set photos --prepare-only`).

Usage: .venv/bin/python benchmarks/bench_hubs.py --workspace /path/to/ws
       .venv/bin/python benchmarks/bench_hubs.py --photos
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from realsyn.config import RetrieveConfig
from realsyn.retrieve.candidates import cap_uses_top_first
from realsyn.retrieve.quality import CAP_CANDIDATES

# the brute-force search the retrieve tests measure against
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "retrieve"))
from oracle_quality import exact_search

TOP_K = 3
PHOTOS = Path(__file__).resolve().parent / "results" / "real"


def workspace_vectors(url: str) -> tuple[np.ndarray, np.ndarray]:
    from realsyn.workspace import Workspace

    workspace = Workspace(url)

    def read(name: str) -> np.ndarray:
        return np.concatenate([np.asarray(workspace.read_array(name, s), np.float32)
                               for s in workspace.array_shards(name)])

    return read("images_final"), read("sentences_final")


def photo_vectors() -> tuple[np.ndarray, np.ndarray]:
    from realsyn.config import SentenceFilterConfig
    from realsyn.extract.paper_filters import SentenceFilter
    from realsyn.extract.sentences import load_parser

    sentences = json.loads((PHOTOS / "sentences.json").read_text())
    config = SentenceFilterConfig(perplexity_scorer="none")
    kept, _ = SentenceFilter(config, nlp=load_parser(config.spacy_model)).run(sentences)
    rows = np.array([c.source for c in kept if c.dropped is None])
    vectors = np.load(PHOTOS / "sentence_embeddings.npy", mmap_mode="r")
    print(f"photos: {len(rows):,} of {len(sentences):,} sentences pass the filters")
    return (np.load(PHOTOS / "photos_embeddings.npy").astype(np.float32),
            np.asarray(vectors[rows], np.float32))


def figures(text1: np.ndarray, score1: np.ndarray, n_images: int) -> dict[str, float]:
    found = text1 >= 0
    uses = np.bincount(text1[found]) if found.any() else np.zeros(1, np.int64)
    return {"images": int(found.sum()), "largest_share": uses.max() / n_images,
            "distinct_text1": int((uses > 0).sum()), "mean_score1": float(score1[found].mean())}


def remedies(images: np.ndarray, sentences: np.ndarray, caps: list[int], shares: list[float],
             csls: list[int]) -> list[tuple[str, dict[str, float]]]:
    n = len(images)
    depth = TOP_K * CAP_CANDIDATES
    scores, ids = exact_search(sentences, images, depth)
    rows = [("none", figures(ids[:, 0], scores[:, 0], n))]
    shared = [RetrieveConfig(max_uses_share=s).uses_cap(n) for s in shares]
    wanted = [(f"cap {c}", c) for c in caps] + [
        (f"share {s:g} (cap {c})", c) for s, c in zip(shares, shared, strict=True)]
    image, rank = np.repeat(np.arange(n), depth), np.tile(np.arange(depth), n)
    for name, cap in wanted:
        kept = cap_uses_top_first(ids.ravel(), scores.ravel(), image, rank, cap, TOP_K)
        # each image's best surviving pair is its text1 (kept is in image, then rank order)
        first = kept[np.r_[True, image[kept][1:] != image[kept][:-1]]] if len(kept) else kept
        text1 = np.full(n, -1, np.int64)
        score1 = np.full(n, np.nan, np.float32)
        text1[image[first]] = ids.ravel()[first]
        score1[image[first]] = scores.ravel()[first]
        rows.append((name, figures(text1, score1, n)))
    cosines = images @ sentences.T
    for k in csls:
        k = min(k, n)
        r = np.sort(cosines, axis=0)[-k:].mean(axis=0)  # each sentence's K nearest images
        best = np.argmax(2 * cosines - r[None, :], axis=1)
        rows.append((f"csls {k}", figures(best, cosines[np.arange(n), best], n)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace")
    parser.add_argument("--photos", action="store_true")
    parser.add_argument("--caps", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 2, 3, 5])
    parser.add_argument("--shares", type=lambda s: [float(x) for x in s.split(",")],
                        default=[0.05])
    parser.add_argument("--csls", type=lambda s: [int(x) for x in s.split(",")],
                        default=[10, 50])
    args = parser.parse_args()
    images, sentences = photo_vectors() if args.photos else workspace_vectors(args.workspace)
    print(f"{len(images)} images, {len(sentences):,} sentences")
    rows = remedies(images, sentences, args.caps, args.shares, args.csls)
    base = rows[0][1]["mean_score1"]
    print("| remedy | images | largest text1 share | distinct text1 | mean score1 | change |")
    print("|---|---|---|---|---|---|")
    for name, f in rows:
        print(f"| {name} | {f['images']} | {100 * f['largest_share']:.1f}% | "
              f"{f['distinct_text1']} | {f['mean_score1']:.4f} | "
              f"{100 * (f['mean_score1'] / base - 1):+.1f}% |")


if __name__ == "__main__":
    main()
