"""Warehouse SQL for the customer-value features: the same numbers as `summary.build_customer_features`
(checked by tests/unit/test_customer_value_sql.py), computed where the order lines live.

Written in the subset DuckDB and PostgreSQL share: DATE - DATE is a day count in both, and every
boundary date is rendered in Python as a literal so no dialect-specific interval arithmetic is needed.
"""
from __future__ import annotations

import datetime as dt

from ml import catalog
from ml.data import merchandise_predicate
from ml.families.customer_value.summary import SEASON_COLUMNS, SEASON_INDEX_BOUNDS, WINDOWS_DAYS
from ml.sql import sql_literal

FEATURE_COLUMNS = (
    "frequency", "recency_days", "tenure_days", "monetary_value", "n_transactions", "total_value",
    "days_since_last", "avg_order_value",
    *(f"{kind}_{days}d" for days in WINDOWS_DAYS for kind in ("orders", "spend")),
)
# What the registered model reads: LightGBM uses FEATURE_COLUMNS, BG/NBD adds the seasonal indices.
MODEL_INPUT_COLUMNS = (*FEATURE_COLUMNS, *SEASON_COLUMNS)


def _season_sql(cutoff: dt.date, horizon_days: int) -> str:
    """One row: the seasonal indices of `summary.seasonal_indices`, over all customers' transactions."""
    year_start = sql_literal(cutoff - dt.timedelta(days=365))
    window_end = sql_literal(cutoff - dt.timedelta(days=365 - horizon_days))
    low, high = SEASON_INDEX_BOUNDS
    in_year = f"day >= {year_start}"
    in_window = f"day >= {year_start} AND day < {window_end}"
    share = repr(horizon_days / 365.0)

    def index(measure: str) -> str:
        window = f"SUM(CASE WHEN {in_window} THEN {measure} ELSE 0 END)"
        year = f"SUM(CASE WHEN {in_year} THEN {measure} ELSE 0 END)"
        return (f"CASE WHEN MIN(day) <= {year_start} AND {year} > 0 "
                f"THEN LEAST(GREATEST(CAST({window} AS DOUBLE PRECISION) / ({year} * {share}), {low}), {high}) "
                f"ELSE 1.0 END")

    return f"SELECT {index('1')} AS season_orders_index, {index('value')} AS season_spend_index FROM days"


def customer_features_sql(cutoff: dt.date, source: str = catalog.RAW_ORDER_LINES, *, horizon_days: int = 90) -> str:
    """One row per customer with any merchandise line before `cutoff`: the model features plus
    `historical_value` (net spend, returns included) and `cutoff_date`.

    A customer whose lines are all returns or cancellations (their purchases predate the export)
    has n_transactions = 0 and zero features; the models leave them out and score them zero.
    """
    cutoff_ts = sql_literal(dt.datetime.combine(cutoff, dt.time()))
    last_day = sql_literal(cutoff - dt.timedelta(days=1))
    windows = ",\n  ".join(
        f"CAST(SUM(CASE WHEN day >= {sql_literal(cutoff - dt.timedelta(days=d))} THEN 1 ELSE 0 END) AS DOUBLE PRECISION) AS orders_{d}d,\n  "
        f"CAST(SUM(CASE WHEN day >= {sql_literal(cutoff - dt.timedelta(days=d))} THEN value ELSE 0 END) AS DOUBLE PRECISION) AS spend_{d}d"
        for d in WINDOWS_DAYS
    )
    features = ", ".join(f"COALESCE(s.{c}, 0) AS {c}" for c in FEATURE_COLUMNS)
    season = ", ".join(f"CAST(season.{c} AS DOUBLE PRECISION) AS {c}" for c in SEASON_COLUMNS)
    return f"""
WITH history AS (
  SELECT customer_id, CAST(invoice_ts AS DATE) AS day, CAST(quantity AS DOUBLE PRECISION) * unit_price AS value
  FROM {source}
  WHERE customer_id IS NOT NULL AND invoice_ts < {cutoff_ts} AND {merchandise_predicate()}
), net AS (
  SELECT customer_id, SUM(value) AS historical_value FROM history GROUP BY customer_id
), days AS (
  -- a transaction is a customer-day with positive net value (same-day cancellations net out)
  SELECT customer_id, day, SUM(value) AS value FROM history GROUP BY customer_id, day HAVING SUM(value) > 0
), ranked AS (
  SELECT customer_id, day, value, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY day) AS nth FROM days
), summary AS (
  SELECT
  customer_id,
  CAST(COUNT(*) - 1 AS DOUBLE PRECISION) AS frequency,
  CAST(MAX(day) - MIN(day) AS DOUBLE PRECISION) AS recency_days,
  CAST({last_day} - MIN(day) AS DOUBLE PRECISION) AS tenure_days,
  CASE WHEN COUNT(*) > 1 THEN SUM(CASE WHEN nth > 1 THEN value ELSE 0 END) / (COUNT(*) - 1) ELSE 0 END
    AS monetary_value,
  CAST(COUNT(*) AS DOUBLE PRECISION) AS n_transactions,
  SUM(value) AS total_value,
  CAST({last_day} - MAX(day) AS DOUBLE PRECISION) AS days_since_last,
  SUM(value) / COUNT(*) AS avg_order_value,
  {windows}
  FROM ranked
  GROUP BY customer_id
), season AS (
  {_season_sql(cutoff, horizon_days)}
)
SELECT n.customer_id, {features}, {season},
  n.historical_value, {sql_literal(cutoff)} AS cutoff_date
FROM net n LEFT JOIN summary s ON s.customer_id = n.customer_id CROSS JOIN season
"""
