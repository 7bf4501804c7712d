"""SQL for scoring: who gets recommendations, and what is popular for the fallback.

Plain ANSI read alike by DuckDB and PostgreSQL; everything strictly before the as-of date.
"""
from __future__ import annotations

import datetime as dt

from ml.families.recommender.interactions import MERCHANDISE, date_literal

_BOUGHT = "quantity > 0 AND NOT COALESCE(is_return, FALSE)"


def active_customers_sql(as_of: dt.date, active_days: int) -> str:
    """SELECT customer_id of every customer with a purchase in the `active_days` before `as_of`."""
    start = as_of - dt.timedelta(days=active_days)
    return f"""
    SELECT DISTINCT customer_id
    FROM raw.order_lines
    WHERE customer_id IS NOT NULL AND {_BOUGHT} AND {MERCHANDISE}
      AND invoice_ts >= CAST({date_literal(start)} AS TIMESTAMP) AND invoice_ts < CAST({date_literal(as_of)} AS TIMESTAMP)
    ORDER BY customer_id
    """


def popularity_sql(as_of: dt.date, recent_days: int, active_products_sql: str) -> str:
    """SELECT product_id, buyers: distinct customers per active product in the last `recent_days`."""
    start = as_of - dt.timedelta(days=recent_days)
    return f"""
    SELECT product_id, COUNT(DISTINCT customer_id) AS buyers
    FROM raw.order_lines
    WHERE customer_id IS NOT NULL AND {_BOUGHT}
      AND invoice_ts >= CAST({date_literal(start)} AS TIMESTAMP) AND invoice_ts < CAST({date_literal(as_of)} AS TIMESTAMP)
      AND product_id IN ({active_products_sql})
    GROUP BY product_id
    """


def segment_popularity_sql(
    as_of: dt.date, recent_days: int, active_products_sql: str, segments_table: str, segment_column: str
) -> str:
    """SELECT segment, product_id, buyers: like `popularity_sql`, per segment of the as-of date."""
    start = as_of - dt.timedelta(days=recent_days)
    return f"""
    SELECT CAST(s.{segment_column} AS TEXT) AS segment, o.product_id, COUNT(DISTINCT o.customer_id) AS buyers
    FROM raw.order_lines o
    JOIN {segments_table} s ON s.customer_id = o.customer_id AND s.as_of_date = {date_literal(as_of)}
    WHERE o.customer_id IS NOT NULL AND o.quantity > 0 AND NOT COALESCE(o.is_return, FALSE)
      AND o.invoice_ts >= CAST({date_literal(start)} AS TIMESTAMP) AND o.invoice_ts < CAST({date_literal(as_of)} AS TIMESTAMP)
      AND o.product_id IN ({active_products_sql})
    GROUP BY s.{segment_column}, o.product_id
    """
