"""The registered `customer_value` model: one predictor for every candidate, so scoring never cares which won.

Input: the customer features of `ml.families.customer_value.features` (one row per customer at a cutoff).
Output per customer: expected orders and spend over the horizon (90 days), P(alive) and the
discounted value over `clv_days` (365).

Candidates (`CANDIDATES`), each giving expected orders, spend and a value to rank by:

* "bgnbd": BG/NBD + Gamma-Gamma, the horizon scaled by the shop's seasonal indices (how busy the
  coming 90 days were last year, see `summary.seasonal_indices`) and its purchase days turned into
  orders by the customer's own invoices per purchase day;
* "gbm": LightGBM on the features plus the BG/NBD's own outputs (stacking: p_alive, expected
  orders and spend from the BG/NBD fitted at the same cutoff); its 365-day value keeps each
  customer's BG/NBD ratio of 365-day value to horizon spend (LightGBM learns one horizon, and a
  straight x4 would ignore churn);
* "blend": the mean of the two;
* the simple baselines an analyst computes, which can also serve alone (`BASELINES`): "rate"
  (historical_spend_rate: orders and spend per day of tenure), "last_window" (last_90d_repeat: the
  last horizon again) and "bgnbd_gg" (the plain BG/NBD + Gamma-Gamma, purchase days, no season).

`orders_from`, `spend_from` and `clv_from` say which candidate gives each output: train picks
each on the time-based holdout, so the order forecast may come from another candidate than the
spend. P(alive) is always the BG/NBD's (1.0 where the history cannot fit one).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.families.customer_value.clv import CLVModel, predict_customer_value
from ml.families.customer_value.gbm import GBMValueModel, predict_gbm_value
from ml.families.customer_value.summary import SEASON_COLUMNS, WINDOWS_DAYS
from ml.families.customer_value.timing import ORDER_WITHIN_DAYS, predict_timing
from ml.families.customer_value.uncertainty import scaled_interval, spend_interval
from ml.sql import require_columns

# When the next order comes (BG/NBD, `timing.py`) and the value's 80% interval (`uncertainty.py`).
TIMING_COLUMNS = ("days_to_next_order", *(f"p_order_{d}d" for d in ORDER_WITHIN_DAYS))
INTERVAL_COLUMNS = ("predicted_clv_low", "predicted_clv_high")
OUTPUT_COLUMNS = ["expected_orders", "expected_spend", "p_alive", "predicted_clv", *TIMING_COLUMNS, *INTERVAL_COLUMNS]
LEARNED = ("bgnbd", "gbm", "blend")
# baseline name (as the quality report and ops.model_promotions call it) -> candidate
BASELINES = {"historical_spend_rate": "rate", "last_90d_repeat": "last_window", "bgnbd_gg": "bgnbd_gg"}
CANDIDATES = (*LEARNED, *BASELINES.values())
STACK_COLUMNS = ("bg_p_alive", "bg_orders", "bg_spend")
NEEDS_CLV = ("bgnbd", "bgnbd_gg", "gbm", "blend")


def baseline_name(best: dict[str, str]) -> str:
    """The served baseline's name from the best baseline per output ({"spend": name, "orders": ..,
    "clv": ..}): that name alone when one baseline is best at all three, else the mix, spend first."""
    if len(set(best.values())) == 1:
        return best["spend"]
    return ",".join(f"{out}={best[out]}" for out in ("spend", "orders", "clv"))


def baseline_outputs(name: str) -> dict[str, str]:
    """The candidate behind each output of a served baseline named by `baseline_name`."""
    parts = dict(p.split("=", 1) for p in name.split(",")) if "=" in name else dict.fromkeys(("spend", "orders", "clv"), name)
    unknown = set(parts.values()) - set(BASELINES)
    if unknown or set(parts) != {"spend", "orders", "clv"}:
        raise ValueError(f"unknown customer_value baseline {name!r}; known: {sorted(BASELINES)} or a spend=,orders=,clv= mix")
    return {f"{out}_from": BASELINES[b] for out, b in parts.items()}


def to_summary(features: pd.DataFrame) -> pd.DataFrame:
    """The BG/NBD view (frequency, recency, T, monetary_value, in days) of a feature frame."""
    require_columns(features, ("frequency", "recency_days", "tenure_days", "monetary_value"), "customer features")
    return features.rename(columns={"recency_days": "recency", "tenure_days": "T"})


def stack_features(clv: CLVModel | None, features: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """`features` plus the BG/NBD outputs at the horizon, from `clv` (fitted on history before the
    features' cutoff: point in time); NaN columns where no BG/NBD could be fitted."""
    out = features.copy()
    if clv is None or features.empty:
        out[list(STACK_COLUMNS)] = np.nan
        return out
    fitted = predict_customer_value(clv, to_summary(features), horizon_days=horizon_days, clv_days=horizon_days)
    out["bg_p_alive"] = fitted["p_alive"].to_numpy()
    out["bg_orders"] = fitted["expected_orders"].to_numpy()
    out["bg_spend"] = fitted["expected_spend"].to_numpy()
    return out


def _orders_per_day(features: pd.DataFrame) -> np.ndarray:
    """Invoices per purchase day (1 where the frame has no invoice count)."""
    if "n_invoices" not in features.columns:
        return np.ones(len(features))
    days = features["n_transactions"].to_numpy(dtype=float)
    return np.where(days > 0, features["n_invoices"].to_numpy(dtype=float) / np.maximum(days, 1.0), 1.0)


def _window(horizon_days: int) -> int:
    """The trailing window nearest the horizon (the last-window baseline repeats it, scaled)."""
    return min(WINDOWS_DAYS, key=lambda d: (abs(d - horizon_days), d))


@dataclass
class ValuePredictor:
    """Plain-Python predictor (what `pyfunc.py` logs to MLflow; unit-testable without MLflow).

    `kind` is the lineage tag (`valueflow.kind`); the *_from fields default to `kind` when it is
    a single candidate."""

    kind: str
    clv: CLVModel | None
    gbm: GBMValueModel | None = None
    horizon_days: int = 90
    clv_days: int = 365
    annual_discount_rate: float = 0.10
    seasonal: bool = True  # scale BG/NBD's horizon forecast by last year's seasonal indices
    orders_from: str = ""
    spend_from: str = ""
    clv_from: str = ""
    interval_draws: int = 200  # simulated futures per customer behind predicted_clv_low/_high; 0: none
    seed: int = 0

    def __post_init__(self) -> None:
        for attr in ("orders_from", "spend_from", "clv_from"):
            if not getattr(self, attr):
                setattr(self, attr, self.kind)
        used = {self.orders_from, self.spend_from, self.clv_from}
        if not used <= set(CANDIDATES):
            raise ValueError(f"kind and candidates must be among {CANDIDATES}, got {sorted(used - set(CANDIDATES))}")
        if used & {"gbm", "blend"} and self.gbm is None:
            raise ValueError("a predictor using 'gbm' or 'blend' needs a LightGBM model")
        if used & {"bgnbd", "bgnbd_gg", "blend"} and self.clv is None:
            raise ValueError("a predictor using BG/NBD needs a fitted BG/NBD + Gamma-Gamma")

    @property
    def candidates(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.orders_from, self.spend_from, self.clv_from)))

    def _probabilistic(self, features: pd.DataFrame) -> pd.DataFrame:
        return predict_customer_value(self.clv, to_summary(features), horizon_days=self.horizon_days,
                                      clv_days=self.clv_days, annual_discount_rate=self.annual_discount_rate)

    def _decay(self, features: pd.DataFrame) -> np.ndarray:
        """Each customer's 365-day value per horizon spend (BG/NBD's), clv_days / horizon without one."""
        flat = self.clv_days / self.horizon_days
        if self.clv is None:
            return np.full(len(features), flat)
        fitted = self._probabilistic(features)
        spend = fitted["expected_spend"].to_numpy()
        return np.where(spend > 0, fitted["predicted_clv"].to_numpy() / np.where(spend > 0, spend, 1.0), flat)

    def candidate(self, name: str, features: pd.DataFrame) -> pd.DataFrame:
        """expected_orders, expected_spend, predicted_clv of one candidate, indexed like `features`."""
        h = self.horizon_days
        if name in ("bgnbd", "bgnbd_gg"):
            fitted = self._probabilistic(features)
            out = fitted[["expected_orders", "expected_spend", "predicted_clv"]].copy()
            if name == "bgnbd":
                if self.seasonal:  # only the horizon: a whole year of value spans every season once
                    require_columns(features, SEASON_COLUMNS, "customer features")
                    out["expected_orders"] *= features["season_orders_index"].to_numpy()
                    out["expected_spend"] *= features["season_spend_index"].to_numpy()
                out["expected_orders"] *= _orders_per_day(features)
            return out
        if name == "gbm":
            stacked = stack_features(self.clv, features, self.gbm.horizon_days)
            boosted = predict_gbm_value(self.gbm, stacked) * (h / self.gbm.horizon_days)
            return boosted.assign(predicted_clv=boosted["expected_spend"].to_numpy() * self._decay(features))
        if name == "blend":
            return (self.candidate("bgnbd", features) + self.candidate("gbm", features)) / 2.0
        if name == "rate":
            counted = "n_invoices" if "n_invoices" in features.columns else "n_transactions"
            span = np.maximum(features["tenure_days"].to_numpy(dtype=float), float(h))
            orders = features[counted].to_numpy(dtype=float) / span * h
            spend = features["total_value"].to_numpy(dtype=float) / span * h
        elif name == "last_window":
            w = _window(h)
            counted = f"invoices_{w}d" if f"invoices_{w}d" in features.columns else f"orders_{w}d"
            orders = features[counted].to_numpy(dtype=float) * h / w
            spend = features[f"spend_{w}d"].to_numpy(dtype=float) * h / w
        else:
            raise ValueError(f"unknown candidate {name!r}")
        # a baseline stays what an analyst computes: its value is the horizon spend, pro rata
        return pd.DataFrame({"expected_orders": orders, "expected_spend": spend,
                             "predicted_clv": spend * self.clv_days / h}, index=features.index)

    def interval(self, point: np.ndarray, features: pd.DataFrame, horizon_days: float) -> tuple[np.ndarray, np.ndarray]:
        """The 80% interval of spend over `horizon_days` around `point` (NaN without a BG/NBD, or
        with `interval_draws` = 0, which judging candidates on a holdout uses: it needs no interval)."""
        if self.clv is None or self.interval_draws <= 0:
            return np.full(len(features), np.nan), np.full(len(features), np.nan)
        simulated = spend_interval(self.clv, to_summary(features), horizon_days, draws=self.interval_draws,
                                   uncertainty=self.clv.uncertainty, seed=self.seed)
        return scaled_interval(point, simulated)

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        require_columns(features, ("n_transactions",), "customer features")
        parts = {name: self.candidate(name, features) for name in self.candidates}
        out = pd.DataFrame({
            "expected_orders": parts[self.orders_from]["expected_orders"].to_numpy(),
            "expected_spend": parts[self.spend_from]["expected_spend"].to_numpy(),
            "p_alive": (self._probabilistic(features)["p_alive"].to_numpy() if self.clv is not None
                        else np.ones(len(features))),
            "predicted_clv": parts[self.clv_from]["predicted_clv"].to_numpy(),
        }, index=features.index)
        if self.clv is not None:
            timing = predict_timing(self.clv.purchases, to_summary(features), time_unit_days=self.clv.time_unit_days)
            out[list(TIMING_COLUMNS)] = timing[list(TIMING_COLUMNS)].to_numpy()
        else:
            out[list(TIMING_COLUMNS)] = np.nan
        low, high = self.interval(out["predicted_clv"].to_numpy(), features, self.clv_days)
        out["predicted_clv_low"], out["predicted_clv_high"] = low, high
        # Customers whose history is only returns or cancellations have no purchase to model.
        nothing = features["n_transactions"].to_numpy() <= 0
        out.loc[nothing, :] = 0.0
        out.loc[nothing, "days_to_next_order"] = np.nan
        return out[OUTPUT_COLUMNS].astype(float)
