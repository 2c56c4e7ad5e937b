"""A small labelled set of real photos for `realsyn eval`, from photos shipped inside installed
wheels (scikit-image, scikit-learn: the dev extra): one class per photo, several views per class
(crops at different places and scales, mirrored), split into train and test views.

It is written in the three layouts `realsyn eval` reads:

    OUT/imagefolder/{train,test}/<class>/NN.jpg       torchvision ImageFolder
    OUT/wds_classification/{train,test}/0.tar         CLIP_benchmark WebDataset (jpg, cls),
        nshards.txt, classnames.txt, zeroshot_classification_templates.txt
    OUT/wds_retrieval/test/0.tar                      CLIP_benchmark WebDataset (jpg, txt:
        one caption a line), dataset_type.txt = retrieval

Nothing here is committed: tests and the demo build it into a scratch folder
(`python scripts/build_eval_photos.py OUT`; `realsyn ablate` on the CPU builds it itself).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps


def _skimage(name: str):
    from skimage import data

    return lambda: getattr(data, name)()


def _sklearn(name: str):
    def load():
        from sklearn.datasets import load_sample_image

        return load_sample_image(name)

    return load


def _motorcycle():
    from skimage import data

    return data.stereo_motorcycle()[0]  # the left view of the stereo pair


# class name -> (loader of its photo, captions for retrieval)
CLASSES = {
    "cat": (_skimage("chelsea"), ["a photo of a cat.", "a tabby cat looking at the camera."]),
    "cup of coffee": (_skimage("coffee"), ["a photo of a cup of coffee.",
                                           "a coffee cup on a saucer."]),
    "rocket": (_skimage("rocket"), ["a photo of a rocket.", "a rocket on its launch pad."]),
    "motorcycle": (_motorcycle, ["a photo of a motorcycle.", "a motorbike parked indoors."]),
    "astronaut": (_skimage("astronaut"), ["a photo of an astronaut.",
                                          "an astronaut in a space suit with a flag."]),
    "palace": (_sklearn("china.jpg"), ["a photo of a palace.",
                                       "a chinese temple roof among trees."]),
    "flower": (_sklearn("flower.jpg"), ["a photo of a flower.",
                                        "a pink flower with a bee on it."]),
}
TEMPLATES = ["a photo of a {c}.", "a picture of a {c}.", "a close-up photo of a {c}."]


def views(image: Image.Image, count: int, offset: int) -> list[Image.Image]:
    """`count` different square crops (mirrored every other one), resized to 128 px."""
    out = []
    for index in range(offset, offset + count):
        scale = 0.6 + 0.1 * (index % 4)
        side = int(min(image.size) * scale)
        x = int((image.width - side) * ((index * 0.37) % 1))
        y = int((image.height - side) * ((index * 0.61) % 1))
        view = image.crop((x, y, x + side, y + side)).resize((128, 128), Image.Resampling.BICUBIC)
        out.append(ImageOps.mirror(view) if index % 2 else view)
    return out


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def build(out: Path, train_views: int = 4, test_views: int = 2) -> Path:
    import webdataset as wds

    splits = {"train": (train_views, 0), "test": (test_views, train_views)}
    samples: dict[str, list[tuple[int, str, bytes]]] = {split: [] for split in splits}
    for label, (name, (load, _)) in enumerate(CLASSES.items()):
        photo = Image.fromarray(np.asarray(load())).convert("RGB")
        for split, (count, offset) in splits.items():
            folder = out / "imagefolder" / split / name.replace(" ", "_")
            folder.mkdir(parents=True, exist_ok=True)
            for index, view in enumerate(views(photo, count, offset)):
                data = _jpeg(view)
                (folder / f"{index:02d}.jpg").write_bytes(data)
                samples[split].append((label, name, data))

    classification = out / "wds_classification"
    for split, items in samples.items():
        (classification / split).mkdir(parents=True, exist_ok=True)
        with wds.TarWriter(str(classification / split / "0.tar")) as sink:
            for index, (label, _, data) in enumerate(items):
                sink.write({"__key__": f"s{index:04d}", "jpg": data, "cls": label})
        (classification / split / "nshards.txt").write_text("1\n")
    (classification / "classnames.txt").write_text("\n".join(CLASSES) + "\n")
    (classification / "zeroshot_classification_templates.txt").write_text(
        "\n".join(TEMPLATES) + "\n")

    retrieval = out / "wds_retrieval"
    (retrieval / "test").mkdir(parents=True, exist_ok=True)
    with wds.TarWriter(str(retrieval / "test" / "0.tar")) as sink:
        for index, (_, name, data) in enumerate(samples["test"]):
            captions = "\n".join(CLASSES[name][1])
            sink.write({"__key__": f"s{index:04d}", "jpg": data, "txt": captions})
    (retrieval / "test" / "nshards.txt").write_text("1\n")
    (retrieval / "dataset_type.txt").write_text("retrieval\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="Build a labelled set of real photos.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--train-views", type=int, default=4)
    parser.add_argument("--test-views", type=int, default=2)
    args = parser.parse_args()
    print(build(args.out, args.train_views, args.test_views))


if __name__ == "__main__":
    main()
