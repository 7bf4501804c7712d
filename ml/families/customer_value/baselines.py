"""The simple forecasts an analyst would compute from the history before D, to hold the marts against.

`ml/families/{customer_value,propensity}/outcomes.py` score their marts beside these on what
happened after D. Every one reads only order lines strictly before D (as the models did); the
functions filter again, so a caller that hands them later lines still never feeds them:

* `history_by_customer`: orders (distinct non-return invoices), net spend (returns subtract),
  days since the last and the first order, orders and spend in the `recent_days` before D;
* `rate_forecast`: each customer repeats their historical rate per day of tenure (the family's
  naive baseline, `evaluate.predict_naive_baseline`: tenure floored at one horizon);
* `bgnbd_forecast`: the family's own BG/NBD + Gamma-Gamma (`clv.fit_clv_model`, in days, with the
  configured `penalizer`, as `train.py` fits it) on that history: P(alive) at D, expected
  transactions (customer-days, the BG/NBD unit) and expected spend over each horizon;
* `uncovered_note`: what both families' outcomes say of a window the export does not reach.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd

from ml.families.customer_value.clv import fit_clv_model, predict_customer_value
from ml.families.customer_value.config import load
from ml.families.customer_value.evaluate import predict_naive_baseline
from ml.families.customer_value.summary import build_transactions, summarize_customers
from ml.outcomes import data_end, window_end
from ml.warehouse import Warehouse

HISTORY_COLUMNS = ("orders", "spend", "recency_days", "tenure_days", "orders_recent", "spend_recent")


def uncovered_note(truth: Warehouse, as_of: dt.date, horizon_days: int) -> str:
    """Why [D, D + horizon) is not measured: the export ends before it does."""
    end = data_end(truth)
    if end is None:
        return "the export holds no order lines"
    return (f"the export ends on {end - dt.timedelta(days=1)}, before D + {horizon_days} "
            f"({window_end(as_of, horizon_days)}): not measured")


def _before(lines: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    lines = lines.loc[lines["customer_id"].notna()]
    return lines.loc[pd.to_datetime(lines["invoice_ts"]) < pd.Timestamp(as_of)]


def history_by_customer(lines: pd.DataFrame, as_of: dt.date, recent_days: int = 90) -> pd.DataFrame:
    """Per customer with a line before D, indexed by customer_id (str): see HISTORY_COLUMNS.

    recency_days and tenure_days count calendar days from the last / first order to D (as
    `features.user_features` does); NaN for a customer whose lines are all returns.
    """
    lines = _before(lines, as_of)
    end = pd.Timestamp(as_of)
    ts = pd.to_datetime(lines["invoice_ts"])
    frame = pd.DataFrame({
        "customer_id": lines["customer_id"].astype(str).to_numpy(), "invoice_id": lines["invoice_id"].to_numpy(),
        "day": ts.dt.normalize().to_numpy(), "recent": (ts >= end - pd.Timedelta(days=recent_days)).to_numpy(),
        "value": (lines["quantity"].astype(float) * lines["unit_price"].astype(float)).to_numpy(),
        "bought": (~lines["is_return"].astype(bool)).to_numpy(),
    })
    bought = frame.loc[frame["bought"]].groupby("customer_id")
    recent = frame.loc[frame["recent"]]
    out = pd.DataFrame({
        "orders": bought["invoice_id"].nunique(),
        "spend": frame.groupby("customer_id")["value"].sum(),
        "recency_days": (end - bought["day"].max()).dt.days,
        "tenure_days": (end - bought["day"].min()).dt.days,
        "orders_recent": recent.loc[recent["bought"]].groupby("customer_id")["invoice_id"].nunique(),
        "spend_recent": recent.groupby("customer_id")["value"].sum(),
    }, index=pd.Index(sorted(frame["customer_id"].unique()), name="customer_id"))
    fill = ["orders", "spend", "orders_recent", "spend_recent"]
    out[fill] = out[fill].fillna(0.0)
    return out[list(HISTORY_COLUMNS)].astype(float)


def rate_forecast(history: pd.DataFrame, horizon_days: float) -> pd.DataFrame:
    """expected_orders and expected_spend over the horizon at each customer's historical rate."""
    summary = pd.DataFrame({"T": history["tenure_days"].fillna(0.0), "n_transactions": history["orders"],
                            "total_value": history["spend"]}, index=history.index)
    return predict_naive_baseline(summary, horizon_days=horizon_days)


def bgnbd_forecast(lines: pd.DataFrame, as_of: dt.date, horizons_days: Iterable[int],
                   penalizer: float | None = None) -> pd.DataFrame | None:
    """BG/NBD + Gamma-Gamma fitted on the lines before D, indexed by customer_id: p_alive and, per
    horizon h, expected_orders_{h}d and expected_spend_{h}d (expected orders x GG spend per order,
    undiscounted). Only customers with a purchase are rows; None when the history cannot be fitted
    (no repeat purchase, fewer than two repeat buyers, no convergence)."""
    summary = summarize_customers(build_transactions(_before(lines, as_of)), as_of)
    try:
        model = fit_clv_model(summary, penalizer=load().penalizer if penalizer is None else penalizer)
    except (ValueError, RuntimeError):
        return None
    out = pd.DataFrame(index=summary.index)
    for h in horizons_days:
        predicted = predict_customer_value(model, summary, horizon_days=h, clv_days=h)
        out["p_alive"] = predicted["p_alive"]
        out[f"expected_orders_{h}d"] = predicted["expected_orders"]
        out[f"expected_spend_{h}d"] = predicted["expected_spend"]
    return out.astype(float)
