"""Point-in-time model inputs for one as-of date D: a weekly activity sequence and static features.

Everything here reads only rows strictly before D; a row on or after D changes no input (tested).
The model input is one wide frame per customer: `customer_id`, the static feature columns and
`seq_<channel>_l<lag>` columns (lag 00 = the week just before D). Wide and flat so that it fits an
MLflow signature and both model families (CNN and LightGBM) take exactly the same input.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ml.propensity.labels import (require_columns, select_purchase_lines, select_return_lines,
                                  to_timestamp)

CHANNELS = ("orders", "units", "spend", "products", "returns", "views", "carts")
WEEKS = 52
STATIC_FEATURES = (
    "recency_days", "frequency", "monetary", "avg_order_value", "tenure_days", "orders_90d",
    "spend_90d", "distinct_products", "return_rate", "avg_days_between_orders", "views_30d", "carts_30d",
)
EVENT_COLUMNS = ("customer_id", "event_type", "event_ts")


def _before(frame: pd.DataFrame, column: str, end: pd.Timestamp, days: int | None = None) -> pd.DataFrame:
    mask = frame[column] < end
    if days is not None:
        mask &= frame[column] >= end - pd.Timedelta(days=days)
    return frame[mask]


def _events_before(events: pd.DataFrame | None, end: pd.Timestamp, days: int | None = None) -> pd.DataFrame:
    """Events strictly before D; an empty frame when the shop has none (real exports)."""
    if events is None or events.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in EVENT_COLUMNS})
    require_columns(events, EVENT_COLUMNS, "events")
    events = events[events["customer_id"].notna()]
    return _before(events, "event_ts", end, days)


def sequence_columns(weeks: int = WEEKS, channels=CHANNELS) -> list[str]:
    return [f"seq_{c}_l{lag:02d}" for c in channels for lag in range(weeks)]


def build_weekly_sequences(order_lines: pd.DataFrame, as_of, customers, events: pd.DataFrame | None = None,
                           weeks: int = WEEKS) -> np.ndarray:
    """Raw weekly counts per customer, shape (n_customers, weeks, len(CHANNELS)), oldest week first.

    Week `weeks - 1` is [D - 7 days, D); views and carts stay zero when the shop has no events.
    """
    end = to_timestamp(as_of)
    index = pd.Index([str(c) for c in customers])
    out = np.zeros((len(index), weeks, len(CHANNELS)), dtype=np.float32)
    span = weeks * 7

    def add(frame: pd.DataFrame, ts_col: str, channel: str, values: pd.Series | None = None) -> None:
        if frame.empty:
            return
        rows = index.get_indexer(frame["customer_id"].astype(str))
        lag = ((end - frame[ts_col]).dt.days // 7).to_numpy()
        keep = (rows >= 0) & (lag >= 0) & (lag < weeks)
        vals = np.ones(len(frame)) if values is None else values.to_numpy(dtype=float)
        np.add.at(out, (rows[keep], weeks - 1 - lag[keep], CHANNELS.index(channel)), vals[keep])

    buys = _before(select_purchase_lines(order_lines), "invoice_ts", end, span)
    if not buys.empty:
        buys = buys.assign(week=(end - buys["invoice_ts"]).dt.days // 7, spend=buys["quantity"] * buys["unit_price"])
        weekly = buys.groupby(["customer_id", "week"], sort=False).agg(
            orders=("invoice_id", "nunique"), units=("quantity", "sum"), spend=("spend", "sum"),
            products=("product_id", "nunique"), invoice_ts=("invoice_ts", "max")).reset_index()
        for channel in ("orders", "units", "spend", "products"):
            add(weekly, "invoice_ts", channel, weekly[channel])
    returns = _before(select_return_lines(order_lines), "invoice_ts", end, span)
    add(returns, "invoice_ts", "returns", returns["quantity"].abs())
    events = _events_before(events, end, span)
    for kind in ("view", "cart"):
        add(events[events["event_type"] == kind], "event_ts", f"{kind}s")
    return out


def build_static_features(order_lines: pd.DataFrame, as_of, customers,
                          events: pd.DataFrame | None = None) -> pd.DataFrame:
    """RFM-style aggregates as of D, indexed by customer_id in the order of `customers`.

    Customers with no order before D get NaN recency/tenure and zero counts; the models see NaN
    (LightGBM natively, the CNN after imputation), so the frame never invents a purchase.
    """
    end = to_timestamp(as_of)
    index = pd.Index([str(c) for c in customers], name="customer_id")
    buys = _before(select_purchase_lines(order_lines), "invoice_ts", end)
    buys = buys.assign(customer_id=buys["customer_id"].astype(str), spend=buys["quantity"] * buys["unit_price"])
    per_order = buys.groupby(["customer_id", "invoice_id"], sort=False).agg(
        ts=("invoice_ts", "min"), spend=("spend", "sum")).reset_index()
    g = per_order.groupby("customer_id")
    first, last, frequency = g["ts"].min(), g["ts"].max(), g.size()
    recent = per_order[per_order["ts"] >= end - pd.Timedelta(days=90)].groupby("customer_id")
    returns = _before(select_return_lines(order_lines), "invoice_ts", end)
    returned_units = returns["quantity"].abs().groupby(returns["customer_id"].astype(str)).sum()
    bought_units = buys.groupby("customer_id")["quantity"].sum()
    recent_events = _events_before(events, end, 30)

    def event_count(kind: str) -> pd.Series:
        of_kind = recent_events[recent_events["event_type"] == kind]
        return of_kind.groupby(of_kind["customer_id"].astype(str)).size()

    feats = pd.DataFrame(index=index)
    feats["recency_days"] = ((end - last).dt.total_seconds() / 86400).reindex(index)
    feats["frequency"] = frequency.reindex(index).fillna(0)
    feats["monetary"] = g["spend"].sum().reindex(index).fillna(0.0)
    feats["avg_order_value"] = (feats["monetary"] / feats["frequency"]).where(feats["frequency"] > 0)
    feats["tenure_days"] = ((end - first).dt.total_seconds() / 86400).reindex(index)
    feats["orders_90d"] = recent.size().reindex(index).fillna(0)
    feats["spend_90d"] = recent["spend"].sum().reindex(index).fillna(0.0)
    feats["distinct_products"] = buys.groupby("customer_id")["product_id"].nunique().reindex(index).fillna(0)
    units = bought_units.reindex(index).fillna(0)
    feats["return_rate"] = (returned_units.reindex(index).fillna(0) / units).where(units > 0, 0.0)
    span = (last - first).dt.total_seconds() / 86400
    feats["avg_days_between_orders"] = (span / (frequency - 1)).where(frequency > 1).reindex(index)
    feats["views_30d"] = event_count("view").reindex(index).fillna(0)
    feats["carts_30d"] = event_count("cart").reindex(index).fillna(0)
    return feats.astype("float64")


def assemble_model_input(static: pd.DataFrame, sequences: np.ndarray) -> pd.DataFrame:
    """The wide per-customer frame both model families take: customer_id, static, seq_* columns."""
    if len(static) != len(sequences):
        raise ValueError(f"{len(static)} static rows but {len(sequences)} sequences")
    weeks = sequences.shape[1]
    # channel-major, newest week first (lag 00), matching sequence_columns()
    flat = sequences[:, ::-1, :].transpose(0, 2, 1).reshape(len(sequences), weeks * sequences.shape[2])
    seq = pd.DataFrame(flat.astype("float64"), columns=sequence_columns(weeks), index=static.index)
    frame = pd.concat([static, seq], axis=1).reset_index()
    frame["customer_id"] = frame["customer_id"].astype(str)
    return frame


def sequences_from_input(frame: pd.DataFrame, weeks: int = WEEKS) -> np.ndarray:
    """Inverse of the seq_* half of `assemble_model_input`: (n, weeks, channels), oldest week first."""
    columns = sequence_columns(weeks)
    require_columns(frame, columns, "model input")
    flat = frame[columns].to_numpy(dtype=np.float32)
    return flat.reshape(len(frame), len(CHANNELS), weeks).transpose(0, 2, 1)[:, ::-1, :].copy()


def build_model_input(order_lines: pd.DataFrame, as_of, customers, events: pd.DataFrame | None = None,
                      weeks: int = WEEKS) -> pd.DataFrame:
    """Static features and weekly sequence for `customers` at D, as one wide frame."""
    static = build_static_features(order_lines, as_of, customers, events)
    sequences = build_weekly_sequences(order_lines, as_of, customers, events, weeks)
    return assemble_model_input(static, sequences)
