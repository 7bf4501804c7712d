"""Drift inputs: the (customer, product) interactions the champion's final fit read (its as-of
partition) and those the scored date's partition holds; the product column is left out (new products
are the catalogue's news, not drift) and the recency of each pair is given in days."""
from __future__ import annotations

import datetime as dt

from ml import catalog
from ml.drift.compare import hash_sample_sql
from ml.families.base import DriftFrames
from ml.families.recommender import features
from ml.sql import date_literal

NUMERIC = ("purchase_qty", "return_qty", "cart_events", "view_events", "weight", "purchase_orders", "days_since_purchase")


def _read(wh, day: dt.date):
    table = catalog.USER_ITEM_INTERACTIONS
    if not wh.table_exists(table) or not wh.row_count(table, f"as_of_date = {date_literal(day)}"):
        features.build_features(wh, day)  # point in time: the rows that day's training read
    where = f"as_of_date = {date_literal(day)}"
    sample = hash_sample_sql("customer_id || '|' || product_id", wh.row_count(table, where))
    return wh.query(f"SELECT purchase_qty, return_qty, cart_events, view_events, weight, purchase_orders, "
                    f"CAST({date_literal(day)} - last_purchase_date AS DOUBLE PRECISION) AS days_since_purchase "
                    f"FROM {table} WHERE {where} AND {sample}")


def drift_inputs(wh, trained_as_of: dt.date, as_of: dt.date) -> DriftFrames:
    return DriftFrames(_read(wh, trained_as_of), _read(wh, as_of), list(NUMERIC),
                       reference_note=f"interactions before {trained_as_of} (the final fit's)")
