"""Implicit feedback in memory: the sparse user x item matrix the models train on, assembled from
interaction rows (a frame, or batches streamed out of the warehouse), and the holdout aligned with it.

The SQL that computes the rows, and the table they are stored in, are in `features`.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ml.families.recommender.config import RecommenderConfig
from ml.sql import require_columns


@dataclass(frozen=True)
class InteractionMatrix:
    """A user x item CSR matrix with the ids of its rows and columns."""

    users: np.ndarray  # customer_id of each row (object array, sorted)
    items: np.ndarray  # product_id of each column (object array, sorted)
    weights: sp.csr_matrix  # float32 implicit-feedback weights
    recent: sp.csr_matrix  # 1 where the user bought the item in the last `recent_days`
    orders: sp.csr_matrix | None = None  # distinct orders that bought the item (None: not read)

    @property
    def shape(self) -> tuple[int, int]:
        return self.weights.shape

    def user_index(self, customer_ids) -> np.ndarray:
        """Row of each customer, -1 for customers the matrix has never seen."""
        return _positions(self.users, customer_ids)

    def item_index(self, product_ids) -> np.ndarray:
        """Column of each product, -1 for products the matrix has never seen."""
        return _positions(self.items, product_ids)


def _positions(sorted_ids: np.ndarray, wanted) -> np.ndarray:
    # Each distinct id is searched once: holdouts and scoring batches repeat ids, and a binary
    # search over Python strings for every row cost a third of the matrix build at 100k customers.
    codes, distinct = _factorize(pd.Series(wanted, dtype=object).astype(str))
    if len(sorted_ids) == 0 or len(distinct) == 0:
        return np.full(len(codes), -1, dtype=np.int64)
    pos = np.clip(np.searchsorted(sorted_ids, distinct), 0, len(sorted_ids) - 1)
    found = np.where(sorted_ids[pos] == distinct, pos, -1)
    return np.where(codes >= 0, found[codes], -1).astype(np.int64)  # a missing id is never seen


def among(ids: np.ndarray, wanted) -> np.ndarray:
    """Bool per id: whether it is one of `wanted` (compared as strings).

    np.isin compares object arrays pair by pair (ids x wanted): 0.8 s per call at 4,000 products,
    and it grows with the square of the catalogue. A hash lookup is linear.
    """
    return pd.Series(ids, dtype=object).isin([str(w) for w in wanted]).to_numpy(dtype=bool)


def _factorize(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(code of each value, distinct values as an object array) by hashing, in first-seen order;
    code -1 for missing values."""
    codes, distinct = pd.factorize(values)
    return np.asarray(codes, dtype=np.int64), np.asarray(distinct, dtype=object)


def build_matrix(
    interactions: pd.DataFrame,
    as_of: dt.date,
    config: RecommenderConfig,
    items: np.ndarray | None = None,
) -> InteractionMatrix:
    """Pivot interaction rows (customer_id, product_id, weight, last_purchase_date) into CSR.

    `items` fixes the column set (e.g. to share columns with another matrix); rows for other
    products are dropped. Raises MissingColumns (a ValueError) on missing columns, ValueError on
    non-positive weights.
    """
    frame = _checked(interactions)
    # distinct ids by hashing; assemble_matrix sorts only those (sorting every row's Python string
    # was half the build and grew as n log n)
    users = frame["customer_id"].astype(str).unique()
    if items is None:
        items = frame["product_id"].astype(str).unique()
    return assemble_matrix([frame], users, items, as_of, config, total_rows=len(frame))


def assemble_matrix(
    batches: Iterable[pd.DataFrame],
    users,
    items,
    as_of: dt.date,
    config: RecommenderConfig,
    total_rows: int | None = None,
) -> InteractionMatrix:
    """CSR from interaction rows that arrive in batches (e.g. `Warehouse.query_batches`).

    `users` and `items` fix the rows and columns (sorted here); rows for other ids are dropped. Only
    the (row, column, weight, recent) triplets of the non-zeros, 13 bytes each, and one batch are
    held, never a frame of every interaction with its Python strings: that frame was most of the
    matrix build's 2.5 GiB at 100k customers and grew with the shop. With `total_rows` (at least
    the number of rows the batches bring) the triplets are filled in place rather than
    concatenated from per-batch pieces, which would hold them twice.
    """
    users = np.asarray(sorted(map(str, users)), dtype=object)
    items = np.asarray(sorted(map(str, items)), dtype=object)
    # hash lookups: a binary search over a million Python strings per batch row would dominate
    user_rows, item_cols = pd.Index(users), pd.Index(items)
    if not (user_rows.is_unique and item_cols.is_unique):
        raise ValueError("assemble_matrix needs distinct user and item ids")
    triplets = _Triplets(total_rows)
    since = np.datetime64(as_of - dt.timedelta(days=config.recent_days), "ns")
    for batch in batches:
        frame = _checked(batch)
        r = user_rows.get_indexer(frame["customer_id"].astype(str))
        c = item_cols.get_indexer(frame["product_id"].astype(str))
        keep = (r >= 0) & (c >= 0)
        last = pd.to_datetime(frame["last_purchase_date"]).to_numpy()[keep]
        orders = (frame["purchase_orders"].to_numpy(dtype=np.float32) if "purchase_orders" in frame
                  else np.zeros(len(frame), np.float32))
        triplets.add(r[keep], c[keep], frame["weight"].to_numpy(dtype=np.float32)[keep],
                     ~pd.isna(last) & (last >= since), orders[keep])
    rows, cols, weights, is_recent, orders = triplets.arrays()
    shape = (len(users), len(items))
    weights_csr = sp.csr_matrix((weights, (rows, cols)), shape=shape, dtype=np.float32)
    del weights
    recent_csr = sp.csr_matrix(
        (np.ones(int(is_recent.sum()), dtype=np.float32), (rows[is_recent], cols[is_recent])),
        shape=shape,
        dtype=np.float32,
    )
    orders_csr = sp.csr_matrix((orders, (rows, cols)), shape=shape, dtype=np.float32) if orders.any() else None
    weights_csr.sum_duplicates()
    recent_csr.sum_duplicates()
    recent_csr.data[:] = 1.0
    return InteractionMatrix(users=users, items=items, weights=weights_csr, recent=recent_csr, orders=orders_csr)


_TRIPLET_TYPES = (np.int32, np.int32, np.float32, bool, np.float32)  # row, column, weight, recent, orders


class _Triplets:
    """The (row, column, weight, recent, orders) of every non-zero, gathered batch by batch: in
    arrays allocated once when the total is known, else in pieces concatenated at the end."""

    def __init__(self, total_rows: int | None):
        self.filled = 0
        self.capacity = total_rows
        if total_rows is not None:
            self.parts = [np.empty(total_rows, dtype) for dtype in _TRIPLET_TYPES]
        else:
            self.parts = [[] for _ in _TRIPLET_TYPES]

    def add(self, rows, cols, weights, recent, orders) -> None:
        values = (rows, cols, weights, recent, orders)
        if self.capacity is None:
            for part, value in zip(self.parts, values):
                part.append(value)
            return
        end = self.filled + len(rows)
        if end > self.capacity:
            raise ValueError(f"the batches bring more than total_rows={self.capacity} interaction rows")
        for part, value in zip(self.parts, values):
            part[self.filled:end] = value
        self.filled = end

    def arrays(self) -> tuple[np.ndarray, ...]:
        if self.capacity is not None:
            return tuple(part[:self.filled] for part in self.parts)
        return tuple(_concat(part, dtype) for part, dtype in zip(self.parts, _TRIPLET_TYPES))


def user_sample_predicate(table: str, where: str, max_users: int) -> str:
    """SQL predicate keeping at most `max_users` customers of the rows of `table` matching `where`:
    those with the smallest md5(customer_id). md5 reads the same hex in DuckDB and PostgreSQL, so
    both dialects, and every read of one partition, keep the same customers."""
    return (f"customer_id IN (SELECT customer_id FROM (SELECT DISTINCT customer_id FROM {table} "
            f"WHERE {where}) AS users ORDER BY md5(customer_id), customer_id LIMIT {int(max_users)})")


def read_matrix(wh, table: str, where: str, as_of: dt.date, config: RecommenderConfig,
                batch_rows: int | None = None, max_users: int | None = None) -> InteractionMatrix:
    """The matrix of the interaction rows of `table` matching `where`, streamed from the warehouse
    (`Warehouse.query_batches`): the ids first, one DISTINCT each, then the rows in batches of
    `batch_rows` (default: the config's `read_batch_rows`). `max_users` keeps a deterministic hash
    sample of customers (`user_sample_predicate`)."""
    where = f"({where}) AND customer_id IS NOT NULL AND product_id IS NOT NULL"
    if max_users is not None:
        where += f" AND {user_sample_predicate(table, where, max_users)}"

    def distinct(column: str) -> pd.Series:
        return wh.query(f"SELECT DISTINCT {column} FROM {table} WHERE {where}")[column].astype(str)

    total_rows = int(wh.scalar(f"SELECT COUNT(*) FROM {table} WHERE {where}"))
    # order counts where the table has them (build_features adds the column to older tables)
    orders = ", COALESCE(purchase_orders, 0) AS purchase_orders" if "purchase_orders" in wh.columns(table) else ""
    batches = wh.query_batches(
        f"SELECT customer_id, product_id, weight, last_purchase_date{orders} FROM {table} WHERE {where}",
        batch_rows or config.read_batch_rows)
    return assemble_matrix(batches, distinct("customer_id"), distinct("product_id"), as_of, config, total_rows)


def widen(matrix: InteractionMatrix, product_ids) -> InteractionMatrix:
    """The matrix with an empty column for each of `product_ids` it lacks (products on sale that no
    known customer has bought or viewed yet), columns still sorted: only a candidate that reads the
    catalogue (the hybrid) can rank them, but every candidate is graded on their holdout purchases."""
    wanted = pd.Index(pd.Series(list(product_ids), dtype=object).astype(str).unique())
    extra = wanted.difference(pd.Index(matrix.items))
    if len(extra) == 0:
        return matrix
    items = np.asarray(sorted([*matrix.items, *extra]), dtype=object)
    # old columns keep their order among the new ones, so only the column indices move
    moved = pd.Index(items).get_indexer(matrix.items).astype(np.int32)

    def place(m: sp.csr_matrix | None) -> sp.csr_matrix | None:
        if m is None:
            return None
        return sp.csr_matrix((m.data, moved[m.indices], m.indptr), shape=(m.shape[0], len(items)))

    return InteractionMatrix(matrix.users, items, place(matrix.weights), place(matrix.recent), place(matrix.orders))


def _checked(interactions: pd.DataFrame) -> pd.DataFrame:
    require_columns(interactions, ["customer_id", "product_id", "weight", "last_purchase_date"], "interactions")
    frame = interactions.dropna(subset=["customer_id", "product_id"])
    if (frame["weight"] <= 0).any():
        raise ValueError("interaction weights must be positive; drop netted-out pairs first")
    return frame


def _concat(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts) if parts else np.array([], dtype=dtype)


def build_relevance(holdout: pd.DataFrame, matrix: InteractionMatrix) -> sp.csr_matrix:
    """Binary user x item matrix of holdout purchases, aligned with `matrix`.

    Customers or products the training matrix has never seen are left out: the models can neither
    score an unknown product nor (without a fallback) an unknown customer.
    """
    require_columns(holdout, ["customer_id", "product_id"], "holdout")
    rows = matrix.user_index(holdout["customer_id"])
    cols = matrix.item_index(holdout["product_id"])
    keep = (rows >= 0) & (cols >= 0)
    relevance = sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], cols[keep])),
        shape=matrix.shape,
        dtype=np.float32,
    )
    relevance.sum_duplicates()
    relevance.data[:] = 1.0
    return relevance
