"""The naive baseline every segmentation must beat: RFM score terciles, no ML."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ml.families.segmentation.features import check_columns


def rfm_baseline_labels(frame: pd.DataFrame) -> np.ndarray:
    """The naive segmentation marketers use without ML: RFM score terciles summed into 4 groups."""
    check_columns(frame, ("recency_days", "frequency", "monetary"))

    def tercile(series: pd.Series, ascending: bool) -> pd.Series:
        ranked = series.rank(method="first", ascending=ascending, pct=True)
        return np.ceil(ranked * 3).clip(1, 3)

    score = (tercile(frame["recency_days"], ascending=False) + tercile(frame["frequency"], True)
             + tercile(frame["monetary"], True))
    return pd.cut(score, bins=[0, 4, 6, 8, 9], labels=False).to_numpy()
