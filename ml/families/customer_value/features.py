"""The customer-value features: warehouse SQL, the feature table and what is read back from it.

`customer_features_sql` computes the same numbers as `summary.build_customer_features` (checked by
tests/unit/customer_value/test_features.py), where the order lines live. It is written in the subset
DuckDB and PostgreSQL share: DATE - DATE is a day count in both, and every boundary date is rendered
in Python as a literal so no dialect-specific interval arithmetic is needed.

features.customer_value holds, for as-of date D, the features of every customer at cutoffs
D - (w + 1)h, ..., D - h, D (h = horizon_days, w = training_windows), one block of rows per cutoff.
Orders and spend in [c, c + h) are the differences of the cumulative `n_transactions` and
`total_value` between two cutoffs, so the table alone gives every target (`targets_between`).
"""
from __future__ import annotations

import datetime as dt

import pandas as pd

from ml import catalog
from ml.data import merchandise_predicate
from ml.families.customer_value.config import DEFAULTS, CustomerValueConfig, load
from ml.families.customer_value.summary import SEASON_COLUMNS, WINDOWS_DAYS
from ml.sql import as_double, money, rebuild_partitions, require_columns, sql_literal
from ml.warehouse import Warehouse

FEATURES = catalog.CUSTOMER_VALUE_FEATURES
FEATURE_COLUMNS = (
    "frequency", "recency_days", "tenure_days", "monetary_value", "n_transactions", "total_value",
    "days_since_last", "avg_order_value",
    *(f"{kind}_{days}d" for days in WINDOWS_DAYS for kind in ("orders", "spend")),
)
# What order lines carry beyond customer-day timing and spend (SQL only; tests hold them to a hand
# computation): orders as the shop counts them (distinct invoices, the unit the mart's
# expected_orders_90d is judged in), basket breadth, product mix, returns, regularity of the gaps
# between purchase days and the customer's own season (what they bought in the coming horizon a
# year earlier).
INVOICE_WINDOWS_DAYS = (30, 90, 365)
LINE_COLUMNS = (
    "n_invoices", *(f"invoices_{d}d" for d in INVOICE_WINDOWS_DAYS), "n_products", "lines_per_invoice",
    "return_share", "gap_cv", "mean_gap_days", "orders_year_ago_ahead", "spend_year_ago_ahead",
)
# What the registered model reads: LightGBM uses FEATURE_COLUMNS and LINE_COLUMNS, BG/NBD adds the
# seasonal indices.
MODEL_INPUT_COLUMNS = (*FEATURE_COLUMNS, *LINE_COLUMNS, *SEASON_COLUMNS)
FEATURE_TABLE_COLUMNS = {
    "customer_id": "TEXT", "as_of_date": "DATE", "cutoff_date": "DATE",
    **dict.fromkeys(MODEL_INPUT_COLUMNS, "DOUBLE PRECISION"), "historical_value": "DOUBLE PRECISION",
}


def _season_sql(cutoff: dt.date, horizon_days: int, bounds: tuple[float, float]) -> str:
    """One row: the seasonal indices of `summary.seasonal_indices`, over all customers' transactions."""
    year_start = sql_literal(cutoff - dt.timedelta(days=365))
    window_end = sql_literal(cutoff - dt.timedelta(days=365 - horizon_days))
    low, high = bounds
    in_year = f"day >= {year_start}"
    in_window = f"day >= {year_start} AND day < {window_end}"
    share = repr(horizon_days / 365.0)

    def index(measure: str) -> str:
        window = f"SUM(CASE WHEN {in_window} THEN {measure} ELSE 0 END)"
        year = f"SUM(CASE WHEN {in_year} THEN {measure} ELSE 0 END)"
        return (f"CASE WHEN MIN(day) <= {year_start} AND {year} > 0 "
                f"THEN LEAST(GREATEST({as_double(window)} / ({as_double(year)} * {share}), {low}), {high}) "
                f"ELSE 1.0 END")

    return f"SELECT {index('1')} AS season_orders_index, {index('value')} AS season_spend_index FROM days"


def customer_features_sql(cutoff: dt.date, source: str = catalog.RAW_ORDER_LINES, *, horizon_days: int = 90,
                          season_bounds: tuple[float, float] = DEFAULTS.season_index_bounds) -> str:
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
    line_features = ", ".join(f"COALESCE(b.{c}, 0) AS {c}" for c in LINE_COLUMNS)
    bought = "NOT is_return AND value > 0"
    invoice_windows = ",\n  ".join(
        f"CAST(COUNT(DISTINCT CASE WHEN {bought} AND day >= {sql_literal(cutoff - dt.timedelta(days=d))} "
        f"THEN invoice_id END) AS DOUBLE PRECISION) AS invoices_{d}d" for d in INVOICE_WINDOWS_DAYS)
    year_ago = (f"day >= {sql_literal(cutoff - dt.timedelta(days=365))} AND "
                f"day < {sql_literal(cutoff - dt.timedelta(days=365 - horizon_days))}")
    season = ", ".join(f"CAST(season.{c} AS DOUBLE PRECISION) AS {c}" for c in SEASON_COLUMNS)
    return f"""
WITH history AS (
  SELECT customer_id, invoice_id, product_id, is_return, CAST(invoice_ts AS DATE) AS day,
    {money('unit_price', 'quantity')} AS value
  FROM {source}
  WHERE customer_id IS NOT NULL AND invoice_ts < {cutoff_ts} AND {merchandise_predicate()}
), net AS (
  SELECT customer_id, {as_double('SUM(value)')} AS historical_value FROM history GROUP BY customer_id
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
  CASE WHEN COUNT(*) > 1 THEN {as_double('SUM(CASE WHEN nth > 1 THEN value ELSE 0 END)')} / (COUNT(*) - 1) ELSE 0 END
    AS monetary_value,
  CAST(COUNT(*) AS DOUBLE PRECISION) AS n_transactions,
  {as_double('SUM(value)')} AS total_value,
  CAST({last_day} - MAX(day) AS DOUBLE PRECISION) AS days_since_last,
  {as_double('SUM(value)')} / COUNT(*) AS avg_order_value,
  {windows}
  FROM ranked
  GROUP BY customer_id
), lines AS (
  SELECT customer_id,
  CAST(COUNT(DISTINCT CASE WHEN {bought} THEN invoice_id END) AS DOUBLE PRECISION) AS n_invoices,
  {invoice_windows},
  CAST(COUNT(DISTINCT CASE WHEN {bought} THEN product_id END) AS DOUBLE PRECISION) AS n_products,
  CAST(SUM(CASE WHEN {bought} THEN 1 ELSE 0 END) AS DOUBLE PRECISION) AS n_lines,
  {as_double('SUM(CASE WHEN value < 0 THEN -value ELSE 0 END)')} AS returned_value,
  {as_double('SUM(CASE WHEN value > 0 THEN value ELSE 0 END)')} AS bought_value
  FROM history GROUP BY customer_id
), gaps AS (
  SELECT customer_id, CAST(day - LAG(day) OVER (PARTITION BY customer_id ORDER BY day) AS BIGINT) AS gap
  FROM days
), regularity AS (
  -- coefficient of variation of the days between purchase days: 0 = clockwork, > 1 = bursts; from
  -- exact integer moments (STDDEV_POP and AVG add floats in no fixed order, and differently per engine)
  SELECT customer_id,
  SQRT({as_double('COUNT(*) * SUM(gap * gap) - SUM(gap) * SUM(gap)')}) / {as_double('SUM(gap)')} AS gap_cv,
  {as_double('SUM(gap)')} / COUNT(*) AS mean_gap_days
  FROM gaps WHERE gap IS NOT NULL GROUP BY customer_id
), behaviour AS (
  SELECT l.customer_id, l.n_invoices, {", ".join(f"l.invoices_{d}d" for d in INVOICE_WINDOWS_DAYS)}, l.n_products,
  CASE WHEN l.n_invoices > 0 THEN l.n_lines / l.n_invoices ELSE 0 END AS lines_per_invoice,
  CASE WHEN l.bought_value > 0 THEN l.returned_value / l.bought_value ELSE 0 END AS return_share,
  COALESCE(r.gap_cv, -1) AS gap_cv, COALESCE(r.mean_gap_days, -1) AS mean_gap_days,
  CAST(COALESCE(y.orders_year_ago_ahead, 0) AS DOUBLE PRECISION) AS orders_year_ago_ahead,
  COALESCE(y.spend_year_ago_ahead, 0) AS spend_year_ago_ahead
  FROM lines l LEFT JOIN regularity r ON r.customer_id = l.customer_id
  LEFT JOIN (SELECT customer_id, COUNT(*) AS orders_year_ago_ahead, {as_double('SUM(value)')} AS spend_year_ago_ahead
             FROM days WHERE {year_ago} GROUP BY customer_id) y ON y.customer_id = l.customer_id
), season AS (
  {_season_sql(cutoff, horizon_days, season_bounds)}
)
SELECT n.customer_id, {features}, {line_features}, {season},
  n.historical_value, {sql_literal(cutoff)} AS cutoff_date
FROM net n LEFT JOIN summary s ON s.customer_id = n.customer_id
  LEFT JOIN behaviour b ON b.customer_id = n.customer_id CROSS JOIN season
"""


def first_purchase_sql(start: dt.date, end: dt.date, source: str = catalog.RAW_ORDER_LINES) -> str:
    """Each customer's first purchase day in [start, end) (a customer-day of positive net value, the
    unit of `customer_features_sql`), as days after `start`."""
    start_ts, end_ts = (sql_literal(dt.datetime.combine(d, dt.time())) for d in (start, end))
    return f"""
SELECT customer_id, CAST(MIN(day) - {sql_literal(start)} AS DOUBLE PRECISION) AS days_to_first_order FROM (
  SELECT customer_id, CAST(invoice_ts AS DATE) AS day FROM {source}
  WHERE customer_id IS NOT NULL AND invoice_ts >= {start_ts} AND invoice_ts < {end_ts} AND {merchandise_predicate()}
  GROUP BY customer_id, CAST(invoice_ts AS DATE) HAVING SUM({money('unit_price', 'quantity')}) > 0
) days GROUP BY customer_id
"""


def first_purchases(wh: Warehouse, start: dt.date, end: dt.date) -> pd.Series:
    """Days from `start` to each customer's first purchase in [start, end), by customer_id."""
    frame = wh.query(first_purchase_sql(start, end))
    return frame.assign(customer_id=frame["customer_id"].astype(str)).set_index("customer_id")["days_to_first_order"]


def build_cutoffs(as_of: dt.date, horizon_days: int, n_training_windows: int) -> list[dt.date]:
    """Cutoffs oldest first: as_of - (n + 1) * horizon, ..., as_of - horizon, as_of."""
    if horizon_days <= 0 or n_training_windows < 1:
        raise ValueError("horizon_days and n_training_windows must be positive")
    return [as_of - dt.timedelta(days=k * horizon_days) for k in range(n_training_windows + 1, -1, -1)]


def cutoffs(as_of: dt.date, config: CustomerValueConfig, step_days: int | None = None) -> list[dt.date]:
    return build_cutoffs(as_of, step_days or config.horizon_days, config.training_windows)


def step_for_history(history_days: int, horizon_days: int) -> int:
    """Days between cutoffs: one horizon when the history holds two (so the fitting cutoff D - h has
    a horizon of history behind it), else a third of the history, so a four-month shop still gets
    a fitting cutoff with customers, a holdout and a training window, each a month long (its
    horizon forecasts are then extrapolated from a shorter holdout: the docs say so)."""
    if history_days >= 2 * horizon_days:
        return horizon_days
    return max(1, history_days // 3)


def history_days(wh: Warehouse, as_of: dt.date, source: str = catalog.RAW_ORDER_LINES) -> int:
    """Days from the first customer's merchandise line to D (0 without one)."""
    first = wh.scalar(f"SELECT MIN(invoice_ts) FROM {source} WHERE customer_id IS NOT NULL AND "
                      f"invoice_ts < {sql_literal(dt.datetime.combine(as_of, dt.time()))} AND {merchandise_predicate()}")
    if first is None or pd.isna(first):
        return 0
    return (as_of - pd.Timestamp(first).date()).days


def build_features(wh: Warehouse, as_of: dt.date) -> list[str]:
    """Replace the as-of partition of features.customer_value: one block of rows per cutoff, the
    cutoffs spaced by `step_for_history` (so every later step reads them back from the table)."""
    config = load()
    selected = ", ".join(c if c != "as_of_date" else f"{sql_literal(as_of)} AS as_of_date" for c in FEATURE_TABLE_COLUMNS)
    step = step_for_history(history_days(wh, as_of), config.horizon_days)
    selects = [f"SELECT {selected} FROM ("
               f"{customer_features_sql(c, horizon_days=config.horizon_days, season_bounds=config.season_index_bounds)}) f"
               for c in cutoffs(as_of, config, step)]
    rebuild_partitions(wh, FEATURES, FEATURE_TABLE_COLUMNS, {as_of: selects})
    return [FEATURES]


def ensure_features(wh: Warehouse, as_of: dt.date) -> None:
    """Build the as-of partition unless it is there already."""
    if not wh.table_exists(FEATURES) or not wh.row_count(FEATURES, f"as_of_date = {sql_literal(as_of)}"):
        build_features(wh, as_of)


def select_features_sql(as_of: dt.date, cutoff: dt.date) -> str:
    """Model inputs and historical_value of every customer at one cutoff, by customer_id."""
    return (f"SELECT customer_id, {', '.join(MODEL_INPUT_COLUMNS)}, historical_value FROM {FEATURES} "
            f"WHERE as_of_date = {sql_literal(as_of)} AND cutoff_date = {sql_literal(cutoff)} ORDER BY customer_id")


def read_features(wh: Warehouse, as_of: dt.date, cutoff: dt.date) -> pd.DataFrame:
    """Features of every customer at one cutoff of the as-of partition, indexed by customer_id."""
    frame = wh.query(select_features_sql(as_of, cutoff))
    return frame.assign(customer_id=frame["customer_id"].astype(str)).set_index("customer_id")


def table_cutoffs(wh: Warehouse, as_of: dt.date) -> list[dt.date]:
    """The cutoffs `build_features` wrote for D, oldest first (built first if missing)."""
    ensure_features(wh, as_of)
    rows = wh.query(f"SELECT DISTINCT cutoff_date FROM {FEATURES} WHERE as_of_date = {sql_literal(as_of)} "
                    "ORDER BY cutoff_date")
    return [pd.Timestamp(c).date() for c in rows["cutoff_date"]]


def read_all_cutoffs(wh: Warehouse, as_of: dt.date, config: CustomerValueConfig | None = None) -> list[pd.DataFrame]:
    """Features at every cutoff of the as-of partition, oldest first (built first if missing).

    A cutoff before the first order has no rows; its frame is empty."""
    return [read_features(wh, as_of, c) for c in table_cutoffs(wh, as_of)]


def purchasers(features: pd.DataFrame) -> pd.DataFrame:
    """Customers with at least one purchase: the only ones the models can learn from or be judged on."""
    require_columns(features, ("n_transactions",), "customer features")
    return features.loc[features["n_transactions"] > 0]


def order_count_column(*frames: pd.DataFrame) -> str:
    """Orders as the shop counts them (distinct invoices) where the frames carry it, else purchase
    days (the BG/NBD unit; frames built in pandas from customer-day transactions)."""
    return "n_invoices" if all("n_invoices" in f.columns for f in frames) else "n_transactions"


def targets_between(start: pd.DataFrame, end: pd.DataFrame) -> pd.DataFrame:
    """Orders and spend between two cutoffs for the customers known at the first one."""
    for frame, name in ((start, "start"), (end, "end")):
        require_columns(frame, ("n_transactions", "total_value"), f"features at {name} cutoff")
    counted = order_count_column(start, end)
    later = end[[counted, "total_value"]].reindex(start.index)
    # A customer known at the start is known at the end; fillna only guards a late data deletion.
    later = later.fillna(start[[counted, "total_value"]])
    return pd.DataFrame(
        {
            "orders": (later[counted] - start[counted]).clip(lower=0.0),
            "spend": (later["total_value"] - start["total_value"]).clip(lower=0.0),
        },
        index=start.index,
    )
