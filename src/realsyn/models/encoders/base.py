"""The encoder interface shared by every backend, and small helpers for them.

An encoder maps images and texts into one joint space. Each modality is embedded in two steps
so that callers can overlap the cheap CPU part with the model's compute:

    images: preprocess(image) -> tensor (one per image, worker-safe)  then  embed_pixels(batch)
    texts:  tokenize(texts) -> model inputs (one batch)               then  embed_tokens(inputs)

`embed_images` / `embed_texts` do both steps at once. Every output row is float32, L2-normalised.
What `preprocess` and `tokenize` return is the backend's own business (the offline encoder keeps
pixels uint8 until the batch reaches the model): feed it only to the same encoder.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from PIL import Image


@runtime_checkable
class Encoder(Protocol):
    identity: str  # names model and weights; embeddings of different identities never mix
    dim: int
    context_length: int | None  # text tokens the model reads; longer texts are truncated
    image_size: int  # short side that preprocess resizes to (lets decoders draft JPEGs)

    def preprocess(self, image: Image.Image) -> torch.Tensor: ...

    def embed_pixels(self, batch: torch.Tensor) -> np.ndarray: ...

    def tokenize(self, texts: list[str]) -> Any: ...

    def embed_tokens(self, tokens: Any) -> np.ndarray: ...

    def embed_images(self, images: list[Image.Image]) -> np.ndarray: ...

    def embed_texts(self, texts: list[str]) -> np.ndarray: ...


class TwoStepEncoder:
    """`embed_images` / `embed_texts` built from the two-step methods of a backend."""

    dim: int

    def embed_images(self, images: list[Image.Image]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.embed_pixels(torch.stack([self.preprocess(image) for image in images]))

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.embed_tokens(self.tokenize(texts))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.identity!r}, dim={self.dim})"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def l2_normalize(rows: torch.Tensor | np.ndarray) -> np.ndarray:
    """Float32 rows of unit length (all-zero rows stay zero)."""
    if isinstance(rows, torch.Tensor):
        rows = rows.detach().float().cpu().numpy()
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.maximum(norms, 1e-12)
