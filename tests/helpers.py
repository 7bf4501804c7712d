"""Small hand-made shops for tests: order lines in the warehouse layout."""
from __future__ import annotations

import pandas as pd


def order_lines(rows: list[tuple]) -> pd.DataFrame:
    """rows: (invoice_id, product_id, quantity, unit_price, timestamp, customer_id)."""
    frame = pd.DataFrame(rows, columns=["invoice_id", "product_id", "quantity", "unit_price", "invoice_ts", "customer_id"])
    frame["invoice_ts"] = pd.to_datetime(frame["invoice_ts"]).astype("datetime64[us]")
    frame["line_no"] = frame.groupby("invoice_id").cumcount() + 1
    frame["description"] = "item " + frame["product_id"]
    frame["country"] = "United Kingdom"
    frame["is_return"] = (frame["quantity"] < 0) | frame["invoice_id"].str.startswith("C")
    frame["customer_id"] = frame["customer_id"].astype("string")
    return frame


def products(ids_and_categories: dict[str, str | None]) -> pd.DataFrame:
    return pd.DataFrame({"product_id": list(ids_and_categories), "description": "x",
                         "category": pd.array(list(ids_and_categories.values()), dtype="string"),
                         "unit_price": 1.0})


def load(wh, lines: pd.DataFrame, catalogue: pd.DataFrame | None = None, events: pd.DataFrame | None = None) -> None:
    wh.replace_table("raw.order_lines", lines)
    wh.replace_table("raw.products", catalogue if catalogue is not None else products(
        dict.fromkeys(lines["product_id"].unique())))
    if events is not None:
        wh.replace_table("raw.events", events)
