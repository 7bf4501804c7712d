"""The yardsticks LightGBM must beat: the classic linear regression and two naive floors."""
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


def predict_moving_average(frame: pd.DataFrame, window: int = 4) -> np.ndarray:
    """Floor 1: the mean of the last `window` weeks, for every horizon."""
    if window not in ROLL_WINDOWS:
        raise ValueError(f"moving-average window must be one of {ROLL_WINDOWS}, not {window}")
    require_columns(frame, [f"roll_mean_{window}"], "feature frame", non_empty=True)
    return np.clip(frame[f"roll_mean_{window}"].to_numpy(dtype=float), 0.0, None)


def predict_seasonal_naive(frame: pd.DataFrame, window: int = 4) -> np.ndarray:
    """Floor 2: the same week last year; the moving average where the product is younger than a year."""
    require_columns(frame, ["seasonal_lag"], "feature frame", non_empty=True)
    seasonal = frame["seasonal_lag"].to_numpy(dtype=float)
    return np.clip(np.where(np.isnan(seasonal), predict_moving_average(frame, window), seasonal), 0.0, None)
