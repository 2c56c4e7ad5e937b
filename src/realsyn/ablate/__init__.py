"""`realsyn ablate`: the same CLIP trained on the same images with each text choice of RealSyn
and with a no-retrieval baseline, compared in one table."""

from realsyn.ablate.runner import (
    CPU_PROFILE,
    GPU_PROFILE,
    REPORT_PATH,
    VARIANTS,
    AblateOptions,
    ablate,
    profile,
)

__all__ = ["CPU_PROFILE", "GPU_PROFILE", "REPORT_PATH", "VARIANTS", "AblateOptions", "ablate",
           "profile"]
