"""The LightGBM challenger on the aggregate (static) features: the strong tabular baseline the CNN
has to beat to earn its complexity.

Tree size follows the number of fitting rows (`size_params`): on a few hundred customers a 15-leaf
tree with 20-row leaves memorised noise within five rounds (real Online Retail sample), so trees get
one leaf per 200 rows (4 to 15) and every leaf holds at least 1/40 of the rows (at least 20).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ml.families.propensity.config import DEFAULTS, PropensityConfig

# not settings: the objective, and what makes a fit reproducible and quiet
FIXED_PARAMS = dict(objective="binary", subsample_freq=1, is_unbalance=True, deterministic=True,
                    force_row_wise=True, verbose=-1)


def size_params(n_rows: int, config: PropensityConfig = DEFAULTS) -> dict[str, int]:
    """num_leaves and min_child_samples for `n_rows` fitting rows (fewer rows, smaller trees)."""
    leaves = min(config.gbm_max_leaves, max(config.gbm_min_leaves, n_rows // config.gbm_rows_per_leaf))
    return {"num_leaves": int(leaves),
            "min_child_samples": int(max(config.gbm_min_child_samples, n_rows // config.gbm_rows_per_child))}


def fit_lightgbm(x_fit: pd.DataFrame, y_fit: np.ndarray, x_val: pd.DataFrame, y_val: np.ndarray,
                 config: PropensityConfig = DEFAULTS):
    """Fit with early stopping on validation AUC; returns (booster, best_iteration)."""
    import lightgbm as lgb

    clf = lgb.LGBMClassifier(random_state=config.seed, n_estimators=config.gbm_n_estimators,
                             learning_rate=config.gbm_learning_rate, subsample=config.gbm_subsample,
                             colsample_bytree=config.gbm_colsample_bytree, reg_lambda=config.gbm_reg_lambda,
                             n_jobs=config.threads, **FIXED_PARAMS, **size_params(len(x_fit), config))
    rounds = config.gbm_early_stopping_rounds
    callbacks = [lgb.early_stopping(rounds, verbose=False)] if len(np.unique(y_val)) > 1 else []
    clf.fit(x_fit, y_fit, eval_X=(x_val,), eval_y=(y_val,), eval_metric="auc", callbacks=callbacks)
    best = clf.best_iteration_ or clf.n_estimators
    return clf.booster_, int(best)


def predict_lightgbm(booster, x: pd.DataFrame, best_iteration: int | None = None) -> np.ndarray:
    return booster.predict(x, num_iteration=best_iteration)
