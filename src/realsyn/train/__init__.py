"""Training a CLIP on the written shards with open_clip's own trainer (`realsyn train`)."""

from realsyn.train.preflight import TrainError
from realsyn.train.texts import TEXT_MODES
from realsyn.train.trainer import (
    REPORT_PATH,
    TrainOptions,
    TrainPlan,
    latest_checkpoint,
    plan_training,
    train,
)

__all__ = ["REPORT_PATH", "TEXT_MODES", "TrainError", "TrainOptions", "TrainPlan",
           "latest_checkpoint", "plan_training", "train"]
