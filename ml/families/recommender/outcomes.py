"""The recommendations for D against what customers bought in [D, D + 30 days), beside simple lists.

Population: customers with a list in marts.user_recommendations for D who bought at least one product
(a non-return line) in the window; a customer's relevant items are the distinct products bought there.
The model's list is the mart's rows by `rank` (top 10). Every baseline list is built from the history
before D only (`wh`), so it can only hold products sold before D:

  popularity_30d   products with the most distinct buyers in [D - 30 days, D), the same list for everyone
                   (padded with popularity_all when fewer than 10 products sold in those days)
  popularity_all   products with the most distinct buyers over the whole history
  repeat_purchase  the customer's own products by number of orders, ties by the latest purchase, padded
                   with popularity_30d (the strongest simple baseline in grocery-like shops)

Ties between products are broken by product_id. NDCG and recall are `metrics.ranking_metrics` (binary
relevance), the same definitions the offline evaluation reports.
"""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ml import catalog
from ml.data import read_order_lines
from ml.families.recommender.config import NAME
from ml.families.recommender.metrics import ranking_metrics
from ml.outcomes import Outcome, data_end, mart_partition, realized_lines, window_covered, window_end
from ml.warehouse import Warehouse

HORIZON_DAYS = 30
K = 10
RECENT_DAYS = 30
METRICS = {"ndcg": f"ndcg_at_{K}_{HORIZON_DAYS}d", "recall": f"recall_at_{K}_{HORIZON_DAYS}d"}
BASELINES = ("popularity_30d", "popularity_all", "repeat_purchase")


def _bought(lines: pd.DataFrame) -> pd.DataFrame:
    """Purchase lines only (no return or cancellation), ids as strings."""
    keep = lines[~lines["is_return"].astype(bool) & (lines["quantity"].astype(float) > 0)]
    return keep.assign(customer_id=keep["customer_id"].astype(str), product_id=keep["product_id"].astype(str))


def popular(bought: pd.DataFrame, k: int = K) -> list[str]:
    """The k products with the most distinct buyers (ties: product_id)."""
    buyers = bought.groupby("product_id")["customer_id"].nunique().rename("buyers").reset_index()
    ranked = buyers.sort_values(["buyers", "product_id"], ascending=[False, True], kind="stable")
    return ranked["product_id"].head(k).tolist()


def _padded(own: list[str], pad: list[str], k: int = K) -> list[str]:
    return (own + [p for p in pad if p not in set(own)])[:k]


def repeat_lists(bought: pd.DataFrame, customers: list[str], pad: list[str], k: int = K) -> dict[str, list[str]]:
    """Each customer's own products by distinct orders, then latest purchase, then product_id; padded."""
    mine = bought[bought["customer_id"].isin(customers)]
    per = mine.groupby(["customer_id", "product_id"]).agg(
        orders=("invoice_id", "nunique"), last=("invoice_ts", "max")).reset_index()
    per = per.sort_values(["customer_id", "orders", "last", "product_id"], ascending=[True, False, False, True],
                          kind="stable")
    own = per.groupby("customer_id")["product_id"].agg(list).to_dict()
    return {c: _padded(own.get(c, [])[:k], pad, k) for c in customers}


def baseline_lists(history: pd.DataFrame, as_of: dt.date, customers: list[str]) -> dict[str, dict[str, list[str]]]:
    """Per baseline, a top-K list for each customer, from purchase lines before `as_of` only."""
    bought = _bought(history[pd.to_datetime(history["invoice_ts"]) < pd.Timestamp(as_of)])
    recent = bought[pd.to_datetime(bought["invoice_ts"]) >= pd.Timestamp(as_of - dt.timedelta(days=RECENT_DAYS))]
    overall = popular(bought)
    recent_list = _padded(popular(recent), overall)
    return {
        "popularity_30d": dict.fromkeys(customers, recent_list),
        "popularity_all": dict.fromkeys(customers, overall),
        "repeat_purchase": repeat_lists(bought, customers, recent_list),
    }


def score_lists(lists: dict[str, list[str]], relevant: dict[str, set[str]], customers: list[str]) -> dict[str, float]:
    """ranking_metrics at K over `customers`: lists and relevant products indexed on one shared item space."""
    items = sorted({p for c in customers for p in (*lists.get(c, []), *relevant[c])})
    column = {p: j for j, p in enumerate(items)}
    recommended = np.full((len(customers), K), -1, dtype=np.int64)
    rows, cols = [], []
    for i, customer in enumerate(customers):
        ids = [column[p] for p in lists.get(customer, [])[:K]]
        recommended[i, : len(ids)] = ids
        rows += [i] * len(relevant[customer])
        cols += [column[p] for p in relevant[customer]]
    relevance = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(customers), max(len(items), 1)))
    return ranking_metrics(recommended, relevance, K)


def _outcomes(values: dict[str, dict[str, float]], n: int, note: str, details: dict) -> list[Outcome]:
    return [Outcome(NAME, metric, values["model"][key], {b: values[b][key] for b in BASELINES}, n, True,
                    note, details) for key, metric in METRICS.items()]


def outcomes(wh: Warehouse, truth: Warehouse, as_of: dt.date) -> list[Outcome]:
    mart = mart_partition(wh, catalog.USER_RECOMMENDATIONS, as_of)
    if mart is None:
        return []
    end = window_end(as_of, HORIZON_DAYS)
    nan = {key: math.nan for key in METRICS}
    if not window_covered(truth, as_of, HORIZON_DAYS):
        last = data_end(truth)
        last_day = last - dt.timedelta(days=1) if last else None
        note = f"the export ends on {last_day}, before D+{HORIZON_DAYS}d = {end}: the window is not complete"
        return _outcomes(dict.fromkeys(("model", *BASELINES), nan), 0, note, {})
    mart = mart.assign(customer_id=mart["customer_id"].astype(str), product_id=mart["product_id"].astype(str))
    model = mart.sort_values(["customer_id", "rank"], kind="stable").groupby("customer_id")["product_id"].agg(list)
    window = _bought(realized_lines(truth, as_of, end))
    window = window[window["customer_id"].isin(model.index)]
    relevant = window.groupby("customer_id")["product_id"].agg(set).to_dict()
    customers = sorted(relevant)
    details = {"window": f"[{as_of}, {end})", "k": K, "customers_with_lists": int(len(model))}
    if not customers:
        note = f"no customer with a list for {as_of} bought anything in [{as_of}, {end})"
        return _outcomes(dict.fromkeys(("model", *BASELINES), nan), 0, note, details)
    lists = {"model": model.to_dict(), **baseline_lists(read_order_lines(wh, before=as_of, customers_only=True),
                                                        as_of, customers)}
    scored = {name: score_lists(per_customer, relevant, customers) for name, per_customer in lists.items()}
    values = {name: {key: m[f"{key}_at_{K}"] for key in METRICS} for name, m in scored.items()}
    note = (f"{len(customers)} of {len(model)} customers with a list bought in [{as_of}, {end}); relevant = the "
            "distinct products each bought (returns excluded); baselines from purchases before D")
    return _outcomes(values, len(customers), note, details)
