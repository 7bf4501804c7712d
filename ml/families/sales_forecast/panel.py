"""The product x week panel: SQL that aggregates order lines in the warehouse, and dense matrices.

The weekly aggregation runs in SQL (DuckDB and PostgreSQL read the same text); lags and rolling
means are cheaper on the dense `PanelMatrix` that `to_matrix` builds from the panel's rows.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml import catalog

PANEL_COLUMNS = {
    "product_id": "TEXT",
    "week_start": "DATE",
    "units": "DOUBLE PRECISION",  # net units: sales minus returns/cancellations, guests included
    "gross_units": "DOUBLE PRECISION",
    "gross_revenue": "DOUBLE PRECISION",
    "n_buyers": "BIGINT",  # distinct known customers buying that week (guests cannot be counted)
    "n_lines": "BIGINT",
    "category": "TEXT",
}


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
           CAST(unit_price AS DOUBLE PRECISION) AS unit_price,
           customer_id
    FROM {lines_table}
    WHERE invoice_ts < TIMESTAMP '{origin.isoformat()} 00:00:00'
      AND product_id IS NOT NULL{f" AND ({line_filter})" if line_filter else ""}
),
weekly AS (
    SELECT product_id, week_start,
           SUM(quantity) AS units,
           SUM(CASE WHEN quantity > 0 THEN quantity ELSE 0 END) AS gross_units,
           SUM(CASE WHEN quantity > 0 THEN quantity * unit_price ELSE 0 END) AS gross_revenue,
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
        0, CAST((DATE '{last_week.isoformat()}' - s.first_week) / 7 AS INTEGER)) AS g(i)
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


def check_panel(panel: pd.DataFrame) -> pd.DataFrame:
    """Fail loudly on a panel that lags would silently misread; returns it with clean dtypes."""
    missing = [c for c in PANEL_COLUMNS if c not in panel.columns]
    if missing:
        raise ValueError(f"weekly panel lacks column(s) {missing}")
    if panel.empty:
        raise ValueError("weekly panel is empty: no order lines before the forecast origin")
    panel = panel.copy()
    panel["product_id"] = panel["product_id"].astype(str)
    panel["week_start"] = pd.to_datetime(panel["week_start"]).dt.normalize()
    if (panel["week_start"].dt.day_of_week != 0).any():
        raise ValueError("weekly panel has week_start values that are not Mondays")
    if panel.duplicated(["product_id", "week_start"]).any():
        raise ValueError("weekly panel has duplicate (product_id, week_start) rows")
    return panel


@dataclass
class PanelMatrix:
    """The panel as dense (product x week) arrays; weeks are consecutive Mondays.

    `units` is 0 before a product's first week; `price` (mean gross selling price) is NaN in weeks
    without sales. Column j of a matrix is week `weeks[j]`; an origin index t means weeks < t are known.
    """

    product_ids: np.ndarray
    weeks: pd.DatetimeIndex
    units: np.ndarray
    price: np.ndarray
    buyers: np.ndarray
    first_idx: np.ndarray
    category: np.ndarray  # object array, None where unknown

    @property
    def n_weeks(self) -> int:
        return len(self.weeks)

    def week_at(self, index: int) -> pd.Timestamp:
        """Monday of week `index`, also past the last panel week (future forecast weeks)."""
        return self.weeks[0] + pd.Timedelta(weeks=int(index))


def to_matrix(panel: pd.DataFrame) -> PanelMatrix:
    """Dense matrices from panel rows (missing product-weeks count as zero sales)."""
    panel = check_panel(panel)
    weeks = pd.date_range(panel["week_start"].min(), panel["week_start"].max(), freq="7D")
    products = np.array(sorted(panel["product_id"].unique()), dtype=object)
    row = pd.Index(products).get_indexer(panel["product_id"])
    col = ((panel["week_start"] - weeks[0]).dt.days // 7).to_numpy()
    shape = (len(products), len(weeks))

    def dense(values, fill):
        out = np.full(shape, fill, dtype="float64")
        out[row, col] = np.asarray(values, dtype="float64")
        return out

    gross_units = dense(panel["gross_units"], 0.0)
    gross_revenue = dense(panel["gross_revenue"], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        price = np.where(gross_units > 0, gross_revenue / gross_units, np.nan)
    first = np.full(len(products), len(weeks), dtype="int64")
    np.minimum.at(first, row, col)
    categories = panel.groupby("product_id", sort=True)["category"].first().reindex(products)
    category = np.array([None if pd.isna(c) else str(c) for c in categories], dtype=object)
    return PanelMatrix(
        product_ids=products,
        weeks=weeks,
        units=dense(panel["units"], 0.0),
        price=price,
        buyers=dense(panel["n_buyers"], 0.0),
        first_idx=first,
        category=category,
    )
