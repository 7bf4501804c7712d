"""The weekly forecasts for D against the units really sold, beside the naive forecasts an analyst would use.

The mart partition of marts.product_sales_forecast for D holds one row per product x Monday `week_start`
x horizon 1..4. Actual = net units (returns subtract, guests included: the model's own target) sold in
[week_start, week_start + 7 days), 0 for a product-week without sales. Every baseline forecasts the same
product-weeks from the weekly net units of the history before the first forecast week (and before D):

  zero                 0 units
  last_4_weeks_mean    sum of the 4 complete weeks before the first forecast week / 4
  moving_average_8w    sum of the 8 complete weeks before the first forecast week / 8
  seasonal_naive_52w   the units of the same week 52 weeks earlier; NaN (for the whole metric) when the
                       history does not reach back to that week for every forecast week

Metrics (`metrics.forecast_metrics` / `interval_coverage`): WAPE, the absolute relative bias
|sum(pred - actual)| / sum|actual| (the signed values are in `details`), and the share of actuals inside
[lower_80, upper_80] (the model only: the baselines have no intervals).
"""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from ml import catalog
from ml.data import read_order_lines
from ml.families.sales_forecast.calendar import forecast_origin
from ml.families.sales_forecast.config import NAME
from ml.families.sales_forecast.metrics import forecast_metrics, interval_coverage
from ml.outcomes import Outcome, data_end, mart_partition, realized_lines, window_covered, window_end
from ml.warehouse import Warehouse

HORIZON_WEEKS = 4
SEASON = pd.Timedelta(weeks=52)
BASELINES = ("zero", "last_4_weeks_mean", "seasonal_naive_52w", "moving_average_8w")
WAPE, BIAS, COVERAGE = (f"{m}_{HORIZON_WEEKS}w" for m in ("wape", "bias", "interval_coverage_80"))


def weekly_units(lines: pd.DataFrame) -> pd.Series:
    """Net units (sum of signed quantities) per (product_id, Monday week_start)."""
    if lines.empty:
        return pd.Series(dtype=float, index=pd.MultiIndex.from_arrays([[], []], names=["product_id", "week_start"]))
    ts = pd.to_datetime(lines["invoice_ts"]).dt.normalize()
    frame = pd.DataFrame({"product_id": lines["product_id"].astype(str),
                          "week_start": ts - pd.to_timedelta(ts.dt.day_of_week, unit="D"),
                          "units": lines["quantity"].astype(float)})
    return frame.groupby(["product_id", "week_start"])["units"].sum()


def _lookup(units: pd.Series, products: pd.Series, weeks: pd.Series) -> np.ndarray:
    """Units of each (product, week), 0 where nothing was sold."""
    index = pd.MultiIndex.from_arrays([products.to_numpy(), pd.DatetimeIndex(weeks)])
    return units.reindex(index).fillna(0.0).to_numpy(dtype=float)


def _window_mean(units: pd.Series, products: pd.Series, first_week: pd.Timestamp, weeks: int) -> np.ndarray:
    """Mean weekly units over the `weeks` complete weeks before `first_week` (missing weeks count as 0)."""
    total = np.zeros(len(products))
    for back in range(1, weeks + 1):
        total += _lookup(units, products, pd.Series(first_week - pd.Timedelta(weeks=back), index=products.index))
    return total / weeks


def baseline_forecasts(history: pd.DataFrame, rows: pd.DataFrame, first_week: pd.Timestamp) -> dict[str, np.ndarray]:
    """Each baseline's forecast for the mart rows (product_id, week_start), from `history` before `first_week`."""
    history = history[pd.to_datetime(history["invoice_ts"]) < first_week]
    units = weekly_units(history)
    products = rows["product_id"]
    seasonal_weeks = rows["week_start"] - SEASON
    starts = units.index.get_level_values("week_start")
    reaches = len(starts) > 0 and bool((seasonal_weeks >= starts.min()).all())
    return {
        "zero": np.zeros(len(rows)),
        "last_4_weeks_mean": _window_mean(units, products, first_week, 4),
        "seasonal_naive_52w": _lookup(units, products, seasonal_weeks) if reaches else np.full(len(rows), np.nan),
        "moving_average_8w": _window_mean(units, products, first_week, 8),
    }


def _scores(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    if np.isnan(predicted).any():
        return {"wape": math.nan, "bias": math.nan}
    return forecast_metrics(actual, predicted)


def _outcomes(wape: dict, bias: dict, coverage: float, n: int, note: str, details: dict) -> list[Outcome]:
    no_intervals = dict.fromkeys(BASELINES, math.nan)
    return [
        Outcome(NAME, WAPE, wape["model"], {b: wape[b] for b in BASELINES}, n, False, note, details),
        Outcome(NAME, BIAS, abs(bias["model"]), {b: abs(bias[b]) for b in BASELINES}, n, False,
                f"{note}; |sum(pred - actual)| / sum|actual| (0 = unbiased), signed values in details",
                {**details, "signed_bias": bias}),
        Outcome(NAME, COVERAGE, coverage, no_intervals, n, True,
                f"{note}; share of actuals in [lower_80, upper_80] (target 0.80); baselines have no intervals",
                details),
    ]


def outcomes(wh: Warehouse, truth: Warehouse, as_of: dt.date) -> list[Outcome]:
    mart = mart_partition(wh, catalog.PRODUCT_SALES_FORECAST, as_of)
    if mart is None:
        return []
    rows = mart.assign(product_id=mart["product_id"].astype(str),
                       week_start=pd.to_datetime(mart["week_start"]).dt.normalize()).reset_index(drop=True)
    first_week, last_week = rows["week_start"].min(), rows["week_start"].max()
    span_days = (last_week - first_week).days + 7
    end = window_end(first_week.date(), span_days)
    details = {"weeks": f"[{first_week.date()}, {end})", "products": int(rows["product_id"].nunique())}
    nan = dict.fromkeys(("model", *BASELINES), math.nan)
    if not window_covered(truth, first_week.date(), span_days):
        last = data_end(truth)
        last_day = last - dt.timedelta(days=1) if last else None
        note = f"the export ends on {last_day}, before the end of the forecast weeks {end}: the weeks are not complete"
        return _outcomes(nan, nan, math.nan, 0, note, details)
    actual = _lookup(weekly_units(realized_lines(truth, first_week.date(), end, customers_only=False)),
                     rows["product_id"], rows["week_start"])
    cut = min(first_week, pd.Timestamp(forecast_origin(as_of)))  # a Monday, never after D
    forecasts = {"model": rows["predicted_units"].to_numpy(dtype=float),
                 **baseline_forecasts(read_order_lines(wh, before=cut.date()), rows, cut)}
    scores = {name: _scores(actual, predicted) for name, predicted in forecasts.items()}
    wape = {name: s["wape"] for name, s in scores.items()}
    bias = {name: s["bias"] for name, s in scores.items()}
    coverage = interval_coverage(actual, rows["lower_80"], rows["upper_80"])
    note = f"{len(rows)} product-weeks, actual = net units (returns subtract, guests included); baselines from the " \
           f"history before {cut.date()}"
    if math.isnan(wape["seasonal_naive_52w"]):
        note += "; seasonal_naive_52w is NaN: the history does not reach back 52 weeks before every forecast week"
    if np.abs(actual).sum() == 0:
        note += "; nothing was sold in the forecast weeks, so WAPE and bias are undefined"
    return _outcomes(wape, bias, coverage, len(rows), note, details)
