"""The segmentation predictor (feature rows in, segment id, name and rule out) and its MLflow logging.

It travels pickled inside the shared wrapper (`ml.pyfunc.PredictorPyfunc`); the fitted pipeline is
small and plain scikit-learn, so no loader is needed.
"""
from __future__ import annotations

import pandas as pd

from ml import pyfunc
from ml.families.base import ModelRef
from ml.families.segmentation.rules import SegmentRule, rule_column


class SegmentPredictor:
    """A fitted K-means pipeline, the names of its segments and their plain rules."""

    def __init__(self, pipeline, names: dict[int, str], rules: dict[int, SegmentRule] | None = None):
        self.pipeline = pipeline
        self.names = names
        self.rules = rules or {}

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        labels = self.pipeline.predict(frame)
        return pd.DataFrame({"segment_id": labels.astype("int64"),
                             "segment_name": [self.names[int(x)] for x in labels],
                             # getattr: a version pickled before rules existed has no attribute
                             "segment_rule": rule_column(getattr(self, "rules", None), labels)})


def log_model(predictor, example: pd.DataFrame):
    """Log the predictor as the active run's model (signature and input example from `example`)."""
    return pyfunc.log_pyfunc(predictor, example)


def load(ref: ModelRef):
    """The registered version as MLflow loads it, so its signature checks every input."""
    return pyfunc.load_pyfunc(ref.uri)
