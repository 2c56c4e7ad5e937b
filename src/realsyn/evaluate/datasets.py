"""The datasets `realsyn eval` scores on, named as a user names them.

- a CLIP_benchmark dataset name (`cifar10`, `flickr30k`, `mscoco_captions`, `wds/...`), read
  from `--dataset-root` (a folder, or a template with `{dataset}`) by CLIP_benchmark's builder;
- a local folder in CLIP_benchmark's WebDataset layout (`<split>/nshards.txt`, `<split>/0.tar`,
  `classnames.txt`, `zeroshot_classification_templates.txt`, `dataset_type.txt`);
- a local folder in torchvision's ImageFolder layout: one subfolder per class (its name, with
  `_` read as a space, is the class name), either directly or under `train/` and `test/`.
  `classnames.txt` / `zeroshot_classification_templates.txt` beside them override the folder
  names and CLIP_benchmark's ImageNet templates.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLASSIFICATION, RETRIEVAL = "classification", "retrieval"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


class EvalError(ValueError):
    """Evaluation cannot run; the message names the option to change."""


@dataclass
class EvalDataset:
    name: str  # as the user gave it
    kind: str  # CLASSIFICATION | RETRIEVAL
    source: str  # "clip_benchmark" | "wds" | "imagefolder"
    root: str
    download: bool = False

    def has_split(self, split: str) -> bool:
        if self.source == "imagefolder":
            return (Path(self.root) / split).is_dir() or (
                split == "test" and not (Path(self.root) / "train").is_dir())
        if self.source == "wds":
            return (Path(self.root) / split / "nshards.txt").exists()
        return True

    def build(self, split: str, transform: Any) -> Any:
        """A dataset of (image tensor, label) or (image tensor, [captions]), with `classes`
        and `templates` for classification."""
        if self.source == "imagefolder":
            return _image_folder(Path(self.root), split, transform)
        from clip_benchmark.datasets.builder import build_dataset

        name = f"wds/{Path(self.root).name}" if self.source == "wds" else self.name
        task = ("zeroshot_retrieval" if self.kind == RETRIEVAL else "zeroshot_classification")
        try:
            return build_dataset(dataset_name=name, root=self.root, transform=transform,
                                 split=split, download=self.download, task=task)
        except (RuntimeError, FileNotFoundError, OSError) as error:
            raise EvalError(f"--dataset {self.name}: cannot read it under {self.root} "
                            f"({error}); set --dataset-root, or --download") from error

    def collate_fn(self):
        from clip_benchmark.datasets.builder import get_dataset_collate_fn

        return get_dataset_collate_fn(self.name if self.source == "clip_benchmark" else "")


def _lines(path: Path) -> list[str] | None:
    if not path.exists():
        return None
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def imagenet_templates() -> list[str]:
    import clip_benchmark.datasets as package

    path = Path(package.__file__).parent / "en_zeroshot_classification_templates.json"
    return json.loads(path.read_text())["imagenet1k"]


def _image_folder(root: Path, split: str, transform: Any) -> Any:
    from torchvision.datasets import ImageFolder

    folder = root / split if (root / split).is_dir() else root
    dataset = ImageFolder(str(folder), transform=transform)
    names = _lines(root / "classnames.txt")
    if names is not None and len(names) != len(dataset.classes):
        raise EvalError(f"--dataset {root}: classnames.txt names {len(names)} classes, the "
                        f"folder has {len(dataset.classes)}")
    dataset.classes = names or [name.replace("_", " ") for name in dataset.classes]
    dataset.templates = (_lines(root / "zeroshot_classification_templates.txt")
                         or imagenet_templates())
    return dataset


def _is_image_folder(root: Path) -> bool:
    base = root / "test" if (root / "test").is_dir() else root
    classes = [path for path in base.iterdir() if path.is_dir()]
    return bool(classes) and any(
        file.suffix.lower() in IMAGE_SUFFIXES for folder in classes for file in folder.iterdir())


def resolve(name: str, dataset_root: str | None, download: bool = False) -> EvalDataset:
    """What the user named: a local folder (either layout) or a CLIP_benchmark dataset."""
    path = Path(name).expanduser()
    if path.is_dir():
        if any((path / split / "nshards.txt").exists() for split in ("test", "train")):
            kind = (_lines(path / "dataset_type.txt") or [CLASSIFICATION])[0].lower()
            return EvalDataset(name, RETRIEVAL if kind == RETRIEVAL else CLASSIFICATION, "wds",
                               str(path))
        if _is_image_folder(path):
            return EvalDataset(name, CLASSIFICATION, "imagefolder", str(path))
        raise EvalError(f"--dataset {name}: a folder, but neither CLIP_benchmark's WebDataset "
                        "layout (<split>/nshards.txt) nor an ImageFolder (one folder per class)")
    if os.sep in name and not name.startswith("wds/"):
        raise EvalError(f"--dataset {name}: no such folder")
    from clip_benchmark.datasets.builder import get_dataset_default_task

    short = name.split("/", 1)[1] if name.startswith("wds/") else name
    kind = (RETRIEVAL if get_dataset_default_task(short) == "zeroshot_retrieval"
            else CLASSIFICATION)
    root = (dataset_root or "").format(dataset=short, dataset_cleaned=short.replace("/", "-"))
    if not root:
        raise EvalError(f"--dataset {name}: a CLIP_benchmark dataset needs --dataset-root "
                        "(a folder, or a template such as /data/{dataset})")
    return EvalDataset(name, kind, "clip_benchmark", root, download)
