"""marts.user_value's next-order fields and value interval for D against what happened after D.

* `p_order_30d_auc`: the mart's `p_order_30d` ranking the customers who ordered in [D, D + 30),
  beside the analyst's "last order + the customer's mean gap" (ranked by days to that date) and
  recency (days since the last order);
* `next_order_censored_mae_days_90d`: days from D to `expected_next_order_date` against days to the
  first order in [D, D + 90), both censored at 90 (no date, a date past it and no order count as
  90), beside the mean-gap date;
* `spend_interval_coverage_80_90d`: the share of customers whose net spend in [D, D + 90) falls in
  the champion's 80% interval over 90 days (the 365-day interval of the mart built the same way
  over 90 days, from the version named on the mart rows); no baseline has an interval.
A customer "ordered" on a day of positive net value, as the features count purchase days.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pandas as pd

from ml import catalog
from ml.families.base import ModelRef
from ml.families.customer_value.config import NAME
from ml.families.customer_value.features import ensure_features, first_purchase_sql, read_features
from ml.families.customer_value.holdout_checks import auc_or_nan, censored
from ml.families.customer_value.timing import mean_gap_baseline
from ml.families.customer_value.uncertainty import coverage
from ml.outcomes import Outcome, realized_customers, window_covered, window_end
from ml.warehouse import Warehouse

AUC_DAYS, DATE_DAYS = 30, 90


def first_orders(truth: Warehouse, as_of: dt.date, days: int) -> pd.Series:
    frame = truth.query(first_purchase_sql(as_of, window_end(as_of, days), catalog.RAW_ORDER_LINES))
    return frame.assign(customer_id=frame["customer_id"].astype(str)).set_index("customer_id")["days_to_first_order"]


def interval_coverage(wh: Warehouse, truth: Warehouse, as_of: dt.date, mart: pd.DataFrame,
                      features: pd.DataFrame, days: int) -> tuple[float, str]:
    """Coverage of the champion's 80% spend interval over `days` after D (NaN for a version without one)."""
    from ml import pyfunc as shared
    from ml import tracking

    tracking.configure()
    actual = realized_customers(truth, as_of, window_end(as_of, days)).set_index("customer_id")["spend"]
    covered, counted = 0.0, 0
    for (name, version), rows in mart.groupby(["model_name", "model_version"]):
        predictor = shared.load_predictor(ModelRef(str(name), str(version), "").uri)
        if not hasattr(predictor, "interval") or predictor.clv is None:
            return math.nan, f"version {version} of {name} gives no interval"
        rows_features = features.loc[rows.index]
        scaled = dataclasses.replace(predictor, horizon_days=days)
        point = scaled.candidate(scaled.spend_from, rows_features)["expected_spend"].to_numpy(dtype=float)
        low, high = scaled.interval(point, rows_features, days)
        spend = actual.reindex(rows.index, fill_value=0.0).to_numpy(dtype=float)
        covered += coverage(spend, low, high) * len(rows)
        counted += len(rows)
    return covered / counted, (f"{counted} customers; net spend in [{as_of}, {window_end(as_of, days)}) inside the "
                               f"champion's 80% interval over {days} days (target 0.80; no baseline has intervals)")


def timing_outcomes(wh: Warehouse, truth: Warehouse, as_of: dt.date, mart: pd.DataFrame) -> list[Outcome]:
    """The three outcomes above for the mart rows (indexed by customer_id)."""
    names = {"auc": f"p_order_{AUC_DAYS}d_auc", "date": f"next_order_censored_mae_days_{DATE_DAYS}d",
             "interval": f"spend_interval_coverage_80_{DATE_DAYS}d"}
    if "p_order_30d" not in mart.columns:
        note = "the mart has no next-order columns (scored by an older release)"
        return [Outcome(NAME, m, math.nan, {}, 0, k != "date", note) for k, m in names.items()]
    ensure_features(wh, as_of)
    features = read_features(wh, as_of, as_of).reindex(mart.index)
    n = len(mart)
    out = []
    if window_covered(truth, as_of, AUC_DAYS):
        first = first_orders(truth, as_of, AUC_DAYS).reindex(mart.index)
        labels = first.notna().to_numpy().astype(int)
        gap_days = mean_gap_baseline(features)
        out.append(Outcome(NAME, names["auc"], auc_or_nan(labels, mart["p_order_30d"].to_numpy(dtype=float)),
                           {"mean_gap_next_order": auc_or_nan(labels, -np.nan_to_num(gap_days, nan=1e9)),
                            "recency": auc_or_nan(labels, -features["days_since_last"].to_numpy(dtype=float))},
                           n, True, f"{n} customers of {catalog.USER_VALUE}, {int(labels.sum())} with an order in "
                           f"[{as_of}, {window_end(as_of, AUC_DAYS)})",
                           {"mean_p_order_30d": float(mart["p_order_30d"].mean()), "observed": float(labels.mean())}))
    else:
        out.append(Outcome(NAME, names["auc"], math.nan, {}, 0, True, f"the export does not cover {AUC_DAYS} days after D"))
    if not window_covered(truth, as_of, DATE_DAYS):
        note = f"the export does not cover {DATE_DAYS} days after D"
        return out + [Outcome(NAME, names["date"], math.nan, {}, 0, False, note),
                      Outcome(NAME, names["interval"], math.nan, {}, 0, True, note)]
    first = first_orders(truth, as_of, DATE_DAYS).reindex(mart.index).to_numpy(dtype=float)
    actual = np.where(np.isnan(first), DATE_DAYS, np.minimum(first, DATE_DAYS))
    dates = pd.to_datetime(mart["expected_next_order_date"])
    model_days = ((dates - pd.Timestamp(as_of)).dt.days.to_numpy(dtype=float))
    model_days = censored(model_days, DATE_DAYS)
    gap_days = censored(mean_gap_baseline(features), DATE_DAYS)
    out.append(Outcome(NAME, names["date"], float(np.mean(np.abs(model_days - actual))),
                       {"mean_gap_next_order": float(np.mean(np.abs(gap_days - actual)))}, n, False,
                       f"{n} customers; days from {as_of} to the first order in [{as_of}, {window_end(as_of, DATE_DAYS)}), "
                       f"censored at {DATE_DAYS}", {"dated_share": float(dates.notna().mean())}))
    value, note = interval_coverage(wh, truth, as_of, mart, features, DATE_DAYS)
    out.append(Outcome(NAME, names["interval"], value, {}, n if not math.isnan(value) else 0, True, note))
    return out
