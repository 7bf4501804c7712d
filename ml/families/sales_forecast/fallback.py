"""Forecasts for active products whose history is too short for the model.

The rate is the mean weekly units per active product of the same category over the last 13 weeks;
when the category is unknown (real exports) or has no other active product, the same mean over all
active products. Intervals are the Poisson 10%/90% quantiles of that rate. Rows are marked with
`forecast_basis` = 'category_rate' or 'overall_rate' (model rows say 'model').
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ml.families.sales_forecast.lags import _prepared, _window
from ml.families.sales_forecast.panel import PanelMatrix


def fallback_forecast(
    m: PanelMatrix, t: int, horizon: int, mask: np.ndarray, active_weeks: int, level: float = 0.8
) -> pd.DataFrame:
    """Rows (product_id, target_week, horizon, predicted_units, lower_80, upper_80, forecast_basis)."""
    from scipy.stats import poisson

    columns = ["product_id", "target_week", "horizon", "predicted_units", "lower_80", "upper_80", "forecast_basis"]
    rows = np.flatnonzero(mask)
    if rows.size == 0:
        return pd.DataFrame(columns=columns)
    p = _prepared(m)
    alive = t - m.first_idx
    active = (alive > 0) & (_window(p.nonzero_cum, t, active_weeks) > 0)
    rate = np.clip(_window(p.units_cum, t, 13) / np.clip(np.minimum(alive, 13), 1, None), 0.0, None)
    overall = float(rate[active].mean()) if active.any() else 0.0
    rates = pd.DataFrame({"category": m.category[active], "rate": rate[active]}).dropna(subset=["category"])
    by_category = rates.groupby("category")["rate"].agg(["mean", "size"])

    predicted, basis = [], []
    for i in rows:
        c = m.category[i]
        # A category whose only active product is this one would just echo its own short history.
        if c is not None and c in by_category.index and by_category.at[c, "size"] > 1:
            predicted.append(float(by_category.at[c, "mean"]))
            basis.append("category_rate")
        else:
            predicted.append(overall)
            basis.append("overall_rate")
    predicted = np.array(predicted)
    tail = (1 - level) / 2
    lower, upper = poisson.ppf(tail, predicted), poisson.ppf(1 - tail, predicted)
    lower = np.nan_to_num(lower, nan=0.0)
    upper = np.nan_to_num(upper, nan=0.0)
    frames = [
        pd.DataFrame(
            {
                "product_id": m.product_ids[rows],
                "target_week": m.week_at(t + h - 1),
                "horizon": h,
                "predicted_units": predicted,
                "lower_80": np.minimum(lower, predicted),
                "upper_80": np.maximum(upper, predicted),
                "forecast_basis": basis,
            }
        )
        for h in range(1, horizon + 1)
    ]
    return pd.concat(frames, ignore_index=True)[columns]
