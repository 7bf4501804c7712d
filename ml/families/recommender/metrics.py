"""Ranking metrics at k with binary relevance, averaged over users that have something relevant.

Definitions (hand-checked in tests/unit/recommender/test_metrics.py):
  precision@k = hits in the top k / k
  recall@k    = hits in the top k / number of relevant items
  ndcg@k      = sum over hits of 1/log2(rank+1), divided by the same sum for an ideal list
                of min(k, relevant) hits
  map@k       = sum over hit ranks r of precision@r, divided by min(k, relevant)
  coverage    = distinct items recommended to anyone / items that could be recommended (Microsoft
                Recommenders' catalog_coverage, over the products still sold rather than all trained on)

Beyond accuracy, over every recommended slot of the users evaluated (Microsoft Recommenders'
definitions, after Castells et al., "Novelty and diversity metrics for recommender systems", 2011):
  diversity   = mean over lists of >= 2 items of the mean over their pairs of 1 - cosine(i, j),
                on the item feature vectors of the content model (`content.content_vectors`: words,
                category, price band; Recommenders' `item_feature_vector` measure)
  novelty     = mean over slots of -log2 p(i), p(i) = users who interacted with i in training /
                user-item interactions in training; an item nobody interacted with counts as one
  new share   = slots holding a new product (first sold within `new_product_days` of the cut-off)
                / slots filled
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

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


def intra_list_diversity(recommended: np.ndarray, vectors: sp.csr_matrix) -> float:
    """Mean intra-list distance (1 - cosine) over lists with at least two items; `vectors` holds one
    row per item column (a zero row is similar to nothing). 0.0 when no list has two items."""
    recommended = np.asarray(recommended, dtype=np.int64)
    unit = normalize(sp.csr_matrix(vectors, dtype=np.float64))
    n_rows, k = recommended.shape
    distance, pairs = np.zeros(n_rows), np.zeros(n_rows)
    # One pass per pair of ranks (k(k-1)/2 of them), each over all lists at once, rather than a
    # small product per user: 100k users stay a few sparse row gathers.
    for a in range(k):
        for b in range(a + 1, k):
            both = (recommended[:, a] >= 0) & (recommended[:, b] >= 0)
            if not both.any():
                continue
            left, right = unit[recommended[both, a]], unit[recommended[both, b]]
            similarity = np.asarray(left.multiply(right).sum(axis=1)).ravel()
            distance[both] += 1.0 - similarity
            pairs[both] += 1
    lists = pairs > 0
    return float((distance[lists] / pairs[lists]).mean()) if lists.any() else 0.0


def novelty(recommended: np.ndarray, interactions: sp.csr_matrix) -> float:
    """Mean -log2 of the recommended items' share of the training interactions (users x items)."""
    recommended = np.asarray(recommended, dtype=np.int64)
    filled = recommended[recommended >= 0]
    total = interactions.nnz
    if len(filled) == 0 or total == 0:
        return 0.0
    users_per_item = np.diff(sp.csc_matrix(interactions).indptr).astype(np.float64)
    return float(np.mean(-np.log2(np.maximum(users_per_item[filled], 1.0) / total)))


def new_product_share(recommended: np.ndarray, is_new: np.ndarray) -> float:
    """Share of the filled slots that hold a new product (`is_new`: bool per item column)."""
    recommended = np.asarray(recommended, dtype=np.int64)
    filled = recommended[recommended >= 0]
    return float(np.asarray(is_new, dtype=bool)[filled].mean()) if len(filled) else 0.0


def catalogue_coverage(recommended: np.ndarray, n_recommendable: int) -> float:
    """Share of recommendable items that appear in at least one list."""
    if n_recommendable <= 0:
        return 0.0
    items = np.unique(np.asarray(recommended))
    return float((items >= 0).sum() / n_recommendable)
