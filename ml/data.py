"""Read raw tables as DataFrames, always strictly before an as-of date (point in time)."""
from __future__ import annotations

import datetime as dt

import pandas as pd

from ml import catalog
from ml.sql import sql_literal
from ml.warehouse import Warehouse

# Stock codes in real exports that are fees, postage or manual adjustments, not merchandise.
NON_MERCHANDISE_CODES = ("POST", "DOT", "M", "D", "C2", "CRUK", "BANK CHARGES", "AMAZONFEE", "PADS", "B", "S",
                         "ADJUST", "ADJUST2", "TEST001", "TEST002", "GIFT")


def merchandise_predicate(column: str = "product_id") -> str:
    codes = ", ".join(sql_literal(c) for c in NON_MERCHANDISE_CODES)
    return f"UPPER({column}) NOT IN ({codes})"


def read_order_lines(wh: Warehouse, before: dt.date, customers_only: bool = False,
                     since: dt.date | None = None) -> pd.DataFrame:
    """Order lines with invoice_ts < before (and >= since), merchandise only."""
    where = [f"invoice_ts < {sql_literal(before)}", merchandise_predicate()]
    if since is not None:
        where.append(f"invoice_ts >= {sql_literal(since)}")
    if customers_only:
        where.append("customer_id IS NOT NULL")
    return wh.query(
        "SELECT invoice_id, line_no, product_id, description, quantity, unit_price, invoice_ts, customer_id, "
        f"country, is_return FROM raw.order_lines WHERE {' AND '.join(where)} ORDER BY invoice_ts, invoice_id, line_no"
    )


def read_products(wh: Warehouse) -> pd.DataFrame:
    return wh.query(f"SELECT product_id, description, category, unit_price FROM raw.products "
                    f"WHERE {merchandise_predicate()} ORDER BY product_id")


def read_events(wh: Warehouse, before: dt.date) -> pd.DataFrame | None:
    """Browse/cart events before the as-of date, or None when the shop has none."""
    if not wh.table_exists(catalog.RAW_EVENTS):
        return None
    return wh.query("SELECT customer_id, product_id, event_type, event_ts FROM raw.events "
                    f"WHERE event_ts < {sql_literal(before)} ORDER BY event_ts")


def has_events(wh: Warehouse) -> bool:
    return wh.table_exists(catalog.RAW_EVENTS) and wh.row_count(catalog.RAW_EVENTS) > 0
