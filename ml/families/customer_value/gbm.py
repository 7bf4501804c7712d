"""Gradient-boosting challenger: LightGBM on customer features predicting next-period orders and spend.

It learns from the past the way it will be used: features at a cutoff, targets in the `horizon_days`
after it (`train.build_gbm_training_set` stacks several cutoffs, one horizon apart, so a shop
with a few hundred customers still gives the trees enough rows). Its settings are the `gbm_*`
fields of `CustomerValueConfig`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from ml.families.customer_value.config import DEFAULTS
from ml.sql import require_columns

# Poisson for counts, Tweedie for spend: both have many exact zeros and a long right tail.
_OBJECTIVES = {"orders": "poisson", "spend": "tweedie"}
FIXED_PARAMS = {"deterministic": True, "verbose": -1}  # reproducible fits, quiet logs: not tuning knobs


def threads_for(n_rows: int, cap: int, small_data_rows: int = DEFAULTS.gbm_small_data_rows) -> int:
    """One thread below `small_data_rows` rows (OpenMP threads only spin there), else `cap`."""
    return 1 if n_rows < small_data_rows else cap


@dataclass
class GBMValueModel:
    orders: lgb.LGBMRegressor
    spend: lgb.LGBMRegressor
    feature_names: list[str]
    horizon_days: int
    params: dict = field(default_factory=dict)


def fit_gbm_value_model(
    features: pd.DataFrame, targets: pd.DataFrame, *, horizon_days: int, seed: int = 0, params: dict | None = None,
    small_data_rows: int = DEFAULTS.gbm_small_data_rows, target_params: dict[str, dict] | None = None,
) -> GBMValueModel:
    """Fit one regressor per target (orders, spend) on the same features; `params` override the
    configured defaults under LightGBM's names, `target_params[target]` those for one target."""
    require_columns(targets, _OBJECTIVES, "targets")
    if len(features) != len(targets) or features.empty:
        raise ValueError(f"need the same non-zero number of feature and target rows, got {len(features)}, {len(targets)}")
    merged = DEFAULTS.gbm_params | FIXED_PARAMS | (params or {})
    merged["num_threads"] = threads_for(len(features), int(merged["num_threads"]), small_data_rows)
    models = {}
    for target, objective in _OBJECTIVES.items():
        own = merged | (target_params or {}).get(target, {})
        model = lgb.LGBMRegressor(objective=objective, random_state=seed, **own)
        model.fit(features, targets[target].clip(lower=0.0))
        models[target] = model
    chosen = merged | {f"{t}_{k}": v for t, own in (target_params or {}).items() for k, v in own.items()}
    return GBMValueModel(models["orders"], models["spend"], list(features.columns), horizon_days, chosen)


def grid(num_leaves, min_child_samples) -> list[dict]:
    return [{"num_leaves": int(n), "min_child_samples": int(m)} for n in num_leaves for m in min_child_samples]


def choose_params(train_x: pd.DataFrame, train_y: pd.DataFrame, valid_x: pd.DataFrame, valid_y: pd.DataFrame,
                  candidates: list[dict], *, horizon_days: int, seed: int, params: dict,
                  small_data_rows: int = DEFAULTS.gbm_small_data_rows) -> tuple[dict[str, dict], dict[str, float]]:
    """Per target, the grid point with the lowest error on the later window (RMSE of orders, MAE of
    spend: the metrics the outputs are judged on), and those errors."""
    best: dict[str, tuple[float, dict]] = {}
    for point in candidates:
        model = fit_gbm_value_model(train_x, train_y, horizon_days=horizon_days, seed=seed, params=params | point,
                                    small_data_rows=small_data_rows)
        predicted = predict_gbm_value(model, valid_x)
        errors = {"orders": float(np.sqrt(np.mean((predicted["expected_orders"] - valid_y["orders"]) ** 2))),
                  "spend": float(np.mean(np.abs(predicted["expected_spend"] - valid_y["spend"])))}
        for target, error in errors.items():
            if target not in best or error < best[target][0]:
                best[target] = (error, point)
    return {t: p for t, (_, p) in best.items()}, {t: e for t, (e, _) in best.items()}


def predict_gbm_value(model: GBMValueModel, features: pd.DataFrame) -> pd.DataFrame:
    """expected_orders and expected_spend over the model's horizon, indexed like `features`."""
    require_columns(features, model.feature_names, "features")
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
