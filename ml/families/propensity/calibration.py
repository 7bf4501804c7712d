"""Map raw model scores to probabilities marketers can put thresholds on.

Platt scaling (a logistic regression on the logit of the raw score) is the default: two parameters
are stable on a few hundred validation rows, and a positive slope keeps the ranking strictly, so AUC
and deciles are untouched. Isotonic regression is available for large validation sets; it is
monotone too but merges ties. Both are fitted on the validation split, never on the fitting rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


@dataclass
class Calibrator:
    method: str  # "platt" or "isotonic"
    slope: float = 1.0
    intercept: float = 0.0
    # isotonic step function as breakpoints, so the calibrator serialises to plain JSON
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)

    def transform(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities in [0, 1], non-decreasing in the raw score."""
        scores = np.asarray(scores, dtype=float)
        if self.method == "isotonic":
            out = np.interp(scores, self.x, self.y)
        else:
            out = 1.0 / (1.0 + np.exp(-(self.slope * _logit(scores) + self.intercept)))
        return np.clip(out, 0.0, 1.0)


def fit_calibrator(scores: np.ndarray, labels: np.ndarray, method: str = "platt") -> Calibrator:
    """Fit a calibrator of raw scores in [0, 1] to 0/1 labels.

    Raises:
        ValueError: unknown method, mismatched lengths, or no rows.
    """
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=int)
    if len(scores) != len(labels) or len(scores) == 0:
        raise ValueError(f"need equal, non-zero numbers of scores and labels ({len(scores)}, {len(labels)})")
    if method not in ("platt", "isotonic"):
        raise ValueError(f"unknown calibration method {method!r}")
    if len(np.unique(labels)) < 2:
        # one class only: shift to its rate (clipped), keep the ranking
        rate = float(np.clip(labels.mean(), 0.01, 0.99))
        return Calibrator("platt", slope=1.0, intercept=float(_logit(np.array([rate]))[0] - np.median(_logit(scores))))
    if method == "isotonic":
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, labels)
        return Calibrator("isotonic", x=iso.X_thresholds_.tolist(), y=iso.y_thresholds_.tolist())
    lr = LogisticRegression(C=1e4).fit(_logit(scores).reshape(-1, 1), labels)
    slope, intercept = float(lr.coef_[0, 0]), float(lr.intercept_[0])
    if slope <= 0:
        # a score that ranks backwards on validation says little; keep its order, match the base rate
        slope, intercept = 1.0, float(_logit(np.array([labels.mean()]))[0] - np.median(_logit(scores)))
    return Calibrator("platt", slope=slope, intercept=intercept)
