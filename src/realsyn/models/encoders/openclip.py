"""open_clip models as encoders: any architecture, with a pretrained tag or a checkpoint file.

- `model`: an open_clip model name ("ViT-B-32", "EVA02-E-14-plus", ...) or the path of a model
  config JSON (registered with `open_clip.add_model_config`, named by its file stem; this lets
  spawned workers rebuild a custom architecture from the config alone).
- `pretrained`: a pretrained tag (downloaded by open_clip into its cache), a local checkpoint
  path, or None for random weights (plumbing only). Random weights are drawn from a fixed seed so
  every worker process builds the same model, and the identity says so.
- Precision "auto" is fp16 on CUDA and fp32 on CPU (open_clip's fp16 keeps LayerNorms in fp32).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from realsyn.models.encoders.base import TwoStepEncoder, l2_normalize, resolve_device

RANDOM_WEIGHTS_SEED = 0


def resolve_precision(precision: str, device: torch.device) -> str:
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    if precision in ("fp16", "bf16") and device.type == "cpu":
        # Half-precision convolutions and matmuls are slow or missing on CPU.
        return "fp32"
    return precision


def model_name(model: str) -> str:
    """The open_clip name of `model`: itself, or the file stem of a model config JSON."""
    path = Path(model)
    return path.stem if path.suffix == ".json" and path.is_file() else model


def register_model_config(model: str) -> str:
    """A model config JSON path is registered with open_clip; returns the model name to use."""
    import open_clip

    name = model_name(model)
    if name != model and open_clip.get_model_config(name) is None:
        open_clip.add_model_config(Path(model))
    return name


def weights_label(pretrained: str | None) -> str:
    if pretrained is None:
        return f"random-seed{RANDOM_WEIGHTS_SEED}"
    path = Path(pretrained)
    return str(path.resolve()) if path.is_file() else pretrained


def openclip_identity(model: str, pretrained: str | None) -> str:
    return f"open_clip:{model_name(model)}:{weights_label(pretrained)}"


class OpenClipEncoder(TwoStepEncoder):
    def __init__(self, model: str, pretrained: str | None = None, device: str = "auto",
                 precision: str = "auto"):
        import open_clip

        self.model_name = register_model_config(model)
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.identity = openclip_identity(model, pretrained)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_WEIGHTS_SEED)
            # pretrained_text=False: never fetch a text tower's base weights from a hub behind
            # the user's back (a full checkpoint, when given, replaces them anyway).
            clip, _, preprocess = open_clip.create_model_and_transforms(
                self.model_name, pretrained=pretrained, precision=self.precision,
                device=self.device, pretrained_text=False)
        self.model = clip.eval()
        self._preprocess = preprocess
        self._tokenizer = open_clip.get_tokenizer(self.model_name)
        self.input_dtype = open_clip.get_input_dtype(self.precision) or torch.float32
        config = open_clip.get_model_config(self.model_name) or {}
        self.dim = int(config.get("embed_dim") or self._probe_dim())
        self.context_length = getattr(self.model, "context_length", None) or getattr(
            self._tokenizer, "context_length", None)
        size = getattr(self.model.visual, "image_size", 224)
        self.image_size = int(min(size) if isinstance(size, tuple | list) else size)

    def _probe_dim(self) -> int:
        return int(self.embed_texts(["probe"]).shape[1])

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        return self._preprocess(image)

    def embed_pixels(self, batch: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            features = self.model.encode_image(batch.to(self.device, dtype=self.input_dtype))
        return l2_normalize(features)

    def tokenize(self, texts: list[str]) -> Any:
        # open_clip's tokenizers pad and truncate to the model's context length.
        return self._tokenizer(texts)

    def embed_tokens(self, tokens: Any) -> np.ndarray:
        with torch.inference_mode():
            features = self.model.encode_text(tokens.to(self.device))
        return l2_normalize(features)
