"""A short `realsyn train` + `realsyn eval` on a GPU: training throughput of open_clip's trainer
with the four-text hook, and CLIP_benchmark's CUDA paths (its own linear probe runs only there).

Skips (exit 0) when torch sees no CUDA device. Shards come from --workspace (a finished
realsyn workspace) or, by default, are built from the photos of the shipped sample corpus,
cycled to --samples with four texts each. Evaluation uses the offline photo set
(realsyn.evaluate.photos).

Usage: .venv/bin/python benchmarks/bench_train_gpu.py [--model ViT-B-32] [--samples 4096]
       [--batch-size 256] [--epochs 1] [--precision amp] [--workers 4] [--workspace DIR]
       (--device cpu --model src/realsyn/ablate/tiny-clip.json --precision fp32 checks the
       script itself on a machine without a GPU)
Prints the figures and writes benchmarks/results/bench_train_gpu.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS_IMAGES = ROOT / "examples" / "sample_corpus" / "images"
RESULTS = ROOT / "benchmarks" / "results"


def build_shards(folder: Path, samples: int, per_shard: int) -> None:
    """`samples` samples over shards of `per_shard`, as the write stage lays them out."""
    sys.path.insert(0, str(ROOT / "tests"))  # the rolling shard writer tests use
    from rolling_writer import WebDatasetWriter

    photos = [path.read_bytes() for path in sorted(CORPUS_IMAGES.rglob("*.jpg"))]
    writer = WebDatasetWriter(str(folder), samples_per_shard=per_shard, image_size=256)
    for index in range(samples):
        texts = {"text1": f"Photo {index % len(photos)}, real sentence one.",
                 "text2": f"Photo {index % len(photos)}, real sentence two.",
                 "text3": f"Photo {index % len(photos)}, real sentence three.",
                 "syn_text": f"A synthetic caption of photo {index % len(photos)}."}
        writer.write(photos[index % len(photos)], texts["text1"], texts)
    sizes = {stat["shard"]: stat["successes"] for stat in writer.close()}
    (folder / "sizes.json").write_text(json.dumps(sizes))


def main() -> None:
    parser = argparse.ArgumentParser(description="Short GPU training and evaluation.")
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--per-shard", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--precision", default="amp")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--workspace", type=Path, default=None)
    parser.add_argument("--device", default="cuda", help="cpu only checks the script itself")
    args = parser.parse_args()

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("skipped: torch sees no CUDA device")
        return
    from realsyn.evaluate import EvalOptions, evaluate, format_rows
    from realsyn.evaluate.photos import build as build_photos
    from realsyn.train import TrainOptions, train
    from realsyn.workspace import Workspace

    with tempfile.TemporaryDirectory() as scratch:
        root = args.workspace or Path(scratch) / "ws"
        if args.workspace is None:
            build_shards(root / "output" / "shards", args.samples, args.per_shard)
        workspace = Workspace(str(root))
        started = time.perf_counter()
        summary = train(workspace, TrainOptions(
            model=args.model, epochs=args.epochs, batch_size=args.batch_size, warmup=10,
            workers=args.workers, device=args.device, precision=args.precision,
            name=f"bench-{args.model}", report=False))
        train_seconds = time.perf_counter() - started
        photos = build_photos(Path(scratch) / "photos")
        started = time.perf_counter()
        result = evaluate(workspace, EvalOptions(
            datasets=[str(photos / "imagefolder"), str(photos / "wds_retrieval")],
            checkpoint=summary["checkpoint"], model=args.model, device=args.device,
            report=False))
        eval_seconds = time.perf_counter() - started
    figures = {
        "device": (torch.cuda.get_device_name(0) if args.device.startswith("cuda")
                   else "cpu"), "python": platform.python_version(),
        "torch": torch.__version__, "model": args.model, "precision": args.precision,
        "batch_size": args.batch_size, "epochs": args.epochs, "workers": summary["workers"],
        "train_samples": summary["train_samples"], "train_seconds": round(train_seconds, 1),
        "samples_per_second": round(summary["train_samples"] * args.epochs / train_seconds, 1),
        "text_counts": summary["text_counts"], "held_out": summary["metrics"],
        "eval_seconds": round(eval_seconds, 1), "eval_rows": result["rows"],
    }
    print(json.dumps({k: v for k, v in figures.items() if k != "eval_rows"}, indent=2))
    print(format_rows(result["rows"]))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_train_gpu.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
