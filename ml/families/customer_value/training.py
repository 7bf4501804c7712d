"""Fitting and judging the value models on features taken at cutoffs one horizon apart.

With features at cutoffs c_0 < c_1 < ... < c_k = as_of (one `horizon_days` apart), the last
interval [c_{k-1}, as_of) is the holdout: both models are fitted on what was known at c_{k-1}, and
judged on what customers did afterwards. Orders and spend in [c, c + horizon) are the differences of
the cumulative `n_transactions` and `total_value` between two cutoffs, so the feature table alone
gives every target and no second pass over the order lines is needed.
"""
from __future__ import annotations

import datetime as dt
import logging

import pandas as pd

from ml.families.customer_value.clv import fit_clv_model
from ml.families.customer_value.evaluate import build_decile_table, predict_naive_baseline, score_predictions
from ml.families.customer_value.gbm import fit_gbm_value_model
from ml.families.customer_value.model import ValuePredictor, to_summary
from ml.families.customer_value.sql import FEATURE_COLUMNS
from ml.families.customer_value.summary import require_columns

log = logging.getLogger(__name__)


def purchasers(features: pd.DataFrame) -> pd.DataFrame:
    """Customers with at least one purchase: the only ones the models can learn from or be judged on."""
    require_columns(features, ("n_transactions",), "customer features")
    return features.loc[features["n_transactions"] > 0]


def build_cutoffs(as_of: dt.date, horizon_days: int, n_training_windows: int) -> list[dt.date]:
    """Cutoffs oldest first: as_of - (n + 1) * horizon, ..., as_of - horizon, as_of."""
    if horizon_days <= 0 or n_training_windows < 1:
        raise ValueError("horizon_days and n_training_windows must be positive")
    return [as_of - dt.timedelta(days=k * horizon_days) for k in range(n_training_windows + 1, -1, -1)]


def targets_between(start: pd.DataFrame, end: pd.DataFrame) -> pd.DataFrame:
    """Orders and spend between two cutoffs for the customers known at the first one."""
    for frame, name in ((start, "start"), (end, "end")):
        require_columns(frame, ("n_transactions", "total_value"), f"features at {name} cutoff")
    later = end[["n_transactions", "total_value"]].reindex(start.index)
    # A customer known at the start is known at the end; fillna only guards a late data deletion.
    later = later.fillna(start[["n_transactions", "total_value"]])
    return pd.DataFrame(
        {
            "orders": (later["n_transactions"] - start["n_transactions"]).clip(lower=0.0),
            "spend": (later["total_value"] - start["total_value"]).clip(lower=0.0),
        },
        index=start.index,
    )


def build_gbm_training_set(features: list[pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stack (features at c_i, targets in [c_i, c_{i+1})) over consecutive cutoffs, oldest first."""
    if len(features) < 2:
        raise ValueError("need features at two or more cutoffs to build targets")
    starts = [purchasers(f) for f in features[:-1]]
    pairs = [(f, targets_between(f, g)) for f, g in zip(starts, features[1:]) if not f.empty]
    if not pairs:
        raise ValueError("no customers at any training cutoff")
    x = pd.concat([f[list(FEATURE_COLUMNS)] for f, _ in pairs], ignore_index=True)
    y = pd.concat([t for _, t in pairs], ignore_index=True)
    return x, y


def fit_value_models(
    features: list[pd.DataFrame], *, horizon_days: int, clv_days: int, annual_discount_rate: float,
    penalizer: float = 0.001, seed: int = 0, gbm_params: dict | None = None,
) -> dict[str, ValuePredictor]:
    """Fit both kinds on features at cutoffs oldest first; the last frame is the fitting cutoff.

    BG/NBD + Gamma-Gamma use the summary at the last cutoff; LightGBM learns from the earlier pairs.
    """
    latest = purchasers(features[-1])
    if latest.empty:
        raise ValueError("no customers with history at the fitting cutoff")
    clv = fit_clv_model(to_summary(latest), penalizer=penalizer)
    settings = dict(horizon_days=horizon_days, clv_days=clv_days, annual_discount_rate=annual_discount_rate)
    models = {"bgnbd": ValuePredictor("bgnbd", clv, **settings)}
    try:
        x, y = build_gbm_training_set(features)
    except ValueError as error:
        # A young shop has no past window with known outcomes yet; BG/NBD needs none.
        log.warning("LightGBM not fitted (%s); only BG/NBD + Gamma-Gamma competes", error)
        return models
    gbm = fit_gbm_value_model(x, y, horizon_days=horizon_days, seed=seed, params=gbm_params)
    return models | {"gbm": ValuePredictor("gbm", clv, gbm, **settings)}


def evaluate_on_holdout(
    predictors: dict[str, ValuePredictor], start: pd.DataFrame, end: pd.DataFrame, *, horizon_days: int
) -> tuple[dict[str, dict[str, float]], dict[str, pd.DataFrame]]:
    """Metrics and decile tables per model, plus "baseline", on the customers known at `start`."""
    start = purchasers(start)
    if start.empty:
        raise ValueError("no customers at the holdout start")
    actuals = targets_between(start, end)
    predictions = {name: p.predict(start) for name, p in predictors.items()}
    predictions["baseline"] = predict_naive_baseline(
        start.rename(columns={"tenure_days": "T"}), horizon_days=horizon_days
    )
    metrics = {name: score_predictions(p, actuals) for name, p in predictions.items()}
    deciles = {name: build_decile_table(p, actuals) for name, p in predictions.items()}
    return metrics, deciles
