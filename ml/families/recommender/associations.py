"""Frequently bought together: single-product pair rules over baskets, mined by the warehouse into
marts.product_associations (one partition per as-of date, lineage: the MLflow run of the mining).

A basket is a non-return invoice dated in [D - lookback_days, D), reduced to its distinct
merchandise among the `max_products` products in most baskets; baskets with fewer than two of
those (no pair) or more than `max_basket_products` (stock orders) are left out. Over the N baskets
that remain, for every ordered pair A -> C of products bought together:

    support    = baskets with A and C / N
    confidence = support(A and C) / support(A)
    lift       = confidence / support(C)

kept where support, confidence and lift reach the configured minimums and C is still sold at D,
at most `max_rules_per_product` consequents per antecedent (highest lift first). These are the
length-2 rules FP-growth finds on the same baskets (`tests/unit/recommender/test_associations.py`
checks them against mlxtend), counted with one self-join instead: pairs are all a single-product
rule needs, and the join over at most `max_products` products stays bounded where an in-memory
itemset search over a huge catalogue does not. Plain SQL that DuckDB and PostgreSQL read alike.
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass

import pandas as pd

from ml import catalog
from ml.families.recommender.config import AssociationConfig
from ml.families.recommender.features import MERCHANDISE
from ml.sql import as_double, date_literal, rebuild_partitions, sql_literal
from ml.warehouse import Warehouse

TABLE = catalog.PRODUCT_ASSOCIATIONS
# marts.product_associations: column -> SQL type, in table order (the mart's columns, then lineage)
COLUMNS = {
    "antecedent_product_id": "TEXT",
    "consequent_product_id": "TEXT",
    "support": "DOUBLE PRECISION",
    "confidence": "DOUBLE PRECISION",
    "lift": "DOUBLE PRECISION",
    "as_of_date": "DATE",
    "run_id": "TEXT",
}
_BOUGHT = "quantity > 0 AND NOT COALESCE(is_return, FALSE)"


def baskets_sql(as_of: dt.date, config: AssociationConfig) -> str:
    """`WITH ...` defining `items` (basket, product_id: the baskets mined) and `n` (their count)."""
    start = as_of - dt.timedelta(days=config.lookback_days)
    cap = f" AND COUNT(*) <= {int(config.max_basket_products)}" if config.max_basket_products > 0 else ""
    return f"""
    WITH lines AS (
        SELECT DISTINCT CAST(invoice_id AS TEXT) AS basket, CAST(product_id AS TEXT) AS product_id
        FROM raw.order_lines
        WHERE {_BOUGHT} AND product_id IS NOT NULL AND {MERCHANDISE}
          AND invoice_ts >= CAST({date_literal(start)} AS TIMESTAMP)
          AND invoice_ts < CAST({date_literal(as_of)} AS TIMESTAMP)
    ),
    top_products AS (
        SELECT product_id FROM lines GROUP BY product_id
        ORDER BY COUNT(*) DESC, product_id LIMIT {int(config.max_products)}
    ),
    kept AS (
        SELECT l.basket, l.product_id FROM lines l JOIN top_products t ON t.product_id = l.product_id
    ),
    baskets AS (
        SELECT basket FROM kept GROUP BY basket HAVING COUNT(*) >= 2{cap}
    ),
    items AS (
        SELECT k.basket, k.product_id FROM kept k JOIN baskets b ON b.basket = k.basket
    ),
    n AS (
        SELECT COUNT(*) AS baskets FROM baskets
    )"""


def basket_counts_sql(as_of: dt.date, config: AssociationConfig) -> str:
    """SELECT baskets, products: how many baskets and distinct products the rules are mined over."""
    return f"""{baskets_sql(as_of, config)}
    SELECT (SELECT baskets FROM n) AS baskets, (SELECT COUNT(DISTINCT product_id) FROM items) AS products
    """


def pair_rules_sql(as_of: dt.date, config: AssociationConfig, consequents_sql: str | None = None) -> str:
    """SELECT antecedent_product_id, consequent_product_id, support, confidence, lift: the rules above.

    `consequents_sql` (a SELECT of product_id), when given, keeps only rules recommending one of them.
    """
    sellable = f"AND p.consequent IN ({consequents_sql})" if consequents_sql else ""
    n = as_double("n.baskets")
    return f"""{baskets_sql(as_of, config)},
    singles AS (
        SELECT product_id, COUNT(*) AS baskets FROM items GROUP BY product_id
    ),
    pairs AS (
        SELECT a.product_id AS antecedent, c.product_id AS consequent, COUNT(*) AS together
        FROM items a JOIN items c ON c.basket = a.basket AND c.product_id <> a.product_id
        GROUP BY a.product_id, c.product_id
    ),
    rules AS (
        SELECT p.antecedent, p.consequent,
               {as_double("p.together")} / {n} AS support,
               {as_double("p.together")} / {as_double("sa.baskets")} AS confidence,
               ({as_double("p.together")} / {as_double("sa.baskets")}) / ({as_double("sc.baskets")} / {n}) AS lift
        FROM pairs p
        JOIN singles sa ON sa.product_id = p.antecedent
        JOIN singles sc ON sc.product_id = p.consequent
        CROSS JOIN n
        WHERE 1 = 1 {sellable}
    ),
    ranked AS (
        SELECT antecedent, consequent, support, confidence, lift,
               ROW_NUMBER() OVER (PARTITION BY antecedent ORDER BY lift DESC, confidence DESC, consequent) AS position
        FROM rules
        WHERE support >= {sql_literal(float(config.min_support))}
          AND confidence >= {sql_literal(float(config.min_confidence))}
          AND lift >= {sql_literal(float(config.min_lift))}
    )
    SELECT antecedent AS antecedent_product_id, consequent AS consequent_product_id, support, confidence, lift
    FROM ranked
    WHERE position <= {int(config.max_rules_per_product)}
    """


@dataclass(frozen=True)
class MinedRules:
    run_id: str
    rules: int
    baskets: int
    products: int
    seconds: float


def build_associations(wh: Warehouse, as_of: dt.date, config: AssociationConfig,
                       consequents_sql: str | None = None) -> MinedRules:
    """Mine the rules of `as_of` into its partition of marts.product_associations, atomically, in
    one MLflow run (params: the thresholds; metrics: rules, baskets, products, seconds) whose id
    every row carries."""
    import mlflow

    from ml import registry, tracking
    from ml.families.recommender.config import NAME

    with tracking.start_run(NAME, as_of, run_name=f"associations-{as_of}",
                            tags={registry.KIND_TAG: "associations"}) as run:
        mlflow.log_params(asdict(config))
        started = time.monotonic()
        select = (f"SELECT r.antecedent_product_id, r.consequent_product_id, r.support, r.confidence, r.lift, "
                  f"{date_literal(as_of)}, {sql_literal(run.info.run_id)} "
                  f"FROM ({pair_rules_sql(as_of, config, consequents_sql)}) AS r")
        rebuild_partitions(wh, TABLE, COLUMNS, {as_of: select}, unordered=True)
        seconds = time.monotonic() - started
        counts = wh.query(basket_counts_sql(as_of, config))
        mined = MinedRules(run.info.run_id, wh.row_count(TABLE, f"as_of_date = {date_literal(as_of)}"),
                           int(counts.at[0, "baskets"]), int(counts.at[0, "products"]), seconds)
        mlflow.log_metrics({"n_rules": mined.rules, "baskets": mined.baskets, "products": mined.products,
                            "seconds": round(seconds, 3)})
    return mined


def read_rules(wh: Warehouse, as_of: dt.date) -> pd.DataFrame | None:
    """The rules of the latest partition on or before `as_of` (antecedent, consequent, lift), or None."""
    if not wh.table_exists(TABLE):
        return None
    latest = wh.scalar(f"SELECT MAX(as_of_date) FROM {TABLE} WHERE as_of_date <= {date_literal(as_of)}")
    if latest is None or pd.isna(latest):
        return None
    return wh.query(f"SELECT antecedent_product_id, consequent_product_id, lift FROM {TABLE} "
                    f"WHERE as_of_date = {date_literal(latest)}")
