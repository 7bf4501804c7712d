"""The naive segmentation marketers use without ML: RFM score terciles, summed into four groups.

Each of recency (lower is better), frequency and monetary is cut into terciles at the training
customers' quantiles; the three scores (1-3 each) sum to 3-9, grouped 3-4 / 5-6 / 7-8 / 9. Fitted
cut points make it a model like K-means: registered and served when K-means does not beat it, so
every shop gets segments.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml.families.segmentation.features import check_columns
from ml.families.segmentation.rules import SegmentRule, rule_column

RFM_COLUMNS = ("recency_days", "frequency", "monetary")
GROUP_EDGES = (4, 6, 8)  # summed score <= 4: group 0, <= 6: 1, <= 8: 2, 9: 3
GROUP_NAMES = {0: "lapsed", 1: "occasional", 2: "loyal regulars", 3: "high-value loyal"}


@dataclass
class RfmSegmenter:
    """Tercile cut points per column, fitted on the training customers, and each group's plain rule."""

    cuts: dict[str, tuple[float, float]]
    rules: dict[int, SegmentRule] = field(default_factory=dict)

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> RfmSegmenter:
        check_columns(frame, RFM_COLUMNS)
        if frame.empty:
            raise ValueError("RFM terciles need at least one customer")
        return cls({c: tuple(float(q) for q in frame[c].astype("float64").quantile([1 / 3, 2 / 3]))
                    for c in RFM_COLUMNS})

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        """Summed tercile scores, 3 (worst) to 9 (best)."""
        check_columns(frame, RFM_COLUMNS)
        total = np.zeros(len(frame))
        for column in RFM_COLUMNS:
            values = frame[column].astype("float64").fillna(frame[column].median()).to_numpy()
            tercile = 1 + np.searchsorted(np.asarray(self.cuts[column]), values, side="right")
            total += 4 - tercile if column == "recency_days" else tercile  # recent is good
        return total

    def labels(self, frame: pd.DataFrame) -> np.ndarray:
        return np.searchsorted(np.asarray(GROUP_EDGES), self.scores(frame), side="left").astype("int64")

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """What the pyfunc returns, like K-means': segment_id, segment_name and segment_rule per row."""
        labels = self.labels(frame)
        return pd.DataFrame({"segment_id": labels, "segment_name": [GROUP_NAMES[int(x)] for x in labels],
                             # getattr: a version pickled before rules existed has no attribute
                             "segment_rule": rule_column(getattr(self, "rules", None), labels)})


def rfm_baseline_labels(frame: pd.DataFrame, fitted_on: pd.DataFrame | None = None) -> np.ndarray:
    """RFM groups of `frame`, cut at the terciles of `fitted_on` (default: of `frame` itself)."""
    return RfmSegmenter.fit(frame if fitted_on is None else fitted_on).labels(frame)
