"""Scoring: top-N per active customer into marts.user_recommendations; customers the model never saw
get the popular products of their segment (marts.user_segments), else overall (see `fallback`);
every row says why (`reasons`).

The SQL is plain ANSI read alike by DuckDB and PostgreSQL; everything strictly before the as-of date.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pandas as pd

from ml import catalog
from ml.families.base import ModelRef
from ml.families.recommender import config as family_config
from ml.families.recommender import features
from ml.families.recommender.associations import read_rules
from ml.families.recommender.content import read_catalogue
from ml.families.recommender.fallback import fallback_recommendations
from ml.families.recommender.model import Recommender
from ml.families.recommender.reasons import Explainer
from ml.sql import date_literal
from ml.warehouse import Warehouse

SEGMENT_COLUMN = "segment_name"  # of catalog.USER_SEGMENTS
_BOUGHT = "quantity > 0 AND NOT COALESCE(is_return, FALSE)"


def active_customers_sql(as_of: dt.date, active_days: int) -> str:
    """SELECT customer_id of every customer with a purchase in the `active_days` before `as_of`."""
    start = as_of - dt.timedelta(days=active_days)
    return f"""
    SELECT DISTINCT customer_id
    FROM raw.order_lines
    WHERE customer_id IS NOT NULL AND {_BOUGHT} AND {features.MERCHANDISE}
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


# -- the step --------------------------------------------------------------------------------------
def _segments(wh: Warehouse, as_of: dt.date) -> pd.DataFrame | None:
    segments = catalog.USER_SEGMENTS
    if not wh.table_exists(segments) or SEGMENT_COLUMN not in wh.columns(segments):
        return None
    frame = wh.query(
        f"SELECT customer_id, CAST({SEGMENT_COLUMN} AS TEXT) AS segment FROM {segments} "
        f"WHERE as_of_date = {date_literal(as_of)}"
    )
    return None if frame.empty else frame


def recommendation_chunks(
    recommender: Recommender,
    customers: list[str],
    active_products: list[str],
    overall: pd.DataFrame,
    by_segment: pd.DataFrame | None,
    segments: pd.DataFrame | None,
    chunk: int,
    explainer: Explainer | None = None,
) -> Iterator[pd.DataFrame]:
    """Top-N rows per customer, `chunk` customers at a time: the model for customers it knows, the
    fallback for the others, each row with its reason (`explainer`; default: no rules, no catalogue).
    Memory stays flat whatever the number of customers."""
    k = recommender.config.top_n
    explainer = explainer or Explainer.build(recommender)
    empty = pd.DataFrame({"customer_id": pd.Series(dtype=object), "rank": pd.Series(dtype="int64"),
                          "product_id": pd.Series(dtype=object), "score": pd.Series(dtype="float64"),
                          "source": pd.Series(dtype=object), "reason": pd.Series(dtype=object)})
    if not customers:
        yield empty  # an empty partition is still a result: no active customer on this date
        return
    for start in range(0, len(customers), chunk):
        batch = pd.Series(customers[start : start + chunk], dtype=object).astype(str)
        known = recommender.user_index(batch) >= 0
        parts = [empty, recommender.recommend(batch[known], k=k, active_products=active_products)]
        if (~known).any():
            unseen = pd.DataFrame({"customer_id": batch[~known].to_numpy()})
            if segments is not None:
                unseen = unseen.merge(segments, on="customer_id", how="left")
            parts.append(fallback_recommendations(unseen, overall, k, by_segment))
        frame = pd.concat([p for p in parts if not p.empty] or [empty], ignore_index=True)
        frame["reason"] = explainer.explain(frame, recommender)
        yield frame.astype({"rank": "int64", "score": "float64"})


def _active_customers(wh: Warehouse, as_of: dt.date, active_days: int) -> list[str]:
    """Active customers as the rest of the platform counts them (features.user_features.is_active);
    the same rule straight from the order lines when that partition has not been built."""
    where = f"as_of_date = {date_literal(as_of)}"
    if wh.table_exists(catalog.USER_FEATURES) and wh.row_count(catalog.USER_FEATURES, where) > 0:
        sql = f"SELECT customer_id FROM {catalog.USER_FEATURES} WHERE {where} AND is_active ORDER BY customer_id"
    else:
        sql = active_customers_sql(as_of, active_days)
    return wh.query(sql)["customer_id"].astype(str).tolist()


def score(wh: Warehouse, as_of: dt.date, champion: ModelRef) -> int:
    from ml import marts
    from ml.features import ACTIVE_DAYS
    from ml.pyfunc import load_predictor

    config = family_config.load()
    recommender = load_predictor(champion.uri)
    active_sql = features.active_items_query(wh, as_of, config)
    active_products = wh.query(active_sql)["product_id"].astype(str).tolist()
    customers = _active_customers(wh, as_of, ACTIVE_DAYS)
    overall = wh.query(popularity_sql(as_of, config.recent_days, active_sql))
    segments = _segments(wh, as_of)
    by_segment = None
    if segments is not None:
        by_segment = wh.query(
            segment_popularity_sql(as_of, config.recent_days, active_sql, catalog.USER_SEGMENTS, SEGMENT_COLUMN)
        )
    explainer = Explainer.build(recommender, read_rules(wh, as_of), read_catalogue(wh))
    chunks = recommendation_chunks(recommender, customers, active_products, overall, by_segment, segments,
                                   chunk=config.score_chunk_customers, explainer=explainer)
    return marts.write_mart(wh, catalog.USER_RECOMMENDATIONS, chunks, as_of, champion)
