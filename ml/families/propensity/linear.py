"""The regularised logistic regression on the static features: the classic choice on a few hundred
customers, where trees and networks have too few rows to learn more than recency already says.

Inputs are the `InputScaler`'s static half (sign-log, median-imputed, standardised), so one dollar on
a thousand-pound customer weighs what it should. Only the weights travel (plain JSON), never a pickle.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.families.propensity.config import DEFAULTS, PropensityConfig


@dataclass
class LinearScorer:
    """sigmoid(x @ coef + intercept) on standardised static features."""

    coef: list[float]
    intercept: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = np.asarray(x, dtype=float) @ np.asarray(self.coef) + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def fit_logistic(x_fit: np.ndarray, y_fit: np.ndarray, config: PropensityConfig = DEFAULTS) -> LinearScorer:
    """L2-regularised logistic regression (lbfgs, deterministic); calibration happens outside."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=config.logistic_c, max_iter=2000, random_state=config.seed).fit(
        x_fit, np.asarray(y_fit, dtype=int))
    return LinearScorer([float(w) for w in model.coef_[0]], float(model.intercept_[0]))
