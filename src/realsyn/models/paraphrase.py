"""A sentence encoder used only to find paraphrases, apart from the joint image-text encoder.

Retrieval needs one joint image-text space; paraphrase dedup needs an encoder that puts two
wordings of one statement close together and two different statements (one word apart, as in
"... using Hard Mix mode" / "... using Divide mode") far apart. A contrastive image-text text
tower, or a general sentence model, often does neither well enough, so
`extract.sentences.paraphrase_model` may name any sentence-transformers model (a hub name or
a local folder) for this one job. None reuses the embed stage's sentence embeddings.
"""

from __future__ import annotations

import numpy as np

from realsyn.config import ConfigError
from realsyn.models.encoders.base import l2_normalize, resolve_device

FIELD = "extract.sentences.paraphrase_model"


class ParaphraseEncoder:
    def __init__(self, model: str, device: str = "auto", batch_size: int = 256):
        from sentence_transformers import SentenceTransformer

        self.batch_size = batch_size
        try:
            self.model = SentenceTransformer(model, device=str(resolve_device(device)))
        except (OSError, ValueError) as error:  # missing folder, hub unreachable, bad files
            raise ConfigError(f"{FIELD}: cannot load sentence-transformers model {model!r}: "
                              f"{error}") from error

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 rows, one per text."""
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        rows = self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                 show_progress_bar=False)
        return l2_normalize(rows)
