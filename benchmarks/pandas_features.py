"""`features.user_features` the way a notebook would compute it: read the raw tables into pandas and
group by customer. The benchmark times it against the warehouse SQL (`ml.features.build_user_features`);
`tests/bench` checks on a small shop that both give the same numbers, so the comparison is honest.

The rules are the SQL's, line for line: history strictly before the as-of date, merchandise only,
purchases are lines that are not returns, a cart converts when the customer buys the same product
within 7 days after it (counted once per cart timestamp and product).
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ml.data import NON_MERCHANDISE_CODES, has_events
from ml.features import ACTIVE_DAYS, CART_CONVERSION_DAYS, RECENT_DAYS, USER_FEATURE_COLUMNS
from ml.sql import sql_literal
from ml.warehouse import Warehouse


def read_raw_tables(wh: Warehouse, as_of: dt.date) -> dict[str, pd.DataFrame | None]:
    """The raw rows the features need, as a notebook would pull them (only the date filter pushed down)."""
    d = sql_literal(as_of)
    lines = wh.query("SELECT customer_id, invoice_id, product_id, quantity, unit_price, invoice_ts, is_return "
                     f"FROM raw.order_lines WHERE invoice_ts < {d}")
    products = wh.query("SELECT product_id, category FROM raw.products")
    events = None
    if has_events(wh):
        events = wh.query(f"SELECT customer_id, product_id, event_type, event_ts FROM raw.events WHERE event_ts < {d}")
    return {"order_lines": lines, "products": products, "events": events}


def compute_user_features(order_lines: pd.DataFrame, products: pd.DataFrame, events: pd.DataFrame | None,
                          as_of: dt.date) -> pd.DataFrame:
    """One row per customer with a purchase before `as_of`, columns as `features.USER_FEATURE_COLUMNS`."""
    day = pd.Timestamp(as_of)
    lines = order_lines[order_lines["customer_id"].notna() & (order_lines["invoice_ts"] < day)
                        & ~order_lines["product_id"].str.upper().isin(NON_MERCHANDISE_CODES)]
    lines = lines.assign(amount=lines["quantity"].astype("float64") * lines["unit_price"])
    is_return = lines["is_return"].astype(bool)
    purchases = lines[~is_return]
    by_customer = purchases.groupby("customer_id", sort=True)
    base = pd.DataFrame({
        "frequency": by_customer["invoice_id"].nunique(),
        "first_ts": by_customer["invoice_ts"].min(),
        "last_ts": by_customer["invoice_ts"].max(),
        "gross_spend": by_customer["amount"].sum(),
        "distinct_products": by_customer["product_id"].nunique(),
    })
    returned = (-lines.loc[is_return, "amount"]).groupby(lines.loc[is_return, "customer_id"]).sum()
    returned = returned.reindex(base.index).fillna(0.0)
    categorised = purchases[["customer_id", "product_id"]].merge(products[["product_id", "category"]],
                                                                 on="product_id", how="left")
    categories = categorised.groupby("customer_id")["category"].nunique().reindex(base.index).fillna(0)
    recent = purchases[purchases["invoice_ts"] >= day - pd.Timedelta(days=RECENT_DAYS)].groupby("customer_id")
    out = pd.DataFrame(index=base.index)
    out["as_of_date"] = day
    out["recency_days"] = (day - base["last_ts"].dt.normalize()).dt.days.astype("int64")
    out["frequency"] = base["frequency"].astype("int64")
    out["monetary"] = base["gross_spend"] - returned
    out["tenure_days"] = (day - base["first_ts"].dt.normalize()).dt.days.astype("int64")
    out["avg_order_value"] = base["gross_spend"] / base["frequency"]
    out["distinct_products"] = base["distinct_products"].astype("int64")
    out["distinct_categories"] = categories.astype("int64")
    out["return_rate"] = np.where(base["gross_spend"] > 0, returned / base["gross_spend"].where(base["gross_spend"] > 0), 0.0)
    out["orders_90d"] = recent["invoice_id"].nunique().reindex(base.index).fillna(0).astype("int64")
    out["spend_90d"] = recent["amount"].sum().reindex(base.index).fillna(0.0)
    views, carts, conversion = _event_features(events, purchases, day, base.index)
    out["views"], out["carts"], out["cart_to_purchase"] = views, carts, conversion
    out["is_active"] = base["last_ts"] >= day - pd.Timedelta(days=ACTIVE_DAYS)
    out = out.reset_index()
    return out[list(USER_FEATURE_COLUMNS)]


def _event_features(events, purchases, day, customers) -> tuple[pd.Series, pd.Series, pd.Series]:
    if events is None:
        zero = pd.Series(0, index=customers, dtype="int64")
        return zero, zero, pd.Series(np.nan, index=customers)
    ev = events[events["customer_id"].notna() & (events["event_ts"] < day)]
    kind = ev["event_type"]
    views = (kind == "view").groupby(ev["customer_id"]).sum().reindex(customers).fillna(0).astype("int64")
    carts = (kind == "cart").groupby(ev["customer_id"]).sum().reindex(customers).fillna(0).astype("int64")
    # A cart converts if the first purchase of that product at or after it falls within the window.
    cart = ev.loc[kind == "cart", ["customer_id", "product_id", "event_ts"]].sort_values("event_ts")
    bought = purchases[["customer_id", "product_id", "invoice_ts"]].sort_values("invoice_ts")
    matched = pd.merge_asof(cart, bought, left_on="event_ts", right_on="invoice_ts",
                            by=["customer_id", "product_id"], direction="forward")
    converted = matched[matched["invoice_ts"] < matched["event_ts"] + pd.Timedelta(days=CART_CONVERSION_DAYS)]
    converted = converted.drop_duplicates(["customer_id", "event_ts", "product_id"]).groupby("customer_id").size()
    converted = converted.reindex(customers).fillna(0)
    conversion = (converted / carts.where(carts > 0)).astype("float64")
    return views, carts, conversion


def build_user_features_pandas(wh: Warehouse, as_of: dt.date) -> pd.DataFrame:
    """Read the raw tables and compute the features in pandas (nothing is written)."""
    raw = read_raw_tables(wh, as_of)
    return compute_user_features(raw["order_lines"], raw["products"], raw["events"], as_of)
