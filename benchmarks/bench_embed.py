"""Embed-stage throughput beside the bare model forward pass on the same batches.

For each encoder (the offline EfficientNet-Lite0 + MiniLM stand-in, and open_clip ViT-B-32 with
random weights), on CPU:

- bare: the model forward only (`embed_pixels` on already decoded and preprocessed image
  tensors, `embed_tokens` on already tokenized texts), batch by batch;
- stage: `EmbedStage.process` on every shard: parquet read, image decoding and preprocessing
  (or tokenization) on `decode_workers` threads overlapping the forward pass, float16 cast,
  array write.

Both see the same batches (same shards, same batch size). Images are the photographs of the
shipped sample corpus plus the larger sample photos of scikit-image / scikit-learn / matplotlib,
cycled to --images; sentences are the corpus's text items split into sentences, cycled to
--sentences. Each measurement is repeated --repeats times, alternating bare and stage; the
ratio uses the median run of each (on a shared CPU a single run can be lucky or unlucky), and
the best runs are reported beside.

glibc malloc hands large freed blocks (a conv layer's activations) back to the kernel and
faults them in again, zero-filled, on the next batch; on a busy VM that page churn costs more
than the convolutions and swings with whatever ran before, which made the bare loop (run after
decoding everything) look up to 2x slower than the stage. The script therefore re-executes
itself once with large MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ so that both paths keep
their memory (--default-malloc turns this off).

Usage: .venv/bin/python benchmarks/bench_embed.py [--threads 1] [--encoders offline]
Prints one line per encoder and writes benchmarks/results/bench_embed.json (with the load
average: on a shared machine the figures are only as steady as the load).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch
from PIL import Image

from realsyn.config import parse_config
from realsyn.embed.decode import decode_image
from realsyn.embed.prefetch import batched
from realsyn.embed.stage import EmbedStage, forget_embeddings, text_batches
from realsyn.stage import Context
from realsyn.workspace import Workspace

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MALLOC_SETTINGS = {"MALLOC_MMAP_THRESHOLD_": "4000000000", "MALLOC_TRIM_THRESHOLD_": "4000000000"}
ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "examples" / "sample_corpus"
RESULTS = ROOT / "benchmarks" / "results"
ENCODERS = {
    "offline": {"backend": "offline", "device": "cpu"},
    "open_clip ViT-B-32 (random)": {"backend": "open_clip", "model": "ViT-B-32",
                                    "pretrained": None, "device": "cpu"},
}


def photo_bytes() -> list[bytes]:
    import matplotlib.cbook
    import skimage
    import sklearn.datasets

    photos = [path.read_bytes() for path in sorted((CORPUS / "images").rglob("*.jpg"))]
    extra = [Path(skimage.__file__).parent / "data" / name
             for name in ("chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png")]
    extra += [Path(sklearn.datasets.__file__).parent / "images" / name
              for name in ("china.jpg", "flower.jpg")]
    extra.append(Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    for path in extra:  # as JPEG, the common web format
        buffer = io.BytesIO()
        with Image.open(path) as image:
            image.convert("RGB").save(buffer, format="JPEG", quality=90)
        photos.append(buffer.getvalue())
    return photos


def corpus_sentences() -> list[str]:
    """The corpus's text items split into sentences of 3 to 81 words (the extract filter)."""
    import nupunkt

    table = pq.read_table(CORPUS / "sample.parquet", columns=["texts"])
    items = [text for row in table.column("texts").to_pylist() for text in row if text]
    return [sentence for item in items for sentence in nupunkt.sent_tokenize(item)
            if 3 <= len(sentence.split()) <= 81]


def cycle(items: list, count: int) -> list:
    return [items[i % len(items)] for i in range(count)]


def build_workspace(root: str, images: list[bytes], sentences: list[str],
                    shard_size: int) -> Workspace:
    workspace = Workspace(root)
    for number, start in enumerate(range(0, len(images), shard_size)):
        workspace.write_table("images_dedup", f"{number:05d}",
                              pa.table({"bytes": images[start:start + shard_size]}))
    for number, start in enumerate(range(0, len(sentences), shard_size * 4)):
        workspace.write_table("sentences_dedup", f"{number:05d}",
                              pa.table({"text": sentences[start:start + shard_size * 4]}))
    return workspace


def time_bare(encoder, workspace: Workspace, config) -> tuple[float, float]:
    """Seconds of the forward passes alone, over the batches the stage forms."""
    pixel_batches, token_batches = [], []
    for _, table in workspace.iter_tables("images_dedup"):
        for batch in batched(table.column("bytes").to_pylist(), config.image_batch_size):
            pixel_batches.append(torch.stack([
                encoder.preprocess(decode_image(blob, encoder.image_size)) for blob in batch]))
    for _, table in workspace.iter_tables("sentences_dedup"):
        texts = table.column("text").to_pylist()
        for rows in text_batches(texts, config.text_batch_size):
            token_batches.append(encoder.tokenize([texts[row] for row in rows]))
    start = time.perf_counter()
    for pixels in pixel_batches:
        encoder.embed_pixels(pixels)
    image_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for tokens in token_batches:
        encoder.embed_tokens(tokens)
    return image_seconds, time.perf_counter() - start


def time_stage(stage: EmbedStage, ctx: Context) -> tuple[float, float]:
    seconds = {"images_dedup": 0.0, "sentences_dedup": 0.0}
    for key in stage.shards(ctx):
        dataset = key.rsplit("-", 1)[0]
        start = time.perf_counter()
        stage.process(ctx, key)
        seconds[dataset] += time.perf_counter() - start
    return seconds["images_dedup"], seconds["sentences_dedup"]


def bench(name: str, encoder_config: dict, args, root: str) -> dict:
    config = parse_config({"workspace": root, "embed": {
        "encoder": encoder_config, "image_batch_size": args.image_batch,
        "text_batch_size": args.text_batch, "decode_workers": args.decode_workers}})
    workspace = Workspace(root)
    forget_embeddings(workspace)
    ctx = Context(config=config, workspace=workspace)
    stage = EmbedStage()
    load_start = time.perf_counter()
    stage.setup(ctx)
    load_seconds = time.perf_counter() - load_start
    encoder = stage.encoder
    # Warm-up (first calls allocate and pick kernels).
    time_stage(stage, ctx)
    bare, staged = [], []
    for _ in range(args.repeats):
        bare.append(time_bare(encoder, workspace, config.embed))
        staged.append(time_stage(stage, ctx))
    result = {"encoder": name, "identity": encoder.identity,
              "load_seconds": round(load_seconds, 1)}
    for column, (kind, count) in enumerate((("images", args.images),
                                            ("sentences", args.sentences))):
        bare_seconds = [run[column] for run in bare]
        stage_seconds = [run[column] for run in staged]
        result.update({
            f"bare_{kind}_per_s": count / statistics.median(bare_seconds),
            f"stage_{kind}_per_s": count / statistics.median(stage_seconds),
            f"{kind}_ratio": statistics.median(bare_seconds) / statistics.median(stage_seconds),
            f"best_bare_{kind}_per_s": count / min(bare_seconds),
            f"best_stage_{kind}_per_s": count / min(stage_seconds),
        })
    result["runs_seconds"] = {"bare": bare, "stage": staged}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--sentences", type=int, default=256)
    parser.add_argument("--image-batch", type=int, default=16)
    parser.add_argument("--text-batch", type=int, default=64)
    parser.add_argument("--decode-workers", type=int, default=2)
    parser.add_argument("--shard-size", type=int, default=64,
                        help="Images per shard (sentences: 4x). Keep several batches per shard:"
                        " the first batch of a shard cannot overlap its own decoding.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch intra-op threads; 0: torch's default.")
    parser.add_argument("--encoders", default=",".join(ENCODERS),
                        help=f"Comma-separated subset of: {', '.join(ENCODERS)}")
    parser.add_argument("--default-malloc", action="store_true",
                        help="Keep glibc's default malloc thresholds (see the module docstring).")
    args = parser.parse_args()
    if not args.default_malloc and any(os.environ.get(k) != v for k, v in MALLOC_SETTINGS.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **MALLOC_SETTINGS})
    if args.threads:
        torch.set_num_threads(args.threads)

    images = cycle(photo_bytes(), args.images)
    sentences = cycle(corpus_sentences(), args.sentences)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-embed-") as root:
        build_workspace(root, images, sentences, args.shard_size)
        for name in args.encoders.split(","):
            results.append(bench(name, ENCODERS[name], args, root))
            row = results[-1]
            print(f"{name} (median of {args.repeats}; best in brackets): " + "; ".join(
                f"{kind}/s bare {row[f'bare_{kind}_per_s']:.1f} "
                f"[{row[f'best_bare_{kind}_per_s']:.1f}] "
                f"stage {row[f'stage_{kind}_per_s']:.1f} [{row[f'best_stage_{kind}_per_s']:.1f}]"
                f" = {row[f'{kind}_ratio']:.0%}" for kind in ("images", "sentences")), flush=True)
    report = {"machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                          "load_average_at_end": os.getloadavg(),
                          "malloc": {k: os.environ.get(k) for k in MALLOC_SETTINGS},
                          "python": platform.python_version(), "torch": torch.__version__},
              "args": vars(args), "results": results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_embed.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
