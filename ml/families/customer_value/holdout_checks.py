"""How the next-order dates and the value intervals did on the time-based holdout, beside the baseline.

The models are the ones fitted at the holdout start (as every candidate is judged); what happened is
each customer's first purchase day in the holdout and their spend in it. The next-order check is
censored at the holdout's end: a date past it, or none (more likely gone than not), counts as the
end, and so does a customer who did not order, so model and baseline are held to the same window.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score

from ml.families.customer_value.model import ValuePredictor
from ml.families.customer_value.timing import ORDER_WITHIN_DAYS, mean_gap_baseline
from ml.families.customer_value.uncertainty import coverage


def auc_or_nan(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC, NaN where the labels hold one class only (nothing to rank)."""
    return float(roc_auc_score(labels, scores)) if 0 < labels.sum() < len(labels) else float("nan")


def censored(days: np.ndarray, window: int) -> np.ndarray:
    """Days to an order, at most the window's length; no date (NaN) counts as the window's end."""
    return np.minimum(np.nan_to_num(np.asarray(days, dtype=float), nan=window), window)


def next_order_metrics(predicted: pd.DataFrame, features: pd.DataFrame, first_order: pd.Series,
                       days: int) -> dict[str, float]:
    """P(order within d) (AUC, Brier, mean against observed) for each d the holdout spans, and the
    censored MAE in days of the next-order date, model and mean-gap baseline side by side.

    `predicted` is the predictor's output for `features` (same index); `first_order` gives days from
    the holdout start to each customer's first purchase in it (customers absent did not order)."""
    actual = first_order.reindex(features.index).to_numpy(dtype=float)
    ordered_after = np.where(np.isnan(actual), np.inf, actual)
    baseline_days = mean_gap_baseline(features)
    metrics: dict[str, float] = {}
    for d in (d for d in ORDER_WITHIN_DAYS if d <= days):
        labels = (ordered_after < d).astype(int)
        p = predicted[f"p_order_{d}d"].to_numpy(dtype=float)
        metrics |= {f"p_order_{d}d_auc": auc_or_nan(labels, p),
                    f"p_order_{d}d_brier": float(brier_score_loss(labels, np.clip(p, 0, 1))),
                    f"p_order_{d}d_mean": float(p.mean()), f"p_order_{d}d_observed": float(labels.mean()),
                    f"baseline_mean_gap_p_order_{d}d_auc": auc_or_nan(labels, -np.nan_to_num(baseline_days, nan=1e9))}
    censored_actual = np.minimum(ordered_after, days)
    model_days = censored(predicted["days_to_next_order"].to_numpy(dtype=float), days)
    gap_days = censored(baseline_days, days)
    metrics["next_order_censored_mae_days"] = float(np.mean(np.abs(model_days - censored_actual)))
    metrics["baseline_mean_gap_next_order_censored_mae_days"] = float(np.mean(np.abs(gap_days - censored_actual)))
    metrics["next_order_date_share"] = float(np.mean(~np.isnan(predicted["days_to_next_order"].to_numpy(dtype=float))))
    return metrics


def interval_metrics(predictor: ValuePredictor, features: pd.DataFrame, spend: pd.Series, days: int) -> dict[str, float]:
    """Coverage of the 80% interval of holdout spend around the served spend forecast (the 365-day
    interval is built the same way, over 365 days), over all customers and over those who bought."""
    if predictor.clv is None:
        return {}
    point = predictor.candidate(predictor.spend_from, features)["expected_spend"].to_numpy(dtype=float)
    low, high = predictor.interval(point, features, days)
    actual = spend.reindex(features.index, fill_value=0.0).to_numpy(dtype=float)
    bought = actual > 0
    return {"spend_interval_coverage_80": coverage(actual, low, high),
            "spend_interval_coverage_80_buyers": coverage(actual[bought], low[bought], high[bought]),
            "spend_interval_median_width": float(np.median(high - low))}
