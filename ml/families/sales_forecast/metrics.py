"""Forecast error metrics per horizon, and interval coverage."""
from __future__ import annotations

import numpy as np
import pandas as pd


def forecast_metrics(actual, predicted) -> dict[str, float]:
    """WAPE, MAE, RMSE and relative bias (sum(pred - actual) / sum|actual|; > 0 = over-forecast).

    WAPE and bias are NaN when every actual is zero (no volume to be wrong about).
    """
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    if actual.shape != predicted.shape:
        raise ValueError(f"actual {actual.shape} and predicted {predicted.shape} differ in shape")
    if actual.size == 0:
        raise ValueError("no forecasts to score")
    error = predicted - actual
    volume = np.abs(actual).sum()
    return {
        "wape": float(np.abs(error).sum() / volume) if volume > 0 else float("nan"),
        "mae": float(np.abs(error).mean()),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "bias": float(error.sum() / volume) if volume > 0 else float("nan"),
        "n": float(actual.size),
    }


def metrics_by_horizon(frame: pd.DataFrame, prediction: str, actual: str = "target") -> pd.DataFrame:
    """One row per horizon plus an 'all' row, columns wape/mae/rmse/bias/n."""
    rows = {h: forecast_metrics(g[actual], g[prediction]) for h, g in frame.groupby("horizon")}
    rows["all"] = forecast_metrics(frame[actual], frame[prediction])
    return pd.DataFrame.from_dict(rows, orient="index")


def interval_coverage(actual, lower, upper) -> float:
    """Share of actuals inside [lower, upper] (bounds inclusive: counts often equal a bound)."""
    actual, lower, upper = (np.asarray(a, dtype=float) for a in (actual, lower, upper))
    if actual.size == 0:
        raise ValueError("no intervals to score")
    if np.any(lower > upper):
        raise ValueError("some lower bounds exceed their upper bounds")
    return float(np.mean((actual >= lower) & (actual <= upper)))
