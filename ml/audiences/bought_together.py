"""Cross-sell offers for audiences: products often bought together with the ones a customer bought last.

For each customer, the `RECENT_PRODUCTS` products bought most recently (features.user_item_interactions:
latest purchase day first, then the larger weight) are the antecedents; the consequents of their rules
in marts.product_associations, each ranked by its best lift, are the offers, leaving out anything the
customer has already bought. Both tables are read at their latest partition on or before the as-of
date, in the warehouse; only the top `count` offers per customer come back.
"""
from __future__ import annotations

import datetime as dt
import logging

import pandas as pd

from ml import catalog
from ml.sql import date_literal
from ml.warehouse import Warehouse

log = logging.getLogger(__name__)

# The latest few purchases say what a customer is "completing"; older ones are already complete, or
# were another need.
RECENT_PRODUCTS = 3


def latest_partition(wh: Warehouse, table: str, as_of: dt.date) -> dt.date | None:
    if not wh.table_exists(table):
        return None
    latest = wh.scalar(f"SELECT MAX(as_of_date) FROM {table} WHERE as_of_date <= {date_literal(as_of)}")
    return None if latest is None or pd.isna(latest) else pd.Timestamp(latest).date()


def bought_together_sql(interactions_as_of: dt.date, rules_as_of: dt.date, count: int,
                        recent: int = RECENT_PRODUCTS) -> str:
    """SELECT customer_id, product_id, offer_rank (1 = highest lift): at most `count` offers each."""
    return f"""
    WITH bought AS (
        SELECT customer_id, product_id,
               ROW_NUMBER() OVER (PARTITION BY customer_id
                                  ORDER BY last_purchase_date DESC, weight DESC, product_id) AS recency
        FROM {catalog.USER_ITEM_INTERACTIONS}
        WHERE as_of_date = {date_literal(interactions_as_of)} AND customer_id IS NOT NULL
          AND purchase_qty > 0 AND last_purchase_date IS NOT NULL
    ),
    offers AS (
        SELECT b.customer_id, r.consequent_product_id AS product_id, MAX(r.lift) AS lift
        FROM bought b
        JOIN {catalog.PRODUCT_ASSOCIATIONS} r
          ON r.antecedent_product_id = b.product_id AND r.as_of_date = {date_literal(rules_as_of)}
        WHERE b.recency <= {int(recent)}
        GROUP BY b.customer_id, r.consequent_product_id
    ),
    ranked AS (
        SELECT o.customer_id, o.product_id,
               ROW_NUMBER() OVER (PARTITION BY o.customer_id ORDER BY o.lift DESC, o.product_id) AS offer_rank
        FROM offers o
        WHERE NOT EXISTS (SELECT 1 FROM bought b WHERE b.customer_id = o.customer_id AND b.product_id = o.product_id)
    )
    SELECT customer_id, product_id, offer_rank FROM ranked WHERE offer_rank <= {int(count)}
    """


def read_bought_together(wh: Warehouse, as_of: dt.date, count: int) -> pd.DataFrame | None:
    """customer_id, product_id, rank of each customer's best `count` cross-sell offers; None when the
    rules or the interactions are missing (only the audiences that need them go quiet)."""
    dates = {table: latest_partition(wh, table, as_of)
             for table in (catalog.USER_ITEM_INTERACTIONS, catalog.PRODUCT_ASSOCIATIONS)}
    missing = [table for table, day in dates.items() if day is None]
    if missing:
        log.warning("%s: no partition on or before %s; bought-together offers match no one", missing, as_of)
        return None
    frame = wh.query(bought_together_sql(dates[catalog.USER_ITEM_INTERACTIONS], dates[catalog.PRODUCT_ASSOCIATIONS],
                                         count))
    return frame.rename(columns={"offer_rank": "rank"})
