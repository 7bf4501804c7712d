"""The propensity inputs computed in the warehouse (DuckDB and PostgreSQL), point in time.

Two tables, both partitioned by the run's as-of date D and holding one slice per origin o:

* `features.propensity_static`  customer × origin: the static features of `inputs.STATIC_FEATURES`
  (`features.user_features` as it was at o, plus this family's extras) for customers active at o, and `label` (orders in [o, o + 30 days)); NULL at o = D (to score).
* `features.propensity_weekly`  customer × origin × week_lag: the weekly channels, sparse (weeks
  without activity are absent and read back as zeros).

Every read of a raw table is bounded by `< o` for inputs, and labels by `< o + 30 days <= D`, so a
partition never depends on anything at or after D. The SQL mirrors `ml.families.propensity.inputs` (tested).
`build_features` writes the origins of `labels.plan_origins`; `read_training` and `read_holdout` read
them back as examples, hash-sampled in large shops.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ml import catalog
from ml.data import merchandise_predicate
from ml.families.propensity.config import DEFAULTS, PropensityConfig, load
from ml.families.propensity.dataset import Examples, stack_examples
from ml.families.propensity.inputs import CHANNELS, STATIC_FEATURES, USER_FEATURES, assemble_model_input
from ml.families.propensity.labels import HORIZON_DAYS, plan_origins, to_timestamp
from ml.features import ACTIVE_DAYS, user_features_sql
from ml.sql import as_double, date_literal, money, rebuild_partitions, sql_literal

STATIC_TABLE = catalog.PROPENSITY_STATIC
WEEKLY_TABLE = catalog.PROPENSITY_WEEKLY
_KEYS = {"as_of_date": "DATE", "origin_date": "DATE", "customer_id": "TEXT"}
STATIC_COLUMNS = {**_KEYS, **{c: "DOUBLE PRECISION" for c in STATIC_FEATURES}, "label": "INTEGER"}
WEEKLY_COLUMNS = {**_KEYS, "week_lag": "INTEGER", **{c: "DOUBLE PRECISION" for c in CHANNELS}}
# the same line definitions as ml.families.propensity.labels (and ml.features)
_PURCHASE = f"customer_id IS NOT NULL AND NOT is_return AND {merchandise_predicate()}"
_ORDER = f"{_PURCHASE} AND quantity > 0"
_RETURN = f"customer_id IS NOT NULL AND is_return AND {merchandise_predicate()}"


def _days_between(start: str, end: str) -> str:
    """Fractional days from start to end; EXTRACT(EPOCH FROM interval) reads the same in both dialects.

    As a float before dividing: PostgreSQL's EXTRACT is NUMERIC, and divided as one it rounds differently.
    """
    return f"({as_double(f'EXTRACT(EPOCH FROM ({end} - {start}))')} / 86400.0)"


def build_features(wh, as_of: dt.date) -> list[str]:
    """The as-of partition of both tables: the holdout and training origins of `plan_origins`, and D."""
    config = load()
    holdout, train_origins = plan_origins(as_of, config)
    return write_propensity_features(wh, as_of, [holdout, *train_origins], weeks=config.weeks)


def static_features_sql(as_of, origin, has_events: bool, with_label: bool,
                        horizon_days: int = HORIZON_DAYS) -> str:
    """SELECT of the static features (and label) of customers active at `origin`, in STATIC_COLUMNS order.

    The user features are `ml.features.user_features_sql` evaluated at the origin (so each origin
    sees exactly what the nightly user_features table would have shown that day), joined with this
    family's extras and the label.
    """
    o = sql_literal(to_timestamp(origin))
    events = (f"SELECT customer_id, SUM(CASE WHEN event_type = 'view' THEN 1 ELSE 0 END) AS views_30d, "
              f"SUM(CASE WHEN event_type = 'cart' THEN 1 ELSE 0 END) AS carts_30d FROM raw.events "
              f"WHERE customer_id IS NOT NULL AND event_ts < {o} AND event_ts >= {o} - INTERVAL '30 days' "
              f"GROUP BY customer_id") if has_events else \
        "SELECT CAST(NULL AS TEXT) AS customer_id, 0 AS views_30d, 0 AS carts_30d WHERE 1 = 0"
    label = "CASE WHEN l.customer_id IS NULL THEN 0 ELSE 1 END" if with_label else "CAST(NULL AS INTEGER)"
    user_columns = ",\n       ".join(f"CAST(uf.{c} AS DOUBLE PRECISION)" for c in USER_FEATURES)
    return f"""
WITH uf AS ({user_features_sql(to_timestamp(origin).date(), has_events)}
), rhythm AS (
    SELECT customer_id,
           {_days_between("MIN(invoice_ts)", "MAX(invoice_ts)")} / NULLIF(COUNT(DISTINCT invoice_id) - 1, 0)
               AS avg_days_between_orders
    FROM raw.order_lines WHERE {_PURCHASE} AND invoice_ts < {o} GROUP BY customer_id
), events AS ({events}
), buyers AS (
    SELECT DISTINCT customer_id FROM raw.order_lines
    WHERE {_ORDER} AND invoice_ts >= {o} AND invoice_ts < {o} + INTERVAL '{horizon_days} days'
)
SELECT {date_literal(as_of)}, {date_literal(origin)}, uf.customer_id,
       {user_columns},
       CAST(r.avg_days_between_orders AS DOUBLE PRECISION),
       CAST(COALESCE(e.views_30d, 0) AS DOUBLE PRECISION),
       CAST(COALESCE(e.carts_30d, 0) AS DOUBLE PRECISION),
       {label}
FROM uf
LEFT JOIN rhythm r ON r.customer_id = uf.customer_id
LEFT JOIN events e ON e.customer_id = uf.customer_id
LEFT JOIN buyers l ON l.customer_id = uf.customer_id
WHERE uf.is_active
"""


def weekly_sql(as_of, origin, has_events: bool, weeks: int = DEFAULTS.weeks, active_days: int = ACTIVE_DAYS) -> str:
    """SELECT of the non-empty weekly channel rows of customers active at `origin`, in WEEKLY_COLUMNS order."""
    o = sql_literal(to_timestamp(origin))
    lag = f"CAST(FLOOR(EXTRACT(EPOCH FROM ({o} - {{ts}})) / 604800.0) AS INTEGER)"
    span = f"{{ts}} < {o} AND {{ts}} >= {o} - INTERVAL '{weeks * 7} days'"

    def row(values: dict[str, str]) -> str:
        return ", ".join(values.get(c, "0") for c in CHANNELS)

    parts = [
        f"SELECT customer_id, {lag.format(ts='invoice_ts')} AS week_lag, "
        + row({"orders": "COUNT(DISTINCT invoice_id)", "units": "SUM(quantity)",
               "spend": f"SUM({money('unit_price', 'quantity')})", "products": "COUNT(DISTINCT product_id)"})
        + f" FROM raw.order_lines WHERE {_PURCHASE} AND {span.format(ts='invoice_ts')} GROUP BY 1, 2",
        f"SELECT customer_id, {lag.format(ts='invoice_ts')} AS week_lag, " + row({"returns": "SUM(ABS(quantity))"})
        + f" FROM raw.order_lines WHERE {_RETURN} AND {span.format(ts='invoice_ts')} GROUP BY 1, 2",
    ]
    if has_events:
        parts.append(
            f"SELECT customer_id, {lag.format(ts='event_ts')} AS week_lag, "
            + row({"views": "SUM(CASE WHEN event_type = 'view' THEN 1 ELSE 0 END)",
                   "carts": "SUM(CASE WHEN event_type = 'cart' THEN 1 ELSE 0 END)"})
            + f" FROM raw.events WHERE customer_id IS NOT NULL AND {span.format(ts='event_ts')} GROUP BY 1, 2")
    activity = "\n    UNION ALL ".join(parts)
    sums = ", ".join(f"CAST(SUM(a.c_{c}) AS DOUBLE PRECISION)" for c in CHANNELS)
    aliases = ", ".join(f"c_{c}" for c in CHANNELS)
    return f"""
WITH active AS (
    SELECT DISTINCT customer_id FROM raw.order_lines
    WHERE {_PURCHASE} AND invoice_ts < {o} AND invoice_ts >= {o} - INTERVAL '{active_days} days'
), activity (customer_id, week_lag, {aliases}) AS (
    {activity}
)
SELECT {date_literal(as_of)}, {date_literal(origin)}, a.customer_id, a.week_lag, {sums}
FROM activity a JOIN active USING (customer_id)
WHERE a.week_lag < {weeks}
GROUP BY a.customer_id, a.week_lag
"""


def write_propensity_features(wh, as_of, origins: list, has_events: bool | None = None,
                              weeks: int = DEFAULTS.weeks) -> list[str]:
    """Replace the as-of partition of both tables with the slices of `origins` plus D itself (unlabelled).

    Every origin must satisfy origin + 30 days <= D (labels end before D).
    """
    as_of = to_timestamp(as_of)
    bad = [o for o in origins if to_timestamp(o) + pd.Timedelta(days=HORIZON_DAYS) > as_of]
    if bad:
        raise ValueError(f"origins {bad} have labels reaching past the as-of date {as_of.date()}")
    if has_events is None:
        has_events = wh.table_exists(catalog.RAW_EVENTS)
    slices = [as_of, *origins]
    static = [static_features_sql(as_of, o, has_events, with_label=o != as_of) for o in slices]
    weekly = [weekly_sql(as_of, o, has_events, weeks) for o in slices]
    with wh.transaction():  # both tables change together or not at all; read back ORDER BY customer_id or by key
        rebuild_partitions(wh, STATIC_TABLE, STATIC_COLUMNS, {as_of.date(): static}, unordered=True)
        rebuild_partitions(wh, WEEKLY_TABLE, WEEKLY_COLUMNS, {as_of.date(): weekly}, unordered=True)
    return [STATIC_TABLE, WEEKLY_TABLE]


def sequences_from_weekly(weekly: pd.DataFrame, customers, weeks: int = DEFAULTS.weeks) -> np.ndarray:
    """Dense (n, weeks, channels) array, oldest week first, from sparse week_lag rows."""
    index = pd.Index([str(c) for c in customers])
    out = np.zeros((len(index), weeks, len(CHANNELS)), dtype=np.float32)
    if len(weekly):
        rows = index.get_indexer(weekly["customer_id"].astype(str))
        lag = weekly["week_lag"].to_numpy(dtype=int)
        keep = (rows >= 0) & (lag >= 0) & (lag < weeks)
        values = weekly[list(CHANNELS)].to_numpy(dtype=np.float32)
        out[rows[keep], weeks - 1 - lag[keep], :] = values[keep]
    return out


def sample_predicate(partition: str, max_customers: int) -> str:
    """SQL predicate keeping at most `max_customers` customers of `partition` (a WHERE clause over
    STATIC_TABLE): those with the smallest md5(customer_id). md5 reads the same hex in DuckDB and
    PostgreSQL, so both dialects and every read (training, evaluation, a later re-score) keep the
    same customers, and a customer kept at one origin is kept at every origin where it is active."""
    return (f"customer_id IN (SELECT customer_id FROM {STATIC_TABLE} WHERE {partition} "
            f"ORDER BY md5(customer_id), customer_id LIMIT {int(max_customers)})")


def count_customers(wh, as_of, origin) -> int:
    """Customers active at `origin` in the as-of partition (before any sampling)."""
    return wh.row_count(STATIC_TABLE, _partition(as_of, origin))


def _partition(as_of, origin) -> str:
    return f"as_of_date = {date_literal(as_of)} AND origin_date = {date_literal(origin)}"


def read_examples(wh, as_of, origin, customers: tuple[str, str] | None = None, weeks: int = DEFAULTS.weeks,
                  max_customers: int | None = None) -> Examples:
    """Examples at one origin of the as-of partition; `customers=(first, last)` reads a chunk only,
    `max_customers` a deterministic hash sample (`sample_predicate`) so memory stops growing with the shop."""
    where = _partition(as_of, origin)
    if customers:
        where += f" AND customer_id BETWEEN {sql_literal(str(customers[0]))} AND {sql_literal(str(customers[1]))}"
    if max_customers is not None:
        where += f" AND {sample_predicate(where, max_customers)}"
    static = wh.query(f"SELECT customer_id, {', '.join(STATIC_FEATURES)}, label FROM {STATIC_TABLE} "
                      f"WHERE {where} ORDER BY customer_id")
    weekly = wh.query(f"SELECT customer_id, week_lag, {', '.join(CHANNELS)} FROM {WEEKLY_TABLE} WHERE {where}")
    static["customer_id"] = static["customer_id"].astype(str)
    features = static.set_index("customer_id")[list(STATIC_FEATURES)].astype("float64")
    inputs = assemble_model_input(features, sequences_from_weekly(weekly, features.index, weeks))
    labels = pd.to_numeric(static["label"], errors="coerce").fillna(-1).to_numpy(dtype=np.int8)
    origins = np.full(len(static), to_timestamp(origin).to_datetime64())
    return Examples(inputs, labels, origins)


def list_origins(wh, as_of) -> list[dt.date]:
    """Origins stored in the as-of partition, newest first (D itself included)."""
    frame = wh.query(f"SELECT DISTINCT origin_date FROM {STATIC_TABLE} WHERE as_of_date = {date_literal(as_of)}")
    return sorted((pd.Timestamp(d).date() for d in frame["origin_date"]), reverse=True)


def has_origin(wh, as_of, origin) -> bool:
    """Whether the as-of partition holds the slice of `origin` (the scoring slice when origin == D)."""
    if not wh.table_exists(STATIC_TABLE):
        return False
    return count_customers(wh, as_of, origin) > 0


def list_customers(wh, as_of, origin) -> np.ndarray:
    """Every customer id of one origin of the as-of partition, sorted (scoring reads them in chunks)."""
    frame = wh.query(f"SELECT customer_id FROM {STATIC_TABLE} WHERE {_partition(as_of, origin)} ORDER BY customer_id")
    return frame["customer_id"].astype(str).to_numpy()


def read_training(wh, as_of: dt.date, config: PropensityConfig = DEFAULTS) -> Examples:
    """The training origins' examples stacked, newest first, each a hash sample of at most
    `config.train_max_customers_per_origin` customers."""
    _, origins = plan_origins(as_of, config)
    stacked = stack_examples([read_examples(wh, as_of, o, weeks=config.weeks,
                                            max_customers=config.train_max_customers_per_origin) for o in origins])
    if stacked is None:
        raise ValueError(f"no active customers at any training origin before {as_of}; build_features first "
                         "or choose a later as-of date")
    return stacked


def read_holdout(wh, as_of: dt.date, config: PropensityConfig = DEFAULTS) -> Examples:
    """The holdout origin's examples (a hash sample of at most `config.holdout_max_customers`): the
    same customers in every read, so `evaluate` re-scores exactly what `train` measured."""
    holdout, _ = plan_origins(as_of, config)
    examples = read_examples(wh, as_of, holdout, weeks=config.weeks, max_customers=config.holdout_max_customers)
    if len(examples) < config.min_holdout_customers or len(np.unique(examples.labels)) < 2:
        raise ValueError(f"holdout at {holdout} has {len(examples)} customers and "
                         f"{int(examples.labels.sum())} buyers; too few to compare models")
    return examples
