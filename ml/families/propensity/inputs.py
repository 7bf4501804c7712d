"""Point-in-time model inputs for one as-of date D: a weekly activity sequence and static features.

Everything here reads only rows strictly before D; a row on or after D changes no input (tested).
The model input is one wide frame per customer: `customer_id`, the static feature columns and
`seq_<channel>_l<lag>` columns (lag 00 = the week just before D). Wide and flat so that it fits an
MLflow signature and both model families (CNN and LightGBM) take exactly the same input.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ml.families.propensity.config import DEFAULTS
from ml.families.propensity.labels import select_purchase_lines, select_return_lines, to_timestamp
from ml.features import CART_CONVERSION_DAYS
from ml.sql import require_columns

CHANNELS = ("orders", "units", "spend", "products", "returns", "views", "carts")
# the numeric columns of features.user_features, then what this family adds
USER_FEATURES = ("recency_days", "frequency", "monetary", "tenure_days", "avg_order_value", "distinct_products",
                 "distinct_categories", "return_rate", "orders_90d", "spend_90d", "views", "carts",
                 "cart_to_purchase")
EXTRA_FEATURES = ("avg_days_between_orders", "views_30d", "carts_30d")
STATIC_FEATURES = USER_FEATURES + EXTRA_FEATURES
EVENT_COLUMNS = ("customer_id", "product_id", "event_type", "event_ts")


def _before(frame: pd.DataFrame, column: str, end: pd.Timestamp, days: int | None = None) -> pd.DataFrame:
    mask = frame[column] < end
    if days is not None:
        mask &= frame[column] >= end - pd.Timedelta(days=days)
    return frame[mask]


def _events_before(events: pd.DataFrame | None, end: pd.Timestamp, days: int | None = None) -> pd.DataFrame:
    """Events strictly before D; an empty frame when the shop has none (real exports)."""
    if events is None or events.empty:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[us]" if c == "event_ts" else "object")
                             for c in EVENT_COLUMNS})
    require_columns(events, EVENT_COLUMNS, "events")
    events = events[events["customer_id"].notna()]
    return _before(events, "event_ts", end, days)


def sequence_columns(weeks: int = DEFAULTS.weeks, channels=CHANNELS) -> list[str]:
    return [f"seq_{c}_l{lag:02d}" for c in channels for lag in range(weeks)]


def build_weekly_sequences(order_lines: pd.DataFrame, as_of, customers, events: pd.DataFrame | None = None,
                           weeks: int = DEFAULTS.weeks) -> np.ndarray:
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


def build_static_features(order_lines: pd.DataFrame, as_of, customers, events: pd.DataFrame | None = None,
                          products: pd.DataFrame | None = None) -> pd.DataFrame:
    """Static features as of D, indexed by customer_id in the order of `customers`.

    The first columns are those of `features.user_features` with the same definitions (monetary net
    of returns, recency and tenure in calendar days, return rate by value, cart-to-purchase within
    7 days), so the warehouse SQL (`ml.features.user_features_sql` at each origin) and this pandas
    reference agree (tested); `EXTRA_FEATURES` add the order rhythm and last-30-day browsing.
    Customers with no purchase before D get NaN recency/tenure and zero counts.
    """
    end = to_timestamp(as_of)
    day = end.normalize()
    index = pd.Index([str(c) for c in customers], name="customer_id")
    buys = _before(select_purchase_lines(order_lines), "invoice_ts", end)
    buys = buys.assign(customer_id=buys["customer_id"].astype(str), amount=buys["quantity"] * buys["unit_price"])
    returns = _before(select_return_lines(order_lines), "invoice_ts", end)
    returned = (-(returns["quantity"] * returns["unit_price"])).groupby(returns["customer_id"].astype(str)).sum()
    g = buys.groupby("customer_id")
    first, last = g["invoice_ts"].min(), g["invoice_ts"].max()
    frequency, gross = g["invoice_id"].nunique(), g["amount"].sum()
    recent = buys[buys["invoice_ts"] >= end - pd.Timedelta(days=90)].groupby("customer_id")

    def reindex(series: pd.Series, fill=None) -> pd.Series:
        series = series.reindex(index)
        return series if fill is None else series.fillna(fill)

    feats = pd.DataFrame(index=index)
    feats["recency_days"] = reindex((day - last.dt.normalize()).dt.days)
    feats["frequency"] = reindex(frequency, 0)
    feats["monetary"] = reindex(gross - returned.reindex(gross.index).fillna(0.0), 0.0)
    feats["tenure_days"] = reindex((day - first.dt.normalize()).dt.days)
    feats["avg_order_value"] = reindex(gross / frequency)
    feats["distinct_products"] = reindex(g["product_id"].nunique(), 0)
    feats["distinct_categories"] = reindex(_distinct_categories(buys, products), 0)
    feats["return_rate"] = reindex((returned.reindex(gross.index).fillna(0.0) / gross).where(gross > 0, 0.0), 0.0)
    feats["orders_90d"] = reindex(recent["invoice_id"].nunique(), 0)
    feats["spend_90d"] = reindex(recent["amount"].sum(), 0.0)
    feats["views"], feats["carts"], feats["cart_to_purchase"] = _browsing(buys, events, end, index)
    span = (last - first).dt.total_seconds() / 86400
    feats["avg_days_between_orders"] = reindex((span / (frequency - 1)).where(frequency > 1))
    recent_events = _events_before(events, end, 30)
    for kind in ("view", "cart"):
        of_kind = recent_events[recent_events["event_type"] == kind]
        feats[f"{kind}s_30d"] = reindex(of_kind.groupby(of_kind["customer_id"].astype(str)).size(), 0)
    return feats[list(STATIC_FEATURES)].astype("float64")


def _distinct_categories(buys: pd.DataFrame, products: pd.DataFrame | None) -> pd.Series:
    """Distinct known categories bought; empty (read as 0) when the catalogue has none."""
    if products is None or "category" not in products.columns or buys.empty:
        return pd.Series(dtype=float)
    categories = buys[["customer_id", "product_id"]].merge(products[["product_id", "category"]], on="product_id")
    return categories.groupby("customer_id")["category"].nunique()


def _browsing(buys: pd.DataFrame, events: pd.DataFrame | None, end: pd.Timestamp, index: pd.Index):
    """(views, carts, cart_to_purchase) over all history before D; the last is NaN without carts."""
    events = _events_before(events, end)
    events = events.assign(customer_id=events["customer_id"].astype(str))
    counts = events.groupby(["customer_id", "event_type"]).size().unstack(fill_value=0)
    views = counts["view"] if "view" in counts else pd.Series(dtype=float)
    carts = counts["cart"] if "cart" in counts else pd.Series(dtype=float)
    cart_events = events[events["event_type"] == "cart"][["customer_id", "product_id", "event_ts"]].drop_duplicates()
    matched = cart_events.merge(buys[["customer_id", "product_id", "invoice_ts"]], on=["customer_id", "product_id"])
    matched = matched[(matched["invoice_ts"] >= matched["event_ts"])
                      & (matched["invoice_ts"] < matched["event_ts"] + pd.Timedelta(days=CART_CONVERSION_DAYS))]
    converted = matched.drop_duplicates(["customer_id", "product_id", "event_ts"]).groupby("customer_id").size()
    carts = carts.reindex(index).fillna(0)
    rate = (converted.reindex(index).fillna(0) / carts).where(carts > 0)
    return views.reindex(index).fillna(0), carts, rate


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


def sequences_from_input(frame: pd.DataFrame, weeks: int = DEFAULTS.weeks) -> np.ndarray:
    """Inverse of the seq_* half of `assemble_model_input`: (n, weeks, channels), oldest week first."""
    columns = sequence_columns(weeks)
    require_columns(frame, columns, "model input")
    flat = frame[columns].to_numpy(dtype=np.float32)
    return flat.reshape(len(frame), len(CHANNELS), weeks).transpose(0, 2, 1)[:, ::-1, :].copy()


def build_model_input(order_lines: pd.DataFrame, as_of, customers, events: pd.DataFrame | None = None,
                      weeks: int = DEFAULTS.weeks, products: pd.DataFrame | None = None) -> pd.DataFrame:
    """Static features and weekly sequence for `customers` at D, as one wide frame."""
    static = build_static_features(order_lines, as_of, customers, events, products)
    sequences = build_weekly_sequences(order_lines, as_of, customers, events, weeks)
    return assemble_model_input(static, sequences)
