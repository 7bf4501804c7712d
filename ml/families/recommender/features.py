"""The interaction features: SQL that turns raw order lines and events into user x item weights, the
writer of `features.user_item_interactions`, and its readers (a partition's matrix, the items still sold).

The SQL is plain ANSI that DuckDB and PostgreSQL read alike (DATE - DATE is a day count in both), so
the warehouse does the heavy aggregation and Python only receives one row per (customer, product).
Every query reads strictly before its cut-off date: the table is point in time per `as_of_date`.
"""
from __future__ import annotations

import datetime as dt

from ml import catalog
from ml.data import has_events, merchandise_predicate
from ml.families.recommender import config as family_config
from ml.families.recommender.config import RecommenderConfig
from ml.families.recommender.interactions import InteractionMatrix, read_matrix
from ml.sql import as_double, date_literal, rebuild_partitions
from ml.warehouse import Warehouse

# Postage, fees and manual adjustments in real exports are neither tastes nor offers.
MERCHANDISE = merchandise_predicate("product_id")

# A line's decay enters the weight as a whole number of 1e-15ths (floored), so the weight is an exact
# decimal sum, the same whatever order the engine adds a pair's lines in and on both engines (as floats,
# DuckDB's parallel sums and PostgreSQL's NUMERIC decay, from its `LN(2.0)`, differed in the last bits).
DECAY_UNITS = 10**15  # below 2**53: the floored float is an exact integer, ~1e-15 of its value lost

# features.user_item_interactions: column -> SQL type, in table order
COLUMNS = {
    "as_of_date": "DATE",
    "customer_id": "TEXT",
    "product_id": "TEXT",
    "purchase_qty": "BIGINT",
    "return_qty": "BIGINT",
    "cart_events": "BIGINT",
    "view_events": "BIGINT",
    "last_purchase_date": "DATE",
    "weight": "DOUBLE PRECISION",
    "purchase_orders": "BIGINT",  # distinct invoices that bought it: what "buy again" ranks by
}


def interactions_sql(as_of: dt.date, config: RecommenderConfig, has_events: bool) -> str:
    """SELECT one row per (customer, product) with a positive implicit-feedback weight before `as_of`.

    weight = sum over lines of decay * (units bought - units returned)
           + decay * (cart_weight * add-to-carts + view_weight * views)
    where decay = 0.5 ** (age in days / half_life_days), floored to a multiple of 1e-15 (DECAY_UNITS), and units are
    capped at `quantity_cap`.
    Pairs whose returns cancel their purchases (weight <= 0) are dropped.
    """
    cut = date_literal(as_of)
    float_decay = (f"EXP(-LN(CAST(2 AS DOUBLE PRECISION)) * ({cut} - CAST({{ts}} AS DATE)) "
                   f"/ CAST({float(config.half_life_days)} AS DOUBLE PRECISION))")
    decay = f"CAST(FLOOR({float_decay} * CAST({DECAY_UNITS} AS DOUBLE PRECISION)) AS BIGINT)"
    cap = int(config.quantity_cap)
    bought = "quantity > 0 AND NOT COALESCE(is_return, FALSE)"
    branches = [
        f"""SELECT customer_id, product_id,
               CASE WHEN {bought} THEN LEAST(quantity, {cap}) ELSE 0 END AS bought,
               CASE WHEN {bought} THEN 0 ELSE LEAST(ABS(quantity), {cap}) END AS returned,
               0 AS carts, 0 AS views,
               {decay.format(ts="invoice_ts")} AS decay,
               CASE WHEN {bought} THEN CAST(invoice_ts AS DATE) END AS bought_on,
               CASE WHEN {bought} THEN CAST(invoice_id AS TEXT) END AS bought_in
        FROM raw.order_lines
        WHERE customer_id IS NOT NULL AND quantity <> 0 AND invoice_ts < CAST({cut} AS TIMESTAMP)
          AND {MERCHANDISE}"""
    ]
    if has_events:
        branches.append(
            f"""SELECT customer_id, product_id, 0, 0,
               CASE WHEN event_type = 'cart' THEN 1 ELSE 0 END,
               CASE WHEN event_type = 'view' THEN 1 ELSE 0 END,
               {decay.format(ts="event_ts")},
               CAST(NULL AS DATE),
               CAST(NULL AS TEXT)
        FROM raw.events
        WHERE customer_id IS NOT NULL AND event_ts < CAST({cut} AS TIMESTAMP) AND {MERCHANDISE}"""
        )
    exact_weight = (
        "SUM((bought - returned) * decay"
        f" + CAST({float(config.cart_weight)} AS DECIMAL(18, 6)) * carts * decay"
        f" + CAST({float(config.view_weight)} AS DECIMAL(18, 6)) * views * decay)"
    )
    union = "\n        UNION ALL\n        ".join(branches)
    return f"""
    WITH lines AS (
        {union}
    )
    SELECT customer_id, product_id,
           CAST(SUM(bought) AS BIGINT) AS purchase_qty,
           CAST(SUM(returned) AS BIGINT) AS return_qty,
           CAST(SUM(carts) AS BIGINT) AS cart_events,
           CAST(SUM(views) AS BIGINT) AS view_events,
           MAX(bought_on) AS last_purchase_date,
           {as_double(exact_weight)} / {DECAY_UNITS} AS weight,
           CAST(COUNT(DISTINCT bought_in) AS BIGINT) AS purchase_orders
    FROM lines
    GROUP BY customer_id, product_id
    HAVING {exact_weight} > 0
    """


def holdout_sql(start: dt.date, end: dt.date) -> str:
    """SELECT the (customer, product) pairs bought in [start, end) and not returned in full there:
    the relevant items of a holdout."""
    bought = "quantity > 0 AND NOT COALESCE(is_return, FALSE)"
    return f"""
    SELECT customer_id, product_id
    FROM raw.order_lines
    WHERE customer_id IS NOT NULL AND quantity <> 0 AND {MERCHANDISE}
      AND invoice_ts >= CAST({date_literal(start)} AS TIMESTAMP) AND invoice_ts < CAST({date_literal(end)} AS TIMESTAMP)
    GROUP BY customer_id, product_id
    HAVING SUM(CASE WHEN {bought} THEN quantity ELSE 0 END) > 0
       AND SUM(CASE WHEN {bought} THEN quantity ELSE -ABS(quantity) END) > 0
    """


def first_sales_sql(as_of: dt.date) -> str:
    """SELECT product_id, first_sold: the day of each product's first sale (to anyone) before `as_of`."""
    bought = "quantity > 0 AND NOT COALESCE(is_return, FALSE)"
    return f"""
    SELECT product_id, MIN(CAST(invoice_ts AS DATE)) AS first_sold
    FROM raw.order_lines
    WHERE {bought} AND product_id IS NOT NULL AND {MERCHANDISE}
      AND invoice_ts < CAST({date_literal(as_of)} AS TIMESTAMP)
    GROUP BY product_id
    """


def active_items_sql(as_of: dt.date, config: RecommenderConfig, has_catalogue: bool) -> str:
    """SELECT the products still sold at `as_of`: a sale in the last `active_item_days` days and,
    when raw.products has rows, present in the catalogue."""
    start = as_of - dt.timedelta(days=config.active_item_days)
    catalogue = (
        "AND product_id IN (SELECT product_id FROM raw.products)" if has_catalogue else ""
    )
    return f"""
    SELECT DISTINCT product_id
    FROM raw.order_lines
    WHERE quantity > 0 AND NOT COALESCE(is_return, FALSE) AND {MERCHANDISE}
      AND invoice_ts >= CAST({date_literal(start)} AS TIMESTAMP) AND invoice_ts < CAST({date_literal(as_of)} AS TIMESTAMP)
      {catalogue}
    """


def build_features(wh: Warehouse, as_of: dt.date) -> list[str]:
    """Write the interaction partitions every step of this as-of date reads (D, D-h and D-2h), and
    the association rules of D (marts.product_associations, see `associations`).

    Each partition holds what was known before its own date, so rewriting an older one (also
    written by an earlier run) gives the same rows: the step is idempotent.
    """
    config = family_config.load()
    with_events = has_events(wh)
    columns = ", ".join(c for c in COLUMNS if c != "as_of_date")
    selects = {
        cutoff: f"SELECT {date_literal(cutoff)}, {columns} FROM ({interactions_sql(cutoff, config, with_events)}) AS i"
        for cutoff in sorted(set(config.cutoffs(as_of).values()))
    }
    # all three partitions or none; read back by key (read_matrix), so row order does not matter
    rebuild_partitions(wh, catalog.USER_ITEM_INTERACTIONS, COLUMNS, selects, unordered=True)
    # frequently bought together at D, for cross-sell offers; consequents only among products still sold
    from ml.families.recommender.associations import build_associations

    build_associations(wh, as_of, config.associations, consequents_sql=active_items_query(wh, as_of, config))
    return [catalog.USER_ITEM_INTERACTIONS, catalog.PRODUCT_ASSOCIATIONS]


# -- reading it back -------------------------------------------------------------------------------
def read_interactions(wh: Warehouse, cutoff: dt.date, config: RecommenderConfig,
                      max_users: int | None = None) -> InteractionMatrix:
    """The matrix of the partition `cutoff` (a hash sample of `max_users` customers, if given)."""
    table = catalog.USER_ITEM_INTERACTIONS
    matrix = read_matrix(wh, table, f"as_of_date = {date_literal(cutoff)}", cutoff, config, max_users=max_users)
    if matrix.shape[0] == 0:
        raise RuntimeError(
            f"{table} has no rows for as_of_date {cutoff}: either build_features has not run for "
            f"this as-of date, or the shop has no customer purchases before {cutoff} (training needs "
            f"history before D - 2 x horizon_days)"
        )
    return matrix


def active_items_query(wh: Warehouse, as_of: dt.date, config: RecommenderConfig) -> str:
    """`active_items_sql`, restricted to the catalogue when raw.products has rows."""
    has_catalogue = wh.table_exists(catalog.RAW_PRODUCTS) and wh.row_count(catalog.RAW_PRODUCTS) > 0
    return active_items_sql(as_of, config, has_catalogue)


def active_products(wh: Warehouse, as_of: dt.date, config: RecommenderConfig) -> list[str]:
    return wh.query(active_items_query(wh, as_of, config))["product_id"].astype(str).tolist()

