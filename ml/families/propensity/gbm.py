"""The LightGBM challenger on the aggregate (static) features: the strong tabular baseline the CNN
has to beat to earn its complexity.

Tree size follows the number of fitting rows (`size_params`): on a few hundred customers a 15-leaf
tree with 20-row leaves memorised noise within five rounds (real Online Retail sample), so trees get
one leaf per 200 rows (4 to 15) and every leaf holds at least 1/40 of the rows (at least 20).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

PARAMS = dict(objective="binary", n_estimators=400, learning_rate=0.05,
              subsample=0.8, subsample_freq=1, colsample_bytree=0.8, reg_lambda=1.0, is_unbalance=True,
              n_jobs=2, deterministic=True, force_row_wise=True, verbose=-1)


MAX_LEAVES, MIN_LEAVES, ROWS_PER_LEAF = 15, 4, 200


def size_params(n_rows: int) -> dict[str, int]:
    """num_leaves and min_child_samples for `n_rows` fitting rows (fewer rows, smaller trees)."""
    return {"num_leaves": int(min(MAX_LEAVES, max(MIN_LEAVES, n_rows // ROWS_PER_LEAF))),
            "min_child_samples": int(max(20, n_rows // 40))}


def fit_lightgbm(x_fit: pd.DataFrame, y_fit: np.ndarray, x_val: pd.DataFrame, y_val: np.ndarray,
                 seed: int = 0, early_stopping_rounds: int = 30):
    """Fit with early stopping on validation AUC; returns (booster, best_iteration)."""
    import lightgbm as lgb

    clf = lgb.LGBMClassifier(random_state=seed, **PARAMS, **size_params(len(x_fit)))
    callbacks = [lgb.early_stopping(early_stopping_rounds, verbose=False)] if len(np.unique(y_val)) > 1 else []
    clf.fit(x_fit, y_fit, eval_X=(x_val,), eval_y=(y_val,), eval_metric="auc", callbacks=callbacks)
    best = clf.best_iteration_ or clf.n_estimators
    return clf.booster_, int(best)


def predict_lightgbm(booster, x: pd.DataFrame, best_iteration: int | None = None) -> np.ndarray:
    return booster.predict(x, num_iteration=best_iteration)
