"""From order lines to the per-customer summaries the value models read.

A *transaction* is a customer-day with positive net value: several invoices on one day count as one
purchase occasion (the unit BG/NBD models), and a same-day cancellation nets out of that day. Returns
on later days are left out of transactions (the models predict purchases) but count in
`historical_value`, which is what the customer actually left with the shop.

Time follows Fader & Hardie's CDNOW convention: with an observation window ending the day before
`end`, a customer whose first purchase was that last day has T = 0.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ml.families.customer_value.config import DEFAULTS
from ml.sql import require_columns

ORDER_LINE_COLUMNS = ("customer_id", "quantity", "unit_price", "invoice_ts")
TRANSACTION_COLUMNS = ("customer_id", "day", "value")
SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value", "n_transactions", "total_value")
WINDOWS_DAYS = (30, 90, 180, 365)
SEASON_COLUMNS = ("season_orders_index", "season_spend_index")


def _as_timestamp(day: dt.date | pd.Timestamp | str) -> pd.Timestamp:
    return pd.Timestamp(day).normalize()


def build_transactions(order_lines: pd.DataFrame) -> pd.DataFrame:
    """One row per customer-day with positive net value: customer_id, day (Timestamp), value."""
    require_columns(order_lines, ORDER_LINE_COLUMNS, "order lines")
    lines = order_lines.loc[order_lines["customer_id"].notna(), list(ORDER_LINE_COLUMNS)]
    value = lines["quantity"].astype(float) * lines["unit_price"].astype(float)
    daily = (
        pd.DataFrame({
            "customer_id": lines["customer_id"].astype(str),
            "day": pd.to_datetime(lines["invoice_ts"]).dt.normalize(),
            "value": value,
        })
        .groupby(["customer_id", "day"], as_index=False)["value"].sum()
    )
    return daily.loc[daily["value"] > 0].reset_index(drop=True)


def summarize_customers(
    transactions: pd.DataFrame, end: dt.date | pd.Timestamp | str, *, time_unit_days: float = 1.0
) -> pd.DataFrame:
    """RFM summary of transactions strictly before `end`, indexed by customer_id.

    frequency = repeat transactions, recency = first to last transaction, T = first transaction to
    the last observed day (end - 1 day), monetary_value = mean value of the *repeat* transactions (0
    for one-time buyers, as Gamma-Gamma requires), all times in units of `time_unit_days`.
    """
    require_columns(transactions, TRANSACTION_COLUMNS, "transactions")
    end_ts = _as_timestamp(end)
    tx = transactions.loc[transactions["day"] < end_ts].sort_values(["customer_id", "day"])
    if tx.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS), index=pd.Index([], name="customer_id"), dtype=float)
    grouped = tx.groupby("customer_id", sort=True)
    first_day, last_day = grouped["day"].min(), grouped["day"].max()
    n = grouped.size()
    total = grouped["value"].sum()
    first_value = grouped["value"].first()
    frequency = (n - 1).astype(float)
    last_observed = end_ts - pd.Timedelta(days=1)
    summary = pd.DataFrame({
        "frequency": frequency,
        "recency": (last_day - first_day).dt.days / time_unit_days,
        "T": (last_observed - first_day).dt.days / time_unit_days,
        "monetary_value": np.where(frequency > 0, (total - first_value) / frequency.where(frequency > 0, 1.0), 0.0),
        "n_transactions": n.astype(float),
        "total_value": total,
    })
    summary.index.name = "customer_id"
    return summary


def summarize_window(
    transactions: pd.DataFrame, start: dt.date | pd.Timestamp | str, end: dt.date | pd.Timestamp | str
) -> pd.DataFrame:
    """Orders and spend per customer in [start, end): the holdout actuals. Customers absent have none."""
    require_columns(transactions, TRANSACTION_COLUMNS, "transactions")
    start_ts, end_ts = _as_timestamp(start), _as_timestamp(end)
    if end_ts <= start_ts:
        raise ValueError(f"empty window: start {start_ts.date()} is not before end {end_ts.date()}")
    tx = transactions.loc[(transactions["day"] >= start_ts) & (transactions["day"] < end_ts)]
    out = tx.groupby("customer_id").agg(orders=("value", "size"), spend=("value", "sum"))
    out["orders"] = out["orders"].astype(float)
    return out


def seasonal_indices(
    transactions: pd.DataFrame, end: dt.date | pd.Timestamp | str, *, horizon_days: int = 90,
    bounds: tuple[float, float] = DEFAULTS.season_index_bounds,
) -> dict[str, float]:
    """How busy the `horizon_days` after `end` were one year earlier, relative to that year's average
    (orders and spend, all customers): 1.3 means the coming season sold 30 % above the yearly pace,
    clipped to `bounds`.

    BG/NBD assumes a steady purchase rate, so a shop with a strong Christmas is under-forecast every
    autumn; scaling the horizon forecast by last year's index corrects that. 1.0 without a full
    year of history before `end`.
    """
    require_columns(transactions, TRANSACTION_COLUMNS, "transactions")
    end_ts = _as_timestamp(end)
    year_start = end_ts - pd.Timedelta(days=365)
    before = transactions.loc[transactions["day"] < end_ts]
    year = before.loc[before["day"] >= year_start]
    if before.empty or before["day"].min() > year_start or year.empty:
        return dict.fromkeys(SEASON_COLUMNS, 1.0)
    window = year.loc[year["day"] < year_start + pd.Timedelta(days=horizon_days)]
    share = horizon_days / 365.0
    low, high = bounds
    return {
        "season_orders_index": float(np.clip(len(window) / (len(year) * share), low, high)),
        "season_spend_index": float(np.clip(window["value"].sum() / (year["value"].sum() * share), low, high)),
    }


def build_customer_features(
    transactions: pd.DataFrame, end: dt.date | pd.Timestamp | str, *, horizon_days: int = 90,
    season_bounds: tuple[float, float] = DEFAULTS.season_index_bounds,
) -> pd.DataFrame:
    """Features for the value models, in days, for customers with a transaction before `end`.

    The RFM summary plus orders and spend in trailing windows, so the model can see a slowing
    customer, and the shop-wide seasonal indices for the `horizon_days` ahead (same on every row).
    """
    summary = summarize_customers(transactions, end)
    if summary.empty:
        return summary
    end_ts = _as_timestamp(end)
    features = summary.rename(columns={"recency": "recency_days", "T": "tenure_days"}).copy()
    features["days_since_last"] = features["tenure_days"] - features["recency_days"]
    features["avg_order_value"] = features["total_value"] / features["n_transactions"]
    for days in WINDOWS_DAYS:
        window = summarize_window(transactions, end_ts - pd.Timedelta(days=days), end_ts)
        window = window.reindex(features.index, fill_value=0.0)
        features[f"orders_{days}d"] = window["orders"].astype(float)
        features[f"spend_{days}d"] = window["spend"].astype(float)
    for column, value in seasonal_indices(transactions, end_ts, horizon_days=horizon_days, bounds=season_bounds).items():
        features[column] = value
    return features.astype(float)
