"""A short reason for every recommendation (the mart's `reason`, at most `MAX_CHARS` characters): what
a marketer can print beside the offer, and what a customer would accept as an explanation.

For a model row, the strongest link between the product and what the customer bought before the
cut-off (their rows of the training matrix), in this order:

  "bought before"              the product is one of their own
  "bought with <product>"      an association rule (marts.product_associations) leads from one of
                               their products to it; the product of the highest lift is named
  "similar to <product>"       the content-nearest of their products (`content`: words, category,
                               price band), when any shares something with it
  otherwise what the model is: "popular overall" for the popularity kinds (their lists pad with
  best-sellers), "liked by customers like you" for the learnt ones (ALS, hybrid, item cosine).

A fallback row says which list it came from: "popular in your segment" or "popular overall".
A product is named by its catalogue description, else its id.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ml.families.recommender.candidates import lift_matrix
from ml.families.recommender.content import aligned, content_vectors
from ml.families.recommender.model import SOURCE_MODEL, SOURCE_POPULAR, SOURCE_SEGMENT, Recommender

MAX_CHARS = 80
BOUGHT_BEFORE = "bought before"
POPULAR_SEGMENT = "popular in your segment"
POPULAR_OVERALL = "popular overall"
LIKE_YOU = "liked by customers like you"
POPULARITY_KINDS = ("popularity", "recent_popularity", "repeat_purchase", "complete_the_basket")
_PAIRS_PER_BLOCK = 500_000  # (row, bought product) pairs compared at once: bounds memory


def _named(prefix: str, name: str) -> str:
    room = MAX_CHARS - len(prefix)
    return prefix + (name if len(name) <= room else name[: room - 3].rstrip() + "...")


@dataclass
class Explainer:
    history: sp.csr_matrix  # users x items: what each training row interacted with
    lifts: sp.csr_matrix  # items x items: rule lifts, antecedent row -> consequent column
    content: sp.csr_matrix  # items x features, unit rows
    names: np.ndarray  # display name per item
    otherwise: str  # a model row with no link to the customer's products

    @classmethod
    def build(cls, recommender: Recommender, rules: pd.DataFrame | None = None,
              catalogue: pd.DataFrame | None = None) -> Explainer:
        train = recommender.train
        model = recommender.model
        content = model.content if model.content is not None else content_vectors(train.items, catalogue)
        rows = aligned(train.items, catalogue)
        description = rows["description"].astype(object)
        blank = description.isna() | (description.astype(str).str.strip() == "")
        names = np.where(blank, rows["product_id"], description.astype(str).str.strip()).astype(object)
        otherwise = POPULAR_OVERALL if model.kind in POPULARITY_KINDS else LIKE_YOU
        bought = (train.weights > 0).astype(np.float32).tocsr()
        return cls(bought, lift_matrix(train, rules).tocsr(), content.tocsr(), names, otherwise)

    def explain(self, frame: pd.DataFrame, recommender: Recommender) -> pd.Series:
        """The reason of each row of `frame` (customer_id, product_id, source)."""
        reasons = pd.Series(POPULAR_OVERALL, index=frame.index, dtype=object)
        reasons[frame["source"] == SOURCE_SEGMENT] = POPULAR_SEGMENT
        reasons[frame["source"] == SOURCE_POPULAR] = POPULAR_OVERALL
        model_rows = np.flatnonzero((frame["source"] == SOURCE_MODEL).to_numpy())
        if len(model_rows):
            users = recommender.user_index(frame["customer_id"].iloc[model_rows])
            items = recommender.train.item_index(frame["product_id"].iloc[model_rows])
            reasons.iloc[model_rows] = self.model_reasons(users, items)
        return reasons

    def model_reasons(self, users: np.ndarray, items: np.ndarray) -> list[str]:
        """Reasons for model rows given as (training row, item column) pairs."""
        users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
        out = [self.otherwise] * len(users)
        pairs = np.cumsum(np.diff(self.history.indptr)[np.maximum(users, 0)] * (users >= 0))
        start = 0
        while start < len(users):  # blocks of rows with about _PAIRS_PER_BLOCK bought products
            done = pairs[start - 1] if start else 0
            stop = max(start + 1, int(np.searchsorted(pairs, done + _PAIRS_PER_BLOCK, side="right")))
            self._block(users[start:stop], items[start:stop], out, start)
            start = stop
        return out

    def _block(self, users: np.ndarray, items: np.ndarray, out: list[str], offset: int) -> None:
        known = (users >= 0) & (items >= 0)
        if not known.any():
            return
        rows = np.flatnonzero(known)
        bought = self.history[users[rows]]
        row = np.repeat(rows, np.diff(bought.indptr))  # one entry per (recommendation, bought product)
        product = bought.indices.astype(np.int64)
        target = items[row]
        own = product == target
        lift = np.asarray(self.lifts[product, target]).ravel() if self.lifts.nnz else np.zeros(len(row))
        similarity = np.zeros(len(row))
        if self.content.shape[1]:
            similarity = np.asarray(self.content[product].multiply(self.content[target]).sum(axis=1)).ravel()
        similarity[own] = 0.0  # a product is not "similar to" itself
        owned = set(row[own].tolist())
        named_lift, named_sim = _best(row, product, lift), _best(row, product, similarity)
        for r in rows:
            if r in owned:
                out[offset + r] = BOUGHT_BEFORE
            elif r in named_lift:
                out[offset + r] = _named("bought with ", self.names[named_lift[r]])
            elif r in named_sim:
                out[offset + r] = _named("similar to ", self.names[named_sim[r]])


def _best(row: np.ndarray, product: np.ndarray, value: np.ndarray) -> dict[int, int]:
    """row -> the product of its largest positive value (ties: the lower column)."""
    positive = value > 0
    row, product, value = row[positive], product[positive], value[positive]
    order = np.lexsort((product, -value, row))
    row, product = row[order], product[order]
    first = np.r_[True, row[1:] != row[:-1]] if len(row) else np.zeros(0, bool)
    return dict(zip(row[first].tolist(), product[first].tolist()))
