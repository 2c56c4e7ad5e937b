"""Benchmark of hierarchical retrieval (realsyn.retrieve) against faiss exact and IVF search.

Two kinds of data:
  synthetic  sentence vectors drawn around latent topics (Zipf topic sizes, topics grouped under
             super-topics so that neighbouring topics are confusable), image queries drawn around
             the same topics plus one shared offset (the modality gap); each labelled by topic.
  real       the offline encoder's embeddings (EfficientNet-Lite0 + all-MiniLM-L6-v2) of every
             sentence extracted from the real HTML documentation installed here (the sample
             corpus's GIMP manual and other Debian docs), queried with real photos and with
             held-out sentences. Embeddings are cached under benchmarks/results/real/.

For each nprobe it reports queries/s, the speed-up over faiss IndexFlatIP exact search on the
same number of threads, the score ratio (sum of the returned top-3 cosines over the exact
top-3's), topic precision@3 (synthetic) or recall@3 against exact search (real), and faiss
IndexIVFFlat's own search over the same centres and lists. Exact search over all queries is too
slow on a small machine: it runs on a random subset (--exact-queries) and its throughput is
extrapolated; score ratio and recall use that subset.

    python benchmarks/bench_retrieval.py synthetic --sentences 1000000 --queries 100000
    python benchmarks/bench_retrieval.py real
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import multiprocessing
import os
import re
import resource
import sys
import time
from pathlib import Path

import faiss
import numpy as np

from realsyn.config import RetrieveConfig
from realsyn.dataflow.kmeans import Centres
from realsyn.retrieve.index import ClusterIndex
from realsyn.retrieve.routing import Router, coarse_keys, paper_router
from realsyn.retrieve.search import HierarchicalSearcher

# The single-process index build and router fit (the retrieve stage's test oracles, whose lists
# and router the stage reproduces) live with the tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "retrieve"))
from oracle_index import BuildParams, build_index, load_centres, load_index
from oracle_routing import fit_learned_router

RESULTS = Path(__file__).resolve().parent / "results"
TOP_K = 3


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


# ---------------------------------------------------------------------------- synthetic data
def synthetic(args: argparse.Namespace, folder: Path) -> dict:
    """Write sentences.npy (float16) and return queries with topic labels."""
    rng = np.random.default_rng(args.seed)
    d = args.dim
    supers = unit(rng.standard_normal((args.super_topics, d)))
    # each topic: a super-topic direction plus its own offset (cos to its super-topic ~0.7)
    centres = unit(supers[rng.integers(0, args.super_topics, args.topics)]
                   + args.topic_spread * rng.standard_normal((args.topics, d)) / np.sqrt(d))
    weights = 1.0 / np.arange(1, args.topics + 1) ** args.zipf
    weights /= weights.sum()
    sentence_topic = rng.choice(args.topics, size=args.sentences, p=weights)
    vectors = np.lib.format.open_memmap(folder / "sentences.npy", mode="w+", dtype=np.float16,
                                        shape=(args.sentences, d))
    for start in range(0, args.sentences, 100_000):
        topics = sentence_topic[start:start + 100_000]
        noise = rng.standard_normal((len(topics), d), dtype=np.float32) / np.sqrt(d)
        vectors[start:start + len(topics)] = unit(centres[topics] + args.text_spread * noise)
    vectors.flush()
    del vectors
    gap = args.gap * unit(rng.standard_normal((1, d)))
    query_topic = rng.choice(args.topics, size=args.queries, p=weights)
    queries = unit(centres[query_topic] + gap + args.image_spread * rng.standard_normal(
        (args.queries, d), dtype=np.float32) / np.sqrt(d)).astype(np.float32)
    sizes = np.bincount(sentence_topic, minlength=args.topics)
    print(f"synthetic: {args.sentences:,} sentences in {args.topics} topics (Zipf s={args.zipf}: "
          f"largest {sizes.max():,}, smallest {sizes.min():,}), {args.queries:,} queries, "
          f"dim {d}", flush=True)
    return {"query_sets": {"images": (queries, query_topic)}, "sentence_topic": sentence_topic,
            "image_sets": ["images"]}


# ---------------------------------------------------------------------------- real data
# Each documentation set's pages; a sentence remembers the first set it was found in. (Python's
# HTML docs would add ~90k sentences: too many to embed on a small CPU machine.)
DOC_SETS = {
    "gimp": ["/usr/share/doc/gimp-help-en/html/en/*.html"],
    "handbook": ["/usr/share/doc/debian-handbook/html/en-US/*.html"],
    "other": ["/usr/share/debian-reference/*.en.html", "/usr/share/developers-reference/*.html",
              "/usr/share/doc/debian-policy/**/*.html", "/usr/share/doc/maint-guide/html/*.en.html",
              "/usr/share/doc/debian/FAQ/*.en.html"],
}
BLOCKS = "p, li, td, dd, dt, figcaption, caption, blockquote"
GIMP_IMAGES = "/usr/share/doc/gimp-help-en/html/en/images"
HANDBOOK_IMAGES = "/usr/share/doc/debian-handbook/html/en-US/images"
# Real image query sets, each searched against the sentences of the listed documentation sets:
#   photos   the GIMP manual's JPEG photographs and the photos inside Python wheels, against
#            every installed documentation set (the project's original real benchmark)
#   figures  a seeded sample of the GIMP manual's PNG figures (screenshots, diagrams), against
#            the GIMP manual's sentences only
#   handbook the Debian handbook's own images, against the handbook's sentences only
REAL_SETS = {"photos": None, "figures": ("gimp",), "handbook": ("handbook",)}
FIGURES = 1200


def real_sentences() -> tuple[list[str], list[str]]:
    """Unique sentences of 3..81 words from the prose blocks of the installed HTML docs, and
    the documentation set of each."""
    import nupunkt
    from selectolax.lexbor import LexborHTMLParser

    seen: dict[str, str] = {}
    n_files = 0
    for source, patterns in DOC_SETS.items():
        files = sorted({f for pattern in patterns for f in glob.glob(pattern, recursive=True)
                        if os.path.isfile(f)})
        n_files += len(files)
        for path in files:
            tree = LexborHTMLParser(Path(path).read_text(encoding="utf-8", errors="replace"))
            for node in tree.css("script, style, pre"):
                node.decompose()
            for node in tree.css(BLOCKS):
                text = re.sub(r"\s+", " ", node.text(deep=True, separator=" ", strip=True))
                for sentence in nupunkt.sent_tokenize(text) if text else []:
                    if 3 <= len(sentence.split()) <= 81:
                        seen.setdefault(sentence.strip(), source)
    print(f"real: {len(seen):,} unique sentences from {n_files} HTML pages", flush=True)
    return list(seen), list(seen.values())


def open_images(paths: list[str]) -> list[tuple[str, object]]:
    """The images that pass the paper's quality filter, decoded as the embed stage does."""
    from realsyn.embed.decode import decode_image
    from realsyn.extract.images import ImageRejected

    images = []
    for path in paths:
        try:
            image = decode_image(Path(path).read_bytes())
        except ImageRejected:
            continue
        width, height = image.size
        if min(width, height) >= 100 and 1 / 3 <= width / height <= 3:
            images.append((path, image))
    return images


def real_photos() -> list[tuple[str, object]]:
    """Real photographs: the JPEGs of the GIMP manual and the photos inside Python wheels."""
    from PIL import Image

    photos = open_images(sorted(glob.glob(f"{GIMP_IMAGES}/**/*.jpg", recursive=True)))
    import skimage.data
    from matplotlib import cbook
    from sklearn.datasets import load_sample_image

    for name in ("chelsea", "coffee", "rocket", "astronaut"):
        photos.append((f"skimage:{name}", Image.fromarray(getattr(skimage.data, name)())))
    for name in ("china.jpg", "flower.jpg"):
        photos.append((f"sklearn:{name}", Image.fromarray(load_sample_image(name))))
    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        photos.append(("matplotlib:grace_hopper.jpg", Image.open(handle).convert("RGB")))
    return photos


def real_images(name: str) -> list[tuple[str, object]]:
    if name == "photos":
        return real_photos()
    if name == "figures":
        paths = sorted(glob.glob(f"{GIMP_IMAGES}/**/*.png", recursive=True))
        images = open_images(paths)
        keep = np.random.default_rng(0).choice(len(images), min(FIGURES, len(images)),
                                               replace=False)
        return [images[i] for i in sorted(keep)]
    return open_images(sorted(glob.glob(f"{HANDBOOK_IMAGES}/*.png")))


def load_cached_encoder():
    from realsyn.config import EncoderConfig
    from realsyn.models.encoders import load_encoder

    return load_encoder(EncoderConfig(device="cpu"))


def cache_real_embeddings(cache: Path) -> None:
    """Embed (once) every real sentence and every real image set into `cache`."""
    if not (cache / "sentence_sources.json").exists():
        encoder = load_cached_encoder()
        sentences, sources = real_sentences()
        started = time.perf_counter()
        vectors = np.zeros((len(sentences), encoder.dim), dtype=np.float16)
        # batches of similar lengths waste no work on padding
        by_length = np.argsort([len(s) for s in sentences], kind="stable")
        for number, start in enumerate(range(0, len(sentences), 256)):
            rows = by_length[start:start + 256]
            vectors[rows] = encoder.embed_texts([sentences[i] for i in rows])
            if number % 50 == 0:
                print(f"  embedded {start:,}/{len(sentences):,} "
                      f"({time.perf_counter() - started:.0f} s)", flush=True)
        print(f"real: embedded {len(sentences):,} sentences in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        (cache / "sentences.json").write_text(json.dumps(sentences))
        np.save(cache / "sentence_embeddings.npy", vectors)
        (cache / "sentence_sources.json").write_text(json.dumps(sources))
    for name in REAL_SETS:
        if not (cache / f"{name}_embeddings.npy").exists():
            encoder = load_cached_encoder()
            images = real_images(name)
            vectors = np.concatenate([encoder.embed_images([p for _, p in images[i:i + 32]])
                                      for i in range(0, len(images), 32)])
            np.save(cache / f"{name}_embeddings.npy", vectors.astype(np.float32))
            (cache / f"{name}.json").write_text(json.dumps([path for path, _ in images]))


def real(args: argparse.Namespace, folder: Path) -> dict:
    cache = RESULTS / "real"
    cache.mkdir(parents=True, exist_ok=True)
    cache_real_embeddings(cache)
    embeddings = np.load(cache / "sentence_embeddings.npy", mmap_mode="r")
    sources = np.array(json.loads((cache / "sentence_sources.json").read_text()))
    wanted = REAL_SETS[args.set]
    in_set = np.isin(sources, wanted) if wanted else np.ones(len(sources), dtype=bool)
    images = np.load(cache / f"{args.set}_embeddings.npy")
    rng = np.random.default_rng(args.seed)
    held_out = np.zeros(len(embeddings), dtype=bool)
    n_held_out = min(args.held_out, int(in_set.sum()) // 10)
    held_out[rng.choice(np.flatnonzero(in_set), size=n_held_out, replace=False)] = True
    np.save(folder / "sentences.npy", np.asarray(embeddings[in_set & ~held_out]))
    print(f"real/{args.set}: {int((in_set & ~held_out).sum()):,} sentences indexed, "
          f"{n_held_out:,} held out, {len(images)} images", flush=True)
    return {"query_sets": {args.set: (images, None),
                           "held-out sentences": (np.asarray(embeddings[held_out], np.float32),
                                                  None)},
            "image_sets": [args.set]}


# ---------------------------------------------------------------------------- measurements
def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def build_in_child(folder: Path, name: str, params: BuildParams, threads: int, result) -> None:
    faiss.omp_set_num_threads(threads)
    baseline = current_rss_mb()  # the interpreter and libraries, before any data
    started = time.perf_counter()
    vectors = np.load(folder / "sentences.npy", mmap_mode="r")
    index = build_index(folder / name, [vectors], np.zeros(len(vectors), np.int64), params)
    result.put({"seconds": time.perf_counter() - started, "meta": index.meta,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "baseline_rss_mb": baseline})


def build(folder: Path, params: BuildParams, threads: int, name: str = "index") -> dict:
    """Build in a fresh process, so that its peak memory is the build's alone."""
    spawn = multiprocessing.get_context("spawn")
    queue = spawn.Queue()
    child = spawn.Process(target=build_in_child, args=(folder, name, params, threads, queue))
    child.start()
    while True:
        try:
            outcome = queue.get(timeout=5)
            break
        except Exception:  # queue.Empty: check that the child is still alive
            if not child.is_alive():
                raise RuntimeError(f"index build failed (exit code {child.exitcode})") from None
    child.join()
    return outcome


def timed(call):
    started = time.perf_counter()
    value = call()
    return value, time.perf_counter() - started


def ivfflat(index: ClusterIndex) -> faiss.IndexIVFFlat:
    """faiss's IVF-Flat over the same centres and the same lists."""
    quantizer = faiss.IndexFlatIP(index.dim)
    quantizer.add(index.centroids)
    ivf = faiss.IndexIVFFlat(quantizer, index.dim, index.n_clusters, faiss.METRIC_INNER_PRODUCT)
    ivf.is_trained = True
    for start in range(0, index.ntotal, 200_000):
        stop = min(start + 200_000, index.ntotal)
        ivf.add_with_ids(np.asarray(index.vectors[start:stop], np.float32),
                         np.arange(start, stop, dtype=np.int64))
    return ivf


def evaluate(name: str, index: ClusterIndex, queries: np.ndarray, labels: np.ndarray | None,
             sentence_topic_sorted: np.ndarray | None, args: argparse.Namespace,
             flat: faiss.IndexFlatIP, ivf: faiss.IndexIVFFlat | None) -> list[dict]:
    rng = np.random.default_rng(args.seed + 1)
    subset = np.sort(rng.choice(len(queries), size=min(args.exact_queries, len(queries)),
                                replace=False))
    (exact_scores, exact_ids), exact_s = timed(lambda: flat.search(queries[subset], TOP_K))
    exact_qps = len(subset) / exact_s
    print(f"[{name}] exact IndexFlatIP: {len(subset):,} queries in {exact_s:.1f} s = "
          f"{exact_qps:,.0f} q/s (extrapolated to all {len(queries):,} queries: "
          f"{len(queries) / exact_qps:,.0f} s)", flush=True)
    rows = []
    searcher = HierarchicalSearcher(index, threads=args.threads)
    searcher.search(queries[:1000], TOP_K, 1)  # warm the page cache of the lists
    if labels is not None:
        exact_precision = float((sentence_topic_sorted[exact_ids] == labels[subset, None]).mean())
        print(f"[{name}] exact topic precision@3 on the subset: {exact_precision:.4f}")
    for nprobe in args.nprobe:
        result, seconds = timed(lambda n=nprobe: searcher.search(queries, TOP_K, n))
        row = {"data": name, "nprobe": nprobe, "queries": len(queries),
               "qps": len(queries) / seconds, "speedup": len(queries) / seconds / exact_qps,
               "exact_qps": exact_qps,
               # machine-independent work: centres plus list rows scored per query
               "scanned_per_query": float(index.n_clusters + np.mean(
                   index.list_sizes()[result.probes].sum(axis=1))),
               "score_ratio": float(np.nansum(result.scores[subset]) / exact_scores.sum()),
               "recall@3": float(np.mean([len(set(a) & set(b)) / TOP_K for a, b in zip(
                   result.positions[subset], exact_ids, strict=True)]))}
        if labels is not None:
            found = result.positions >= 0
            hits = (sentence_topic_sorted[np.maximum(result.positions, 0)] == labels[:, None])
            row["topic_precision@3"] = float((hits & found).mean())
        if ivf is not None:
            ivf.nprobe = nprobe
            (ivf_scores, ivf_ids), ivf_s = timed(lambda: ivf.search(queries, TOP_K))
            row["ivf_qps"] = len(queries) / ivf_s
            row["same_as_ivf"] = float((ivf_ids == result.positions).mean())
            # where the ids differ, the scores should tie (float rounding decides the order)
            row["max_score_diff_vs_ivf"] = float(np.nanmax(np.abs(ivf_scores - result.scores)))
        row["work_ratio"] = index.ntotal / row["scanned_per_query"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def through_cells(router: Router, centres: Centres, probes: int | None) -> Router:
    """`router` searching its keys through `probes` coarse cells of two-level centres (as the
    retrieve stage's route step does with routing_centre_probes); itself with flat centres or
    no probes (flat routing, the default)."""
    if not centres.two_level or probes is None:
        return router
    return Router(router.keys, router.name, router.margin, coarse_keys(router.keys, centres),
                  centres.cells, probes)


def evaluate_routing(name: str, index: ClusterIndex, fine: ClusterIndex, queries: np.ndarray,
                     args: argparse.Namespace, centres: dict[int, Centres]) -> list[dict]:
    """Paper vs learned routing on held-out images: the learned router is fitted (as the
    retrieve stage fits it) on a seeded half of the images, at most --fit-images, and every
    figure is measured on the other half against exact search. Paper routing probes the
    paper's lists (`index`); learned routing, the default, probes the finer lists of `fine`
    (--lists-per-cluster per paper cluster) at each fixed nprobe (with the config's size
    penalty, and once without it) and, adaptive, with each --margin up to --adaptive-nprobe
    lists; learned routing over the paper's lists is shown too. An oracle that ranks lists by
    their true best score bounds what any routing of whole lists can reach.
    Cost is machine-independent: centres plus list rows scored per query, and its ratio to
    paper routing at nprobe 1. With two-level centres (--flat-centre-limit below the lists),
    and --routing-centre-probes, every router but the oracle searches its keys through the
    coarse cells (`centres`: the centres of each index, by id)."""
    order = np.random.default_rng(args.seed + 2).permutation(len(queries))
    n_fit = min(args.fit_images, len(queries) // 2)
    fit, held_out = queries[np.sort(order[:n_fit])], queries[np.sort(order[n_fit:])]
    exact = HierarchicalSearcher(index, threads=args.threads).exact(held_out, TOP_K)
    exact_rows = np.asarray(index.rows)[exact.positions]  # row ids are shared by both indexes

    def learned_on(lists: ClusterIndex, size_penalty: float) -> tuple[Router, int]:
        router, used = fit_learned_router(lists, fit, None, args.ridge, 2, None, size_penalty)
        return through_cells(router, centres[id(lists)], args.routing_centre_probes), used

    learned, used = learned_on(fine, args.size_penalty)
    split = f"{fine.n_clusters // max(1, index.n_clusters)}x lists"
    paper = through_cells(paper_router(index.centroids), centres[id(index)],
                          args.routing_centre_probes)
    runs = [(index, paper, n, "paper") for n in args.routing_nprobe]
    on_paper_lists = learned_on(index, args.size_penalty)[0]  # fitted once: an exact search
    runs += [(index, on_paper_lists, n, "learned, paper lists") for n in (2, 3)]
    runs += [(fine, learned, n, f"learned, {split}") for n in sorted(
        {*args.routing_nprobe, args.adaptive_nprobe, args.adaptive_nprobe + 1})]
    runs.append((fine, learned_on(fine, 0.0)[0], args.adaptive_nprobe,
                 f"learned, {split}, size penalty 0"))
    for margin in args.margin:
        adaptive = through_cells(Router(learned.keys, learned.name, margin), centres[id(fine)],
                                 args.routing_centre_probes)
        runs.append((fine, adaptive, args.adaptive_nprobe + 2,
                     f"learned, {split}, margin {margin}"))
    # the bound of any routing that probes whole lists: lists ranked by their true best score
    for lists, label, probes in ((index, "paper lists", (1, 2, 3)), (fine, split, (2, 3, 4))):
        oracle = OracleRouter(HierarchicalSearcher(lists, threads=args.threads).cluster_maxima(
            held_out))
        runs += [(lists, oracle, n, f"oracle, {label}") for n in probes]
    rows, base = [], None
    for lists, router, nprobe, label in runs:
        searcher = HierarchicalSearcher(lists, threads=args.threads, router=router)
        result = searcher.search(held_out, TOP_K, nprobe)
        probed = result.probes >= 0  # adaptive routing pads with -1
        sizes = lists.list_sizes()
        scanned = float(lists.n_clusters + np.where(probed, sizes[result.probes], 0)
                        .sum(axis=1).mean())
        base = base or scanned  # the paper's routing at the first nprobe
        found = np.where(result.positions >= 0, np.asarray(lists.rows)[result.positions], -1)
        rows.append({
            "data": name, "routing": label, "nprobe": nprobe,
            "lists_per_query": float(probed.sum(axis=1).mean()),
            "fit_images": used if router.name == "learned" else 0,
            "eval_images": len(held_out), "clusters": lists.n_clusters,
            "recall@3": float(np.mean([len(set(a) & set(b)) / TOP_K for a, b in zip(
                found, exact_rows, strict=True)])),
            "score_ratio": float(np.nansum(result.scores) / np.nansum(exact.scores)),
            "scanned_per_query": scanned, "cost_vs_paper_nprobe1": scanned / base})
        print(json.dumps(rows[-1]), flush=True)
    return rows


class OracleRouter(Router):
    """Probes each held-out query's lists in the order of their true best score (from exact
    search): what a perfect router would probe. Not a real router: it knows the answers."""

    def __init__(self, maxima: np.ndarray):
        self.name, self.margin = "oracle", None
        self.order = np.argsort(-np.where(np.isfinite(maxima), maxima, -np.inf), axis=1,
                                kind="stable")

    def probes(self, queries: np.ndarray, nprobe: int) -> np.ndarray:
        assert len(queries) == len(self.order)
        return np.ascontiguousarray(self.order[:, :nprobe])


def routing_table(rows: list[dict]) -> str:
    lines = ["| data | routing | nprobe | lists / query | recall@3 | score ratio | scanned / "
             "query | cost vs paper nprobe 1 |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['data']} | {r['routing']} | {r['nprobe']} | {r['lists_per_query']:.2f} | "
              f"{r['recall@3']:.3f} | {r['score_ratio']:.4f} | {r['scanned_per_query']:,.0f} | "
              f"{r['cost_vs_paper_nprobe1']:.2f}x |" for r in rows]
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    lines = ["| data | nprobe | q/s | speed-up vs exact | score ratio | topic P@3 | recall@3 "
             "| IVFFlat q/s | ours / IVFFlat | same ids as IVFFlat |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        precision = f"{r['topic_precision@3']:.4f}" if "topic_precision@3" in r else "-"
        ivf = (f"{r['ivf_qps']:,.0f} | {r['qps'] / r['ivf_qps']:.2f}x | {r['same_as_ivf']:.5f}"
               if "ivf_qps" in r else "- | - | -")
        lines.append(f"| {r['data']} | {r['nprobe']} | {r['qps']:,.0f} | {r['speedup']:.1f}x | "
                     f"{r['score_ratio']:.4f} | {precision} | {r['recall@3']:.4f} | {ivf} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", choices=["synthetic", "real"])
    parser.add_argument("--sentences", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--super-topics", type=int, default=100)
    parser.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent of topic sizes.")
    parser.add_argument("--topic-spread", type=float, default=1.0)
    parser.add_argument("--text-spread", type=float, default=1.0)
    parser.add_argument("--image-spread", type=float, default=1.0)
    parser.add_argument("--gap", type=float, default=0.8, help="Norm of the modality offset.")
    parser.add_argument("--held-out", type=int, default=10_000,
                        help="Real sentences kept out of the index and used as queries.")
    parser.add_argument("--exact-queries", type=int, default=2000)
    parser.add_argument("--nprobe", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 2, 4, 8, 16])
    parser.add_argument("--n-clusters", type=int, default=None,
                        help="Default: the paper's ~420 sentences per cluster.")
    parser.add_argument("--training-points-per-cluster", type=int, default=64)
    parser.add_argument("--threads", type=int, default=faiss.omp_get_max_threads())
    parser.add_argument("--no-ivfflat", action="store_true")
    parser.add_argument("--prepare-only", action="store_true",
                        help="Only make (and cache) the data, e.g. the real embeddings.")
    parser.add_argument("--fit-images", type=int, default=1000,
                        help="real: images the learned routing is fitted on (at most half).")
    parser.add_argument("--ridge", type=float, default=RetrieveConfig().routing_ridge)
    parser.add_argument("--routing-nprobe", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 2, 4, 8])
    parser.add_argument("--margin", type=lambda s: [float(x) for x in s.split(",")],
                        default=[0.02, 0.05], help="real: margins of adaptive learned routing "
                        "(measured at --adaptive-nprobe lists at most).")
    parser.add_argument("--size-penalty", type=float,
                        default=RetrieveConfig().routing_size_penalty,
                        help="real: learned routing's size penalty (default: the config's).")
    parser.add_argument("--adaptive-nprobe", type=int, default=RetrieveConfig().lists_probed,
                        help="real: the default's lists; the most adaptive routing probes.")
    parser.add_argument("--lists-per-cluster", type=int,
                        default=RetrieveConfig().list_split,
                        help="real: learned routing's lists per paper cluster (the default's).")
    parser.add_argument("--flat-centre-limit", type=int,
                        default=RetrieveConfig().flat_centre_limit,
                        help="two-level centres above this many lists (retrieve's setting; "
                             "set it low to measure the two-level path on these sets).")
    parser.add_argument("--centre-probes", type=int, default=RetrieveConfig().centre_probes,
                        help="two-level centres: coarse cells searched (retrieve's setting).")
    parser.add_argument("--routing-centre-probes", type=int,
                        default=RetrieveConfig().routing_centre_probes,
                        help="two-level centres: coarse cells the routers search (retrieve's "
                             "setting; default: every key, flat).")
    parser.add_argument("--set", choices=list(REAL_SETS), default="photos",
                        help="real: which image set, against which sentences (see REAL_SETS).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="Folder of the work files and the results (the real corpus's "
                             "embeddings are cached in benchmarks/results/real whatever this is).")
    args = parser.parse_args(argv)

    faiss.omp_set_num_threads(args.threads)
    folder = args.out / f"{args.data}-work"
    folder.mkdir(parents=True, exist_ok=True)
    data = synthetic(args, folder) if args.data == "synthetic" else real(args, folder)
    if args.prepare_only:
        return
    params = BuildParams(n_clusters=args.n_clusters,
                         training_points_per_cluster=args.training_points_per_cluster,
                         seed=args.seed, flat_centre_limit=args.flat_centre_limit,
                         centre_probes=args.centre_probes)
    built = build(folder, params, args.threads)
    meta = built["meta"]
    print(f"build: {meta['ntotal']:,} sentences, {meta['n_clusters']:,} clusters (largest "
          f"{meta['largest_cluster']:,}, {meta['empty_clusters']} empty), k-means on "
          f"{meta['training_points']:,} points: {meta['train_seconds']:.0f} s, total "
          f"{built['seconds']:.0f} s, peak RSS {built['peak_rss_mb']:,.0f} MB (of which "
          f"{built['baseline_rss_mb']:,.0f} MB libraries before any data)", flush=True)

    index = load_index(folder / "index")
    flat = faiss.IndexFlatIP(index.dim)
    for start in range(0, index.ntotal, 200_000):
        flat.add(np.asarray(index.vectors[start:start + 200_000], np.float32))
    ivf = None if args.no_ivfflat else ivfflat(index)
    topic_sorted = (data["sentence_topic"][np.asarray(index.rows)]
                    if "sentence_topic" in data else None)
    fine = None
    if data.get("image_sets"):  # learned routing's finer lists
        build(folder, dataclasses.replace(params, lists_per_cluster=args.lists_per_cluster),
              args.threads, "index-fine")
        fine = load_index(folder / "index-fine")
    rows, routing_rows = [], []
    for name, (queries, labels) in data["query_sets"].items():
        rows += evaluate(f"{args.data}/{name}", index, queries, labels, topic_sorted, args,
                         flat, ivf)
        if name in data.get("image_sets", ()):
            centres = {id(index): load_centres(folder / "index"),
                       id(fine): load_centres(folder / "index-fine")}
            routing_rows += evaluate_routing(f"{args.data}/{name}", index, fine, queries, args,
                                             centres)
    summary = {"args": vars(args), "build": built, "rows": rows, "routing_rows": routing_rows,
               "threads": args.threads, "cpu_count": os.cpu_count()}
    name = args.data if args.data == "synthetic" else f"{args.data}-{args.set}"
    out = args.out / f"retrieval-{name}-{meta['ntotal']}.json"
    out.write_text(json.dumps(summary, indent=2, default=str))
    print(table(rows))
    if routing_rows:
        print(routing_table(routing_rows))
    print(f"(exact-search throughput measured on {args.exact_queries:,} random queries and "
          f"extrapolated; {args.threads} threads for every method; results in {out})")


if __name__ == "__main__":
    sys.exit(main())
