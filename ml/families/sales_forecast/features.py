"""The family's feature table, features.product_weekly_sales: one row per product x Monday week x as_of_date.

The weekly aggregation runs in the warehouse (the same SQL in DuckDB and PostgreSQL), dense from a
product's first sale week to the week before the forecast origin; `read_matrix` hands a partition
to pandas as the dense matrices that `lags` reads.
"""
from __future__ import annotations

import datetime as dt

from ml import catalog
from ml.data import merchandise_predicate
from ml.families.sales_forecast.calendar import forecast_origin
from ml.families.sales_forecast.panel import PANEL_COLUMNS, PanelMatrix, to_matrix
from ml.sql import as_double, date_literal, money, rebuild_partitions, sql_literal
from ml.warehouse import Warehouse

PANEL = catalog.PRODUCT_WEEKLY_SALES


def weekly_panel_sql(
    origin: dt.date,
    lines_table: str = catalog.RAW_ORDER_LINES,
    products_table: str | None = catalog.RAW_PRODUCTS,
    line_filter: str | None = None,
) -> str:
    """SELECT producing one row per product and Monday week, from its first sale week to origin - 7.

    Reads only lines with invoice_ts < origin, so no week at or after the forecast origin exists.
    Weeks without sales are present with zeros (the panel is dense), which is what lags need.
    Works unchanged in DuckDB and PostgreSQL (`date_trunc('week')` is Monday in both).
    `line_filter` is an extra SQL predicate on order lines (e.g. merchandise only).
    """
    if origin.weekday() != 0:
        raise ValueError(f"forecast origin {origin} must be a Monday")
    last_week = origin - dt.timedelta(days=7)
    category = "p.category" if products_table else "CAST(NULL AS TEXT)"
    products_join = (
        f"LEFT JOIN (SELECT product_id, MAX(category) AS category FROM {products_table} "
        "GROUP BY product_id) p ON p.product_id = s.product_id"
        if products_table
        else ""
    )
    return f"""
WITH lines AS (
    SELECT product_id,
           CAST(date_trunc('week', invoice_ts) AS DATE) AS week_start,
           CAST(quantity AS DOUBLE PRECISION) AS quantity,
           {money('unit_price', 'quantity')} AS revenue,  -- exact: its sums do not depend on row order
           customer_id
    FROM {lines_table}
    WHERE invoice_ts < {sql_literal(dt.datetime.combine(origin, dt.time()))}
      AND product_id IS NOT NULL{f" AND ({line_filter})" if line_filter else ""}
),
weekly AS (
    SELECT product_id, week_start,
           SUM(quantity) AS units,
           SUM(CASE WHEN quantity > 0 THEN quantity ELSE 0 END) AS gross_units,
           {as_double('SUM(CASE WHEN quantity > 0 THEN revenue ELSE 0 END)')} AS gross_revenue,
           COUNT(DISTINCT CASE WHEN quantity > 0 THEN customer_id END) AS n_buyers,
           COUNT(*) AS n_lines
    FROM lines
    GROUP BY product_id, week_start
),
starts AS (
    SELECT product_id, MIN(week_start) AS first_week FROM weekly GROUP BY product_id
),
spine AS (
    SELECT s.product_id, s.first_week + CAST(7 * g.i AS INTEGER) AS week_start
    FROM starts s
    CROSS JOIN LATERAL generate_series(
        0, CAST(({date_literal(last_week)} - s.first_week) / 7 AS INTEGER)) AS g(i)
)
SELECT s.product_id,
       s.week_start,
       COALESCE(w.units, 0) AS units,
       COALESCE(w.gross_units, 0) AS gross_units,
       COALESCE(w.gross_revenue, 0) AS gross_revenue,
       COALESCE(w.n_buyers, 0) AS n_buyers,
       COALESCE(w.n_lines, 0) AS n_lines,
       {category} AS category
FROM spine s
LEFT JOIN weekly w ON w.product_id = s.product_id AND w.week_start = s.week_start
{products_join}
"""


def build_features(wh: Warehouse, as_of: dt.date) -> list[str]:
    """Replace the as-of partition of the weekly panel with INSERT ... SELECT in the warehouse."""
    products = catalog.RAW_PRODUCTS if wh.table_exists(catalog.RAW_PRODUCTS) else None
    select = weekly_panel_sql(forecast_origin(as_of), products_table=products, line_filter=merchandise_predicate())
    columns = ", ".join(PANEL_COLUMNS)
    rebuild_partitions(wh, PANEL, {**PANEL_COLUMNS, "as_of_date": "DATE"},
                       {as_of: f"SELECT {columns}, {date_literal(as_of)} FROM ({select}) AS panel"})
    return [PANEL]


def has_partition(wh: Warehouse, as_of: dt.date) -> bool:
    return wh.table_exists(PANEL) and bool(wh.row_count(PANEL, f"as_of_date = {date_literal(as_of)}"))


def read_matrix(wh: Warehouse, as_of: dt.date) -> PanelMatrix:
    """The as-of partition of the panel as dense matrices."""
    panel = wh.query(
        f"SELECT {', '.join(PANEL_COLUMNS)} FROM {PANEL} WHERE as_of_date = {date_literal(as_of)} "
        "ORDER BY product_id, week_start"
    )
    if panel.empty:
        raise ValueError(f"{PANEL} has no rows for as_of_date {as_of}; run build_features first")
    return to_matrix(panel)
