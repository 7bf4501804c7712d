"""The fitted model that gets registered: the LightGBM with its level scale and interval quantiles."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml.families.sales_forecast.gbm import predict_lightgbm
from ml.families.sales_forecast.intervals import apply_intervals


@dataclass
class SalesForecaster:
    """What gets registered: the LightGBM, its level scale and its per-horizon interval quantiles."""

    model: object
    intervals: dict[int, tuple[float, float]] = field(default_factory=dict)
    level: float = 0.8
    level_scale: float = 1.0

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """predicted_units, lower_80, upper_80 for feature rows (FEATURE_COLUMNS incl. horizon)."""
        predicted = self.level_scale * predict_lightgbm(self.model, features)
        if self.intervals:
            lower, upper = apply_intervals(predicted, features["horizon"], self.intervals)
        else:  # never calibrated (a single backtest origin): Poisson quantiles of the forecast
            from scipy.stats import poisson

            tail = (1 - self.level) / 2
            lower = np.minimum(poisson.ppf(tail, predicted), predicted)
            upper = np.maximum(poisson.ppf(1 - tail, predicted), predicted)
        return pd.DataFrame({"predicted_units": predicted, "lower_80": lower, "upper_80": upper}, index=features.index)
