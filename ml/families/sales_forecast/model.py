"""What gets registered: per demand class, the forecast that won the rolling backtest, with its intervals.

Products fall in a demand class by what their history shows at the origin (`demand_class`); each
class is served by one method, a LightGBM (`models`) or a baseline (`baselines.BASELINES`), chosen on
the backtest origins older than the holdout. A registered baseline is the same object with one method
for every class and no models, so it scores through the family's normal `score`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml.families.sales_forecast.baselines import BASELINES, predict_baseline
from ml.families.sales_forecast.gbm import predict_lightgbm
from ml.families.sales_forecast.intervals import apply_intervals

# young: too little history for the LightGBMs (trained on products with min_history_weeks+).
# Otherwise by the share of the last 13 weeks with a sale: WAPE rewards a median forecast, which is 0
# for a product selling in fewer than half its weeks and near the level for one selling every week.
CLASSES = ("young", "sparse", "intermittent", "regular")
SPARSE_BELOW, REGULAR_FROM = 0.25, 0.6
LIGHTGBM = ("lightgbm_l1", "lightgbm_poisson")


def demand_class(features: pd.DataFrame, min_history_weeks: int) -> np.ndarray:
    age = features["age_weeks"].to_numpy(dtype=float)
    share = features["nonzero_frac_13"].to_numpy(dtype=float)
    return np.select(
        [age < min_history_weeks, share < SPARSE_BELOW, share < REGULAR_FROM],
        ["young", "sparse", "intermittent"], default="regular",
    ).astype(object)  # fmt: skip


def method_predictions(features: pd.DataFrame, method: str, models: dict) -> np.ndarray:
    if method in BASELINES:
        return predict_baseline(method, features)
    if method in models:
        return predict_lightgbm(models[method], features)
    raise ValueError(f"method {method!r} is neither a baseline nor one of the fitted models {sorted(models)}")


@dataclass
class SalesForecaster:
    """`choice`: demand class -> method; `intervals`: class -> {horizon: scaled-residual quantiles}."""

    choice: dict[str, str]
    models: dict[str, object] = field(default_factory=dict)
    intervals: dict[str, dict[int, tuple[float, float]]] = field(default_factory=dict)
    level: float = 0.8
    min_history_weeks: int = 8

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """predicted_units, lower_80, upper_80 and the `method` that forecast each row."""
        classes = demand_class(features, self.min_history_weeks)
        methods = np.array([self.choice[c] for c in classes], dtype=object)
        predicted = np.zeros(len(features))
        lower, upper = np.zeros(len(features)), np.zeros(len(features))
        horizon = features["horizon"].to_numpy()
        for c in np.unique(classes):
            rows = classes == c
            part = features.loc[rows]
            predicted[rows] = method_predictions(part, self.choice[c], self.models)
            quantiles = self.intervals.get(c)
            if quantiles:
                lower[rows], upper[rows] = apply_intervals(predicted[rows], horizon[rows], quantiles)
            else:  # never calibrated (no backtest origin before the holdout): Poisson quantiles
                from scipy.stats import poisson

                tail = (1 - self.level) / 2
                lower[rows] = np.minimum(np.nan_to_num(poisson.ppf(tail, predicted[rows])), predicted[rows])
                upper[rows] = np.maximum(np.nan_to_num(poisson.ppf(1 - tail, predicted[rows])), predicted[rows])
        return pd.DataFrame({"predicted_units": predicted, "lower_80": lower, "upper_80": upper,
                             "method": methods.astype(str)}, index=features.index)

    @property
    def kind(self) -> str:
        """The registry's `valueflow.kind`: the methods that serve, e.g. 'lightgbm_l1+zero'."""
        return "+".join(sorted(set(self.choice.values())))
