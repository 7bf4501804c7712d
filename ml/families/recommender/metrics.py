"""Ranking metrics at k with binary relevance, averaged over users that have something relevant.

Definitions (hand-checked in tests/unit/recommender/test_metrics.py):
  precision@k = hits in the top k / k
  recall@k    = hits in the top k / number of relevant items
  ndcg@k      = sum over hits of 1/log2(rank+1), divided by the same sum for an ideal list
                of min(k, relevant) hits
  map@k       = sum over hit ranks r of precision@r, divided by min(k, relevant)
  coverage    = distinct items recommended to anyone / items that could be recommended
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

METRIC_NAMES = ("precision", "recall", "ndcg", "map")


def hit_matrix(recommended: np.ndarray, relevance: sp.csr_matrix) -> np.ndarray:
    """Boolean (users x k): whether the item at each rank is relevant to that user.

    `recommended` holds item columns, -1 where a list is shorter than k.
    """
    recommended = np.asarray(recommended, dtype=np.int64)
    if recommended.ndim != 2 or recommended.shape[0] != relevance.shape[0]:
        raise ValueError(
            f"recommended has shape {recommended.shape}; expected ({relevance.shape[0]}, k)"
        )
    coo = relevance.tocoo()
    n_items = np.int64(relevance.shape[1])
    keys = np.sort(coo.row.astype(np.int64) * n_items + coo.col.astype(np.int64))
    rows = np.arange(recommended.shape[0], dtype=np.int64)[:, None]
    wanted = rows * n_items + recommended
    return np.isin(wanted, keys) & (recommended >= 0)


def ranking_metrics(recommended: np.ndarray, relevance: sp.csr_matrix, k: int) -> dict[str, float]:
    """Mean precision/recall/ndcg/map at k over users with at least one relevant item.

    Returns the four metrics named `<metric>_at_<k>` plus `n_users` (users averaged over).
    """
    if k <= 0:
        raise ValueError("k must be positive")
    recommended = np.asarray(recommended, dtype=np.int64)[:, :k]
    n_relevant = np.diff(relevance.indptr)
    users = n_relevant > 0
    names = [f"{m}_at_{k}" for m in METRIC_NAMES]
    if not users.any():
        return {**dict.fromkeys(names, 0.0), "n_users": 0}
    hits = hit_matrix(recommended, relevance)[users].astype(np.float64)
    n_relevant = n_relevant[users].astype(np.float64)
    width = hits.shape[1]
    discounts = 1.0 / np.log2(np.arange(2, width + 2))
    ideal_hits = np.minimum(n_relevant, k)
    ideal_dcg = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))[ideal_hits.astype(int) - 1]
    precision_at_rank = np.cumsum(hits, axis=1) / np.arange(1, width + 1)
    values = {
        "precision": hits.sum(axis=1) / k,
        "recall": hits.sum(axis=1) / n_relevant,
        "ndcg": (hits * discounts).sum(axis=1) / ideal_dcg,
        "map": (precision_at_rank * hits).sum(axis=1) / ideal_hits,
    }
    out = {f"{m}_at_{k}": float(values[m].mean()) for m in METRIC_NAMES}
    out["n_users"] = int(users.sum())
    return out


def catalogue_coverage(recommended: np.ndarray, n_recommendable: int) -> float:
    """Share of recommendable items that appear in at least one list."""
    if n_recommendable <= 0:
        return 0.0
    items = np.unique(np.asarray(recommended))
    return float((items >= 0).sum() / n_recommendable)
