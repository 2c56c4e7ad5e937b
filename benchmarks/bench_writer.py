"""Writer throughput: realsyn's WebDatasetWriter vs webdataset.ShardWriter on the same samples.

Samples are the real photographs of the shipped sample corpus (cycled to --samples), each with a
caption and a JSON record like the ones the `write` stage produces. Two cases:

- passthrough: JPEGs stored as they are (no resize), the common case at scale;
- resize: every image brought to --image-size (keep ratio, shorter side); for ShardWriter the
  same Pillow resize + JPEG encode runs in the loop, so both do the same work per sample.

Usage: .venv/bin/python benchmarks/bench_writer.py [--samples 2000] [--per-shard 500]
Prints a table and writes benchmarks/results/bench_writer.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import webdataset as wds
from PIL import Image

from realsyn.write.webdataset import key_digits, make_key, prepare_image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the rolling shard writer tests use

from rolling_writer import WebDatasetWriter  # noqa: E402

CORPUS_IMAGES = ROOT / "examples" / "sample_corpus" / "images"
RESULTS = ROOT / "benchmarks" / "results"


def load_samples(count: int) -> list[tuple[bytes, str, dict]]:
    photos = []
    for path in sorted(CORPUS_IMAGES.rglob("*.jpg")):
        with Image.open(path) as image:
            if min(image.size) >= 200:
                photos.append(path.read_bytes())
    if not photos:
        raise SystemExit(f"no photographs under {CORPUS_IMAGES}")
    samples = []
    for i in range(count):
        text = f"Real sentence number {i} about the photograph."
        meta = {"image_id": f"{i:016x}", "url": f"https://example.org/{i}.jpg", "text1": text,
                "text2": "second sentence", "text3": "third sentence",
                "syn_text": f"A synthetic caption {i}.", "score1": 0.55, "score2": 0.54,
                "score3": 0.53, "balance_score": 0.55, "balance_cluster": i % 97}
        samples.append((photos[i % len(photos)], text, meta))
    return samples


def run_realsyn(samples, folder: Path, per_shard: int, image_size: int | None) -> float:
    start = time.perf_counter()
    writer = WebDatasetWriter(str(folder), samples_per_shard=per_shard, image_size=image_size)
    for image, text, meta in samples:
        writer.write(image, text, meta)
    writer.close()
    return time.perf_counter() - start


def resized_jpeg(image: bytes, image_size: int) -> bytes:
    """The same preparation the realsyn writer applies (Pillow resize + JPEG encode)."""
    return prepare_image(image, image_size).data


def run_shardwriter(samples, folder: Path, per_shard: int, image_size: int | None) -> float:
    digits = key_digits(per_shard)
    start = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    with wds.ShardWriter(str(folder / "%05d.tar"), maxcount=per_shard, verbose=0) as sink:
        for i, (image, text, meta) in enumerate(samples):
            data = resized_jpeg(image, image_size) if image_size else image
            key = make_key(i // per_shard, i % per_shard, digits)
            sink.write({"__key__": key, "jpg": data, "txt": text, "json": meta})
    return time.perf_counter() - start


def measure(fn, samples, per_shard, image_size, repeats) -> float:
    """Best samples/s of `repeats` runs, each into a fresh folder."""
    best = float("inf")
    for _ in range(repeats):
        folder = Path(tempfile.mkdtemp(prefix="bench-writer-"))
        try:
            best = min(best, fn(samples, folder / "out", per_shard, image_size))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return len(samples) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--per-shard", type=int, default=500)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    samples = load_samples(args.samples)
    mean_bytes = sum(len(s[0]) for s in samples) / len(samples)
    results = {"samples": args.samples, "per_shard": args.per_shard,
               "mean_image_bytes": round(mean_bytes), "machine": platform.processor()
               or platform.machine(), "python": platform.python_version(),
               "webdataset": wds.__version__ if hasattr(wds, "__version__") else "?",
               "cases": {}}
    for case, size in (("passthrough", None), ("resize", args.image_size)):
        ours = measure(run_realsyn, samples, args.per_shard, size, args.repeats)
        theirs = measure(run_shardwriter, samples, args.per_shard, size, args.repeats)
        results["cases"][case] = {"image_size": size, "realsyn_samples_per_s": round(ours, 1),
                                  "shardwriter_samples_per_s": round(theirs, 1),
                                  "ratio": round(ours / theirs, 3)}
    print(f"{args.samples} samples, {args.per_shard} per shard, mean image "
          f"{mean_bytes / 1024:.1f} KiB, best of {args.repeats}")
    print(f"{'case':<12} {'realsyn/s':>12} {'ShardWriter/s':>14} {'ratio':>7}")
    for case, row in results["cases"].items():
        print(f"{case:<12} {row['realsyn_samples_per_s']:>12.1f} "
              f"{row['shardwriter_samples_per_s']:>14.1f} {row['ratio']:>7.3f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_writer.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
