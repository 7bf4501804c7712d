"""The yardsticks: the simple forecasts an analyst computes in SQL, the classic linear regression, TSB.

`BASELINES` are the forecasts the quality report scores every mart against (`outcomes.py`), computed
here from the feature rows of an origin so that the family's holdout, its backtest and a registered
baseline (`model.SalesForecaster` serving one of them) all forecast exactly what the report measures:

  zero                 0 units (where most product-weeks sell nothing, hard to beat on WAPE)
  last_4_weeks_mean    units of the 4 weeks before the origin / 4 (weeks before launch count as 0)
  moving_average_8w    the same over 8 weeks
  seasonal_naive       the same week last year; the 4-week mean where the product is younger than that
  tsb                  TSB for intermittent demand (`intermittent.py`)
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ml.families.sales_forecast.lags import ROLL_WINDOWS
from ml.sql import require_columns

LINEAR_FEATURES = [
    "lag_1", "lag_2", "lag_3", "lag_4", "lag_8", "lag_13", "lag_26", "lag_52",
    "roll_mean_4", "roll_mean_8", "roll_mean_13", "roll_mean_26", "roll_mean_52",
    "seasonal_lag", "price_change_4", "buyers_4w", "holiday_week", "horizon",
]  # fmt: skip


def predict_zero(frame: pd.DataFrame) -> np.ndarray:
    return np.zeros(len(frame))


def predict_last_weeks_mean(frame: pd.DataFrame, weeks: int = 4) -> np.ndarray:
    """Units of the last `weeks` weeks / `weeks`: the rolling mean over the weeks the product existed,
    times their share of the window (so pre-launch weeks count as zero, as in the report)."""
    require_columns(frame, [f"roll_mean_{weeks}", "age_weeks"], "feature frame", non_empty=True)
    alive = np.clip(np.minimum(frame["age_weeks"].to_numpy(dtype=float), weeks), 1, None)
    return np.clip(frame[f"roll_mean_{weeks}"].to_numpy(dtype=float) * alive / weeks, 0.0, None)


def predict_tsb(frame: pd.DataFrame) -> np.ndarray:
    require_columns(frame, ["tsb"], "feature frame", non_empty=True)
    return np.clip(frame["tsb"].to_numpy(dtype=float), 0.0, None)


def predict_moving_average(frame: pd.DataFrame, window: int = 4) -> np.ndarray:
    """The mean of the last `window` weeks the product existed, for every horizon."""
    if window not in ROLL_WINDOWS:
        raise ValueError(f"moving-average window must be one of {ROLL_WINDOWS}, not {window}")
    require_columns(frame, [f"roll_mean_{window}"], "feature frame", non_empty=True)
    return np.clip(frame[f"roll_mean_{window}"].to_numpy(dtype=float), 0.0, None)


def predict_seasonal_naive(frame: pd.DataFrame, window: int = 4) -> np.ndarray:
    """The same week last year; the moving average where the product is younger than a year."""
    require_columns(frame, ["seasonal_lag"], "feature frame", non_empty=True)
    seasonal = frame["seasonal_lag"].to_numpy(dtype=float)
    return np.clip(np.where(np.isnan(seasonal), predict_moving_average(frame, window), seasonal), 0.0, None)


BASELINES = {
    "zero": predict_zero,
    "last_4_weeks_mean": lambda frame: predict_last_weeks_mean(frame, 4),
    "moving_average_8w": lambda frame: predict_last_weeks_mean(frame, 8),
    "seasonal_naive": predict_seasonal_naive,
    "tsb": predict_tsb,
}


def predict_baseline(name: str, frame: pd.DataFrame) -> np.ndarray:
    if name not in BASELINES:
        raise ValueError(f"unknown sales baseline {name!r}; known: {sorted(BASELINES)}")
    return BASELINES[name](frame)


def linear_design(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric design matrix of the classic approach: lags, means, season as sin/cos, holidays."""
    require_columns(frame, LINEAR_FEATURES + ["week_of_year"], "feature frame", non_empty=True)
    design = frame[LINEAR_FEATURES].astype(float).copy()
    # No last-year value yet: the yearly mean is the closest thing the linear model can use.
    design["seasonal_lag"] = design["seasonal_lag"].fillna(design["roll_mean_52"])
    design = design.fillna(0.0)
    angle = 2 * np.pi * frame["week_of_year"].to_numpy(dtype=float) / 52.0
    design["week_sin"], design["week_cos"] = np.sin(angle), np.cos(angle)
    return design


def fit_linear(frame: pd.DataFrame):
    from sklearn.linear_model import LinearRegression

    require_columns(frame, ["target"], "feature frame", non_empty=True)
    return LinearRegression().fit(linear_design(frame), frame["target"].to_numpy(dtype=float))


def predict_linear(model, frame: pd.DataFrame) -> np.ndarray:
    return np.clip(model.predict(linear_design(frame)), 0.0, None)
