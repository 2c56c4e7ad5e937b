"""Training shards made of real photos, each sample with four distinct texts in its json."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageOps

from real_photos import encode, photo
from rolling_writer import WebDatasetWriter
from tiny_open_clip import TINY_OPEN_CLIP

PHOTOS = ("chelsea", "coffee", "rocket", "astronaut", "motorcycle", "china", "flower",
          "grace_hopper")


def sample_texts(index: int) -> dict[str, str]:
    return {"text1": f"Real sentence one about sample {index}.",
            "text2": f"Real sentence two about sample {index}.",
            "text3": f"Real sentence three about sample {index}.",
            "syn_text": f"A synthetic caption of sample {index}."}


def variant(index: int) -> Image.Image:
    """A small view of one of the photos: a different crop (and mirror) per index."""
    image = photo(PHOTOS[index % len(PHOTOS)])
    image = ImageOps.fit(image, (96, 96), centering=((index % 5) / 4, (index % 3) / 2))
    return ImageOps.mirror(image) if index % 2 else image


def write_shards(folder: Path, shards: int, per_shard: int) -> list[dict[str, str]]:
    """`shards` WebDataset shards of `per_shard` samples and their sizes.json, as the write
    stage lays them out (KEY.txt = text1); returns every sample's texts, in order. Sample i is
    the image at position 1, 3 or 5 of document i // 3."""
    writer = WebDatasetWriter(str(folder), samples_per_shard=per_shard)
    texts = []
    for index in range(shards * per_shard):
        meta = {"image_id": f"img{index}", "doc_id": f"doc{index // 3}",
                "position": 2 * (index % 3) + 1, **sample_texts(index)}
        assert writer.write(encode(variant(index)), meta["text1"], meta) == "success"
        texts.append(sample_texts(index))
    stats = writer.close()
    sizes = {stat["shard"]: stat["successes"] for stat in stats}
    (folder / "sizes.json").write_text(json.dumps(sizes))
    return texts


def tiny_model_and_config(folder: Path, model_name: str, workspace: Path) -> tuple[Path, Path]:
    """The tiny CLIP's model-config JSON (registered by open_clip as `model_name`) and a
    run configuration for `workspace`, written into `folder`."""
    model = folder / f"{model_name}.json"
    model.write_text(json.dumps(TINY_OPEN_CLIP))
    config = folder / "config.yaml"
    config.write_text(f"workspace: {workspace}\n")
    return model, config
