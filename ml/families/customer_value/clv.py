"""Customer lifetime value from a fitted BG/NBD (how often, whether still alive) and Gamma-Gamma (how much).

The probabilistic model is a pair of parameter sets; `fit_clv_model` fits both on a calibration
summary and `predict_customer_value` turns any later summary into per-customer predictions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ml.families.customer_value import bgnbd, gamma_gamma
from ml.families.customer_value.uncertainty import ParameterUncertainty, parameter_uncertainty
from ml.sql import require_columns

SUMMARY_INPUT = ("frequency", "recency", "T", "monetary_value")


@dataclass(frozen=True)
class CLVModel:
    """Fitted BG/NBD + Gamma-Gamma, with times in units of `time_unit_days` days."""

    purchases: bgnbd.BGNBDParams
    spend: gamma_gamma.GammaGammaParams
    time_unit_days: float = 1.0
    # covariance of the fit (for value intervals); None: intervals from the purchase process only
    uncertainty: ParameterUncertainty | None = None

    def to_dict(self) -> dict[str, float]:
        out = {f"bgnbd_{k}": v for k, v in self.purchases.to_dict().items()}
        out |= {f"gg_{k}": v for k, v in self.spend.to_dict().items()}
        return out | {"time_unit_days": self.time_unit_days}

    @classmethod
    def from_dict(cls, values: dict[str, float]) -> CLVModel:
        return cls(
            bgnbd.BGNBDParams(*(float(values[f"bgnbd_{k}"]) for k in bgnbd.PARAM_NAMES)),
            gamma_gamma.GammaGammaParams(*(float(values[f"gg_{k}"]) for k in gamma_gamma.PARAM_NAMES)),
            float(values.get("time_unit_days", 1.0)),
        )


def fit_clv_model(summary: pd.DataFrame, *, time_unit_days: float = 1.0, penalizer: float = 0.0,
                  with_uncertainty: bool = False) -> CLVModel:
    """Fit both models on a calibration summary (see `summary.summarize_customers`); with
    `with_uncertainty`, also the fit's covariance (what value intervals draw parameters from)."""
    require_columns(summary, SUMMARY_INPUT, "customer summary")
    if summary.empty:
        raise ValueError("cannot fit a CLV model on an empty customer summary")
    purchases = bgnbd.fit_bgnbd(summary["frequency"], summary["recency"], summary["T"], penalizer=penalizer)
    spend = gamma_gamma.fit_gamma_gamma(summary["frequency"], summary["monetary_value"], penalizer=penalizer)
    model = CLVModel(purchases, spend, time_unit_days)
    if with_uncertainty:
        model = replace(model, uncertainty=parameter_uncertainty(model, summary))
    return model


def discounted_value(
    model: CLVModel, summary: pd.DataFrame, *, horizon_days: float = 365.0, annual_discount_rate: float = 0.1,
    steps_per_year: int = 12,
) -> np.ndarray:
    """Discounted expected spend over `horizon_days`: purchases expected in each step, times expected
    spend per purchase, discounted to today at the end of the step (monthly by default)."""
    if annual_discount_rate <= -1:
        raise ValueError("annual_discount_rate must be > -1")
    x, t_x, T = summary["frequency"], summary["recency"], summary["T"]
    spend = gamma_gamma.conditional_expected_spend(model.spend, x, summary["monetary_value"])
    n_steps = max(1, math.ceil(horizon_days / 365.0 * steps_per_year))
    edges = np.linspace(0.0, horizon_days, n_steps + 1)
    value, previous = np.zeros(len(summary)), np.zeros(len(summary))
    for edge in edges[1:]:
        cumulative = bgnbd.expected_purchases(model.purchases, edge / model.time_unit_days, x, t_x, T)
        value += (cumulative - previous) * spend / (1.0 + annual_discount_rate) ** (edge / 365.0)
        previous = cumulative
    return value


def predict_customer_value(
    model: CLVModel, summary: pd.DataFrame, *, horizon_days: float = 90.0, clv_days: float = 365.0,
    annual_discount_rate: float = 0.1,
) -> pd.DataFrame:
    """Per customer: expected orders and spend over `horizon_days`, P(alive), spend per order and
    discounted CLV over `clv_days`, indexed like `summary`."""
    require_columns(summary, SUMMARY_INPUT, "customer summary")
    x, t_x, T = summary["frequency"], summary["recency"], summary["T"]
    if summary.empty:
        return pd.DataFrame(
            columns=["expected_orders", "p_alive", "expected_order_value", "expected_spend", "predicted_clv"],
            index=summary.index, dtype=float,
        )
    orders = bgnbd.expected_purchases(model.purchases, horizon_days / model.time_unit_days, x, t_x, T)
    order_value = gamma_gamma.conditional_expected_spend(model.spend, x, summary["monetary_value"])
    return pd.DataFrame(
        {
            "expected_orders": orders,
            "p_alive": bgnbd.probability_alive(model.purchases, x, t_x, T),
            "expected_order_value": order_value,
            "expected_spend": orders * order_value,
            "predicted_clv": discounted_value(
                model, summary, horizon_days=clv_days, annual_discount_rate=annual_discount_rate
            ),
        },
        index=summary.index,
    )
