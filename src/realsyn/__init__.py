"""realsyn: turn interleaved image-text documents into CLIP training data (RealSyn)."""

__version__ = "0.1.0"
