"""Point-in-time customer features, computed by the warehouse.

History for as-of date D is every row with a timestamp strictly before D; nothing on or after D can
reach a feature. The SQL is written once for both DuckDB and PostgreSQL.
"""
from __future__ import annotations

import datetime as dt

from ml import catalog
from ml.data import has_events, merchandise_predicate
from ml.sql import as_double, money, rebuild_partitions, sql_literal
from ml.warehouse import Warehouse

USER_FEATURES = catalog.USER_FEATURES
ACTIVE_DAYS = 365  # an active customer bought something in the last year
RECENT_DAYS = 90
CART_CONVERSION_DAYS = 7

USER_FEATURE_COLUMNS = {
    "customer_id": "TEXT",
    "as_of_date": "DATE",
    "recency_days": "BIGINT",  # days since the last purchase
    "frequency": "BIGINT",  # distinct purchase invoices
    "monetary": "DOUBLE PRECISION",  # net spend: purchases minus returns
    "tenure_days": "BIGINT",  # days since the first purchase
    "avg_order_value": "DOUBLE PRECISION",  # gross spend per purchase invoice
    "distinct_products": "BIGINT",
    "distinct_categories": "BIGINT",  # 0 when the catalogue has no categories
    "return_rate": "DOUBLE PRECISION",  # returned value / gross purchase value
    "orders_90d": "BIGINT",
    "spend_90d": "DOUBLE PRECISION",
    "views": "BIGINT",  # browse events (0 when the shop has none)
    "carts": "BIGINT",
    "cart_to_purchase": "DOUBLE PRECISION",  # share of carts bought within 7 days; NULL without events
    "is_active": "BOOLEAN",
}


def user_features_sql(as_of: dt.date, with_events: bool) -> str:
    """SELECT producing one row per customer with purchase history before `as_of`."""
    d = sql_literal(as_of)
    events_cte = events_join = ""
    events_cols = "0 AS views, 0 AS carts, CAST(NULL AS DOUBLE PRECISION) AS cart_to_purchase"
    if with_events:
        events_cte = f""",
ev AS (
    SELECT customer_id, event_type, product_id, event_ts FROM raw.events
    WHERE event_ts < {d} AND customer_id IS NOT NULL
),
ev_counts AS (
    SELECT customer_id,
           SUM(CASE WHEN event_type = 'view' THEN 1 ELSE 0 END) AS views,
           SUM(CASE WHEN event_type = 'cart' THEN 1 ELSE 0 END) AS carts
    FROM ev GROUP BY customer_id
),
converted AS (
    SELECT c.customer_id, COUNT(DISTINCT CAST(c.event_ts AS TEXT) || c.product_id) AS converted_carts
    FROM ev c JOIN purchases p
      ON p.customer_id = c.customer_id AND p.product_id = c.product_id
     AND p.invoice_ts >= c.event_ts AND p.invoice_ts < c.event_ts + INTERVAL '{CART_CONVERSION_DAYS} days'
    WHERE c.event_type = 'cart'
    GROUP BY c.customer_id
)"""
        events_join = """
LEFT JOIN ev_counts e ON e.customer_id = b.customer_id
LEFT JOIN converted cv ON cv.customer_id = b.customer_id"""
        events_cols = """COALESCE(e.views, 0) AS views, COALESCE(e.carts, 0) AS carts,
       CASE WHEN COALESCE(e.carts, 0) = 0 THEN NULL
            ELSE CAST(COALESCE(cv.converted_carts, 0) AS DOUBLE PRECISION) / e.carts END AS cart_to_purchase"""
    return f"""
WITH lines AS (
    SELECT customer_id, invoice_id, product_id, quantity, unit_price, invoice_ts, is_return,
           {money('unit_price', 'quantity')} AS amount
    FROM raw.order_lines
    WHERE customer_id IS NOT NULL AND invoice_ts < {d} AND {merchandise_predicate()}
),
purchases AS (SELECT * FROM lines WHERE NOT is_return),
base AS (
    SELECT customer_id, COUNT(DISTINCT invoice_id) AS frequency, MIN(invoice_ts) AS first_ts,
           MAX(invoice_ts) AS last_ts, SUM(amount) AS gross_spend, COUNT(DISTINCT product_id) AS distinct_products
    FROM purchases GROUP BY customer_id
),
returned AS (SELECT customer_id, SUM(-amount) AS returned_value FROM lines WHERE is_return GROUP BY customer_id),
categories AS (
    SELECT p.customer_id, COUNT(DISTINCT pr.category) AS distinct_categories
    FROM purchases p LEFT JOIN raw.products pr ON pr.product_id = p.product_id GROUP BY p.customer_id
),
recent AS (
    SELECT customer_id, COUNT(DISTINCT invoice_id) AS orders_90d, SUM(amount) AS spend_90d
    FROM purchases WHERE invoice_ts >= {d} - INTERVAL '{RECENT_DAYS} days' GROUP BY customer_id
){events_cte}
SELECT b.customer_id,
       {d} AS as_of_date,
       CAST({d} - CAST(b.last_ts AS DATE) AS BIGINT) AS recency_days,
       b.frequency,
       {as_double('b.gross_spend - COALESCE(r.returned_value, 0)')} AS monetary,
       CAST({d} - CAST(b.first_ts AS DATE) AS BIGINT) AS tenure_days,
       {as_double('b.gross_spend')} / b.frequency AS avg_order_value,
       b.distinct_products,
       COALESCE(c.distinct_categories, 0) AS distinct_categories,
       CASE WHEN b.gross_spend > 0 THEN {as_double('COALESCE(r.returned_value, 0)')} / {as_double('b.gross_spend')}
            ELSE 0 END AS return_rate,
       COALESCE(rc.orders_90d, 0) AS orders_90d,
       {as_double('COALESCE(rc.spend_90d, 0)')} AS spend_90d,
       {events_cols},
       b.last_ts >= {d} - INTERVAL '{ACTIVE_DAYS} days' AS is_active
FROM base b
LEFT JOIN returned r ON r.customer_id = b.customer_id
LEFT JOIN categories c ON c.customer_id = b.customer_id
LEFT JOIN recent rc ON rc.customer_id = b.customer_id{events_join}
"""


def build_user_features(wh: Warehouse, as_of: dt.date) -> int:
    """Replace the as-of partition of features.user_features in one transaction; return its rows."""
    select = user_features_sql(as_of, with_events=has_events(wh))
    # read back ORDER BY customer_id, so insertion order need not be kept
    rebuild_partitions(wh, USER_FEATURES, USER_FEATURE_COLUMNS, {as_of: select}, unordered=True)
    return wh.row_count(USER_FEATURES, f"as_of_date = {sql_literal(as_of)}")


def read_user_features(wh: Warehouse, as_of: dt.date, active_only: bool = False):
    where = f"as_of_date = {sql_literal(as_of)}" + (" AND is_active" if active_only else "")
    return wh.query(f"SELECT * FROM {USER_FEATURES} WHERE {where} ORDER BY customer_id")
