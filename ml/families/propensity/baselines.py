"""What an analyst ranks buyers by — recency, frequency, BG/NBD — as baselines and as model inputs.

BG/NBD (Fader, Hardie & Lee 2005) is fitted on the training customers' own summaries (orders,
first and last order before their origin, in days), so its two outputs are point-in-time like every
other input: `bgnbd_p_alive` and `bgnbd_expected_orders_30d`. The learned kinds take them as inputs
(stacking); each baseline kind is one of these rankings, turned into a probability by the same Platt
calibration on the validation split as the learned kinds, so it can be registered and served.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ml.families.customer_value.bgnbd import BGNBDParams, expected_purchases, fit_bgnbd, probability_alive
from ml.families.propensity.labels import HORIZON_DAYS
from ml.sql import require_columns

SUMMARY_COLUMNS = ("recency_days", "frequency", "tenure_days")
BGNBD_FEATURES = ("bgnbd_p_alive", "bgnbd_expected_orders_30d")
# one column each; a higher raw score means likelier to buy
BASELINE_KINDS = ("recency", "frequency", "bgnbd_p_alive", "bgnbd_expected_orders_30d")
FIT_MAX_CUSTOMERS = 50_000  # BG/NBD's four parameters are population-level: a sample pins them


def summaries(static: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BG/NBD's (x, t_x, T) in days from the static inputs: repeat orders, last order, age."""
    require_columns(static, SUMMARY_COLUMNS, "propensity inputs")
    frequency = static["frequency"].astype("float64").fillna(1.0).clip(lower=1.0).to_numpy()
    tenure = static["tenure_days"].astype("float64").fillna(0.0).clip(lower=0.0).to_numpy()
    recency = np.minimum(static["recency_days"].astype("float64").fillna(0.0).clip(lower=0.0).to_numpy(), tenure)
    return frequency - 1.0, tenure - recency, tenure


def fit_bgnbd_inputs(static: pd.DataFrame, seed: int = 0) -> dict[str, float] | None:
    """BG/NBD parameters fitted on the customers of `static` (None when no one has bought twice:
    the model is not identified, and the learned kinds then go without its columns)."""
    if len(static) > FIT_MAX_CUSTOMERS:
        static = static.sample(FIT_MAX_CUSTOMERS, random_state=seed)
    x, t_x, T = summaries(static)
    if not (x > 0).any() or len(x) < 10:
        return None
    try:
        return fit_bgnbd(x, t_x, T, penalizer=1e-3).to_dict()
    except (ValueError, FloatingPointError, ArithmeticError):
        return None  # a degenerate history: leave BG/NBD out rather than fail the family


def add_bgnbd_inputs(static: pd.DataFrame, params: dict[str, float] | None) -> pd.DataFrame:
    """`static` with the BG/NBD columns (0.5 and the mean when there are no parameters)."""
    out = static.copy()
    if params is None:
        out["bgnbd_p_alive"], out["bgnbd_expected_orders_30d"] = 0.5, 0.0
        return out
    x, t_x, T = summaries(static)
    if len(x) == 0:
        out["bgnbd_p_alive"], out["bgnbd_expected_orders_30d"] = [], []
        return out
    bgnbd = BGNBDParams(**params)
    out["bgnbd_p_alive"] = probability_alive(bgnbd, x, t_x, T)
    out["bgnbd_expected_orders_30d"] = expected_purchases(bgnbd, float(HORIZON_DAYS), x, t_x, T)
    return out


def baseline_raw_score(kind: str, static: pd.DataFrame) -> np.ndarray:
    """The ranking of a baseline kind, squashed into (0, 1) monotonically for the calibrator."""
    if kind == "recency":
        return 1.0 / (1.0 + static["recency_days"].astype("float64").fillna(1e6).clip(lower=0).to_numpy() / 30.0)
    if kind == "frequency":
        f = static["frequency"].astype("float64").fillna(0).clip(lower=0).to_numpy()
        return f / (1.0 + f)
    if kind == "bgnbd_p_alive":
        return static["bgnbd_p_alive"].astype("float64").clip(0.0, 1.0).to_numpy()
    if kind == "bgnbd_expected_orders_30d":  # P(at least one order) if orders were Poisson
        return 1.0 - np.exp(-static["bgnbd_expected_orders_30d"].astype("float64").clip(lower=0).to_numpy())
    raise ValueError(f"unknown baseline kind {kind!r}; expected one of {BASELINE_KINDS}")
