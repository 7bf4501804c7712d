"""The registered `customer_value` model: one predictor for both kinds, so scoring never cares which won.

Input: the customer features of `ml.families.customer_value.features` (one row per customer at a cutoff).
Output per customer: expected orders and spend over the horizon (90 days), P(alive) and the
discounted value over `clv_days` (365).

* kind "bgnbd": BG/NBD + Gamma-Gamma give everything; the 90-day orders and spend are scaled by the
  shop's seasonal indices (how busy the coming 90 days were last year, see
  `summary.seasonal_indices`), which the published model, assuming a steady rate, lacks.
* kind "gbm": LightGBM predicts orders and spend over the horizon; P(alive) comes from the BG/NBD
  fitted on the same data, and the 365-day value scales the LightGBM spend by the BG/NBD's own
  ratio of 365-day value to horizon spend, i.e. each customer's expected decay (LightGBM only learns
  one horizon, and a straight x4 would ignore churn).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.families.customer_value.clv import CLVModel, predict_customer_value
from ml.families.customer_value.gbm import GBMValueModel, predict_gbm_value
from ml.families.customer_value.summary import SEASON_COLUMNS
from ml.sql import require_columns

OUTPUT_COLUMNS = ["expected_orders", "expected_spend", "p_alive", "predicted_clv"]
KINDS = ("bgnbd", "gbm")


def to_summary(features: pd.DataFrame) -> pd.DataFrame:
    """The BG/NBD view (frequency, recency, T, monetary_value, in days) of a feature frame."""
    require_columns(features, ("frequency", "recency_days", "tenure_days", "monetary_value"), "customer features")
    return features.rename(columns={"recency_days": "recency", "tenure_days": "T"})


@dataclass
class ValuePredictor:
    """Plain-Python predictor (what `pyfunc.py` logs to MLflow; unit-testable without MLflow)."""

    kind: str
    clv: CLVModel
    gbm: GBMValueModel | None = None
    horizon_days: int = 90
    clv_days: int = 365
    annual_discount_rate: float = 0.10
    seasonal: bool = True  # scale BG/NBD's horizon forecast by last year's seasonal indices

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if (self.kind == "gbm") != (self.gbm is not None):
            raise ValueError("a 'gbm' predictor needs a LightGBM model and a 'bgnbd' one must not have one")

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        require_columns(features, ("n_transactions",), "customer features")
        if self.kind == "bgnbd" and self.seasonal:
            require_columns(features, SEASON_COLUMNS, "customer features")
        probabilistic = predict_customer_value(
            self.clv, to_summary(features), horizon_days=self.horizon_days, clv_days=self.clv_days,
            annual_discount_rate=self.annual_discount_rate,
        )
        out = probabilistic[["expected_orders", "expected_spend", "p_alive", "predicted_clv"]].copy()
        if self.kind == "bgnbd" and self.seasonal:
            # Only the horizon is scaled: a whole year of value spans every season once.
            out["expected_orders"] *= features["season_orders_index"].to_numpy()
            out["expected_spend"] *= features["season_spend_index"].to_numpy()
        if self.kind == "gbm":
            boosted = predict_gbm_value(self.gbm, features)
            decay = out["predicted_clv"] / out["expected_spend"].where(out["expected_spend"] > 0, np.nan)
            out["expected_orders"] = boosted["expected_orders"]
            out["expected_spend"] = boosted["expected_spend"]
            out["predicted_clv"] = (boosted["expected_spend"] * decay.fillna(self.clv_days / self.horizon_days))
        # Customers whose history is only returns or cancellations have no purchase to model.
        out.loc[features["n_transactions"].to_numpy() <= 0, :] = 0.0
        return out.astype(float)
