"""Gradient-boosting challenger: LightGBM on customer features predicting next-period orders and spend.

It learns from the past the way it will be used: features at a cutoff, targets in the `horizon_days`
after it (`training.build_gbm_training_set` stacks several cutoffs, one horizon apart, so a shop
with a few hundred customers still gives the trees enough rows).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

# Poisson for counts, Tweedie for spend: both have many exact zeros and a long right tail.
_OBJECTIVES = {"orders": "poisson", "spend": "tweedie"}
DEFAULT_PARAMS = {
    "n_estimators": 200,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 10,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "num_threads": 2,  # the cap: workers share their cores with other tasks (see threads_for)
    "deterministic": True,
    "verbose": -1,
}


SMALL_DATA_ROWS = 20_000


def threads_for(n_rows: int, cap: int) -> int:
    """One thread below SMALL_DATA_ROWS rows, else `cap`.

    On small data, OpenMP threads only spin waiting for each other, and on a busy 2-core worker that
    is ruinous: 937 rows took 0.26 s with one thread and 5-25 s with two (load average ~10).
    """
    return 1 if n_rows < SMALL_DATA_ROWS else cap


@dataclass
class GBMValueModel:
    orders: lgb.LGBMRegressor
    spend: lgb.LGBMRegressor
    feature_names: list[str]
    horizon_days: int
    params: dict = field(default_factory=dict)


def fit_gbm_value_model(
    features: pd.DataFrame, targets: pd.DataFrame, *, horizon_days: int, seed: int = 0, params: dict | None = None
) -> GBMValueModel:
    """Fit one regressor per target (orders, spend) on the same features."""
    missing = [t for t in _OBJECTIVES if t not in targets.columns]
    if missing:
        raise KeyError(f"targets are missing column(s) {missing}")
    if len(features) != len(targets) or features.empty:
        raise ValueError(f"need the same non-zero number of feature and target rows, got {len(features)}, {len(targets)}")
    merged = DEFAULT_PARAMS | (params or {})
    merged["num_threads"] = threads_for(len(features), int(merged["num_threads"]))
    models = {}
    for target, objective in _OBJECTIVES.items():
        model = lgb.LGBMRegressor(objective=objective, random_state=seed, **merged)
        model.fit(features, targets[target].clip(lower=0.0))
        models[target] = model
    return GBMValueModel(models["orders"], models["spend"], list(features.columns), horizon_days, merged)


def predict_gbm_value(model: GBMValueModel, features: pd.DataFrame) -> pd.DataFrame:
    """expected_orders and expected_spend over the model's horizon, indexed like `features`."""
    missing = [c for c in model.feature_names if c not in features.columns]
    if missing:
        raise KeyError(f"features are missing column(s) {missing}")
    if features.empty:
        return pd.DataFrame(columns=["expected_orders", "expected_spend"], index=features.index, dtype=float)
    frame = features[model.feature_names]
    return pd.DataFrame(
        {
            "expected_orders": np.clip(model.orders.predict(frame), 0.0, None),
            "expected_spend": np.clip(model.spend.predict(frame), 0.0, None),
        },
        index=features.index,
    )
