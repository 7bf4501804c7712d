"""The candidate recommenders, fitted on an `InteractionMatrix`, reduced to plain numpy state.

Every fitted model answers `score(history, rows) -> dense (len(rows) x n_items)` from its arrays
alone, so a pickled model needs neither `implicit` nor its thread pools at scoring time.

  als                implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008); a product
                     nobody interacted with gets a zero factor (ALS knows nothing of it)
  hybrid             ALS blended with content similarity: (1 - w) * the ALS score scaled to 1 per
                     customer + w * cosine(the customer's content profile, the product's content
                     vector) (`content`: description words, category, price band); the profile is
                     the confidence-weighted mean of the vectors of what they interacted with, so a
                     product launched last week, or never bought, can rank by what it is
  item_cosine        item-item cosine similarity over the user's own history
  popularity         distinct buyers per item over the whole history (same list for everyone)
  recent_popularity  distinct buyers per item in the last `recent_days`
  repeat_purchase    the customer's own products again, by the number of orders that bought them (ties:
                     the decayed weight), padded with the recently popular ones ("buy again": what
                     grocery and repeat-buying shops are judged against)
  complete_the_basket  products bought together with the customer's own (association rules mined
                     before the cut-off, `associations`): the lift of each rule whose antecedent they
                     bought, weighted by how recent and large that purchase is (the decayed weight,
                     scaled to 1 for their strongest), summed; padded with the recently popular ones

`top_n` ranks a block of scores; `recommend_rows` ranks any number of users in memory-bounded blocks.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.preprocessing import normalize
from threadpoolctl import threadpool_limits

from ml.families.recommender.config import RecommenderConfig
from ml.families.recommender.interactions import InteractionMatrix

MODEL_KINDS = ("als", "hybrid", "item_cosine", "popularity", "recent_popularity", "repeat_purchase", "complete_the_basket")
BASELINE_KINDS = ("popularity", "recent_popularity", "item_cosine", "repeat_purchase", "complete_the_basket")
# Kinds fitted from association rules (antecedent_product_id, consequent_product_id, lift) as well.
RULE_KINDS = ("complete_the_basket",)
# Kinds fitted from the catalogue (raw.products: description, category, unit_price) as well.
CATALOGUE_KINDS = ("hybrid",)


def confidence(weights: sp.csr_matrix) -> sp.csr_matrix:
    """log1p of the weights: quantities are heavy-tailed, and one wholesale line must not make
    a single item the whole of a customer's taste."""
    out = weights.astype(np.float32, copy=True)
    out.data = np.log1p(np.maximum(out.data, 0.0))
    return out


@dataclass
class FittedModel:
    kind: str
    params: dict = field(default_factory=dict)
    item_scores: np.ndarray | None = None  # popularity models; hybrid: distinct buyers per item
    similarity: sp.csr_matrix | None = None  # item_cosine (items x items); complete_the_basket: rule lifts
    user_factors: np.ndarray | None = None  # als, hybrid
    item_factors: np.ndarray | None = None  # als, hybrid
    content: sp.csr_matrix | None = None  # hybrid: items x content features, rows of unit length

    @property
    def n_items(self) -> int:
        if self.item_scores is not None:
            return len(self.item_scores)
        if self.similarity is not None:
            return self.similarity.shape[0]
        return self.item_factors.shape[0]

    def _repeat_scores(self, history: sp.csr_matrix, rows: np.ndarray, orders: sp.csr_matrix | None) -> np.ndarray:
        """Own products by the number of orders that bought them, ties by the decayed weight (more
        recent, more units), all above 2; popular products below 0.5 only pad the list. Without
        order counts (an older feature table) the weight alone ranks the own products."""
        weight = np.asarray(history[rows].todense(), dtype=np.float32)
        count = weight * 0 if orders is None else np.asarray(orders[rows].todense(), dtype=np.float32)
        own = np.where(weight > 0, 2.0 + count + 0.5 * weight / (1.0 + weight), 0.0)
        return (own + 0.5 * self.item_scores).astype(np.float32)

    def _basket_scores(self, history: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        """Recency-weighted lift sums above 1, so any rule's consequent outranks the popular pad (< 1)."""
        weight = history[rows].astype(np.float32)
        strongest = np.asarray(weight.max(axis=1).todense()).ravel()
        scaled = sp.diags(1.0 / np.maximum(strongest, 1e-12)).astype(np.float32) @ weight
        lift = np.asarray((scaled @ self.similarity).todense(), dtype=np.float32)
        return (np.where(lift > 0, 1.0 + lift, 0.0) + self.item_scores).astype(np.float32)

    def _hybrid_scores(self, history: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        """(1 - w) * ALS / the customer's largest |ALS score| + w * content cosine, both within [-1, 1];
        w per product (`hybrid_weights`)."""
        weight = hybrid_weights(self.item_scores, float(self.params["content_weight"]),
                                float(self.params.get("content_prior", 0.0)))
        als = self.user_factors[rows] @ self.item_factors.T
        als /= np.maximum(np.abs(als).max(axis=1, keepdims=True), 1e-12)
        if self.content.shape[1] == 0:  # no catalogue (or one without words, categories, prices): ALS
            return als.astype(np.float32)
        profile = confidence(history[rows]) @ self.content  # sparse (users x features)
        profile = normalize(profile).toarray().astype(np.float32)  # unit rows: the dot below is a cosine
        similarity = np.asarray(self.content @ profile.T, dtype=np.float32).T  # sparse @ dense: dense
        return ((1.0 - weight) * als + weight * similarity).astype(np.float32)

    def score(self, history: sp.csr_matrix, rows: np.ndarray, orders: sp.csr_matrix | None = None) -> np.ndarray:
        """Scores of every item for the users at `rows` of `history` (the training matrix's
        weights; `orders`, its order counts, ranks repeat purchases)."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.kind in ("popularity", "recent_popularity"):
            return np.broadcast_to(self.item_scores, (len(rows), self.n_items)).copy()
        if self.kind == "item_cosine":
            return np.asarray((confidence(history[rows]) @ self.similarity).todense(), dtype=np.float32)
        if self.kind == "repeat_purchase":
            return self._repeat_scores(history, rows, orders)
        if self.kind == "complete_the_basket":
            return self._basket_scores(history, rows)
        if self.kind == "als":
            return self.user_factors[rows] @ self.item_factors.T
        if self.kind == "hybrid":
            return self._hybrid_scores(history, rows)
        raise ValueError(f"unknown model kind {self.kind!r}")


def fit_model(
    kind: str, matrix: InteractionMatrix, config: RecommenderConfig, params: dict | None = None,
    rules: pd.DataFrame | None = None,
    catalogue: pd.DataFrame | None = None,
) -> FittedModel:
    """Fit one candidate on the training matrix. `params` are the ALS hyper-parameters (the hybrid's
    also `content_weight`); `rules`, the association rules mined before the same cut-off (RULE_KINDS;
    none: popularity alone); `catalogue`, raw.products (CATALOGUE_KINDS; none: ALS alone)."""
    params = dict(params or {})
    if matrix.weights.nnz == 0:
        raise ValueError("cannot fit a recommender on an empty interaction matrix")
    if kind == "popularity":
        buyers = np.diff(matrix.weights.tocsc().indptr).astype(np.float32)
        return FittedModel(kind, params, item_scores=buyers)
    if kind == "recent_popularity":
        recent = np.asarray(matrix.recent.sum(axis=0)).ravel().astype(np.float32)
        # Ties (items nobody bought recently) fall back to all-time order, scaled below one buyer.
        buyers = np.diff(matrix.weights.tocsc().indptr).astype(np.float32)
        return FittedModel(kind, params, item_scores=recent + buyers / (buyers.max() + 1.0))
    if kind == "repeat_purchase":  # padded with recent popularity, scaled into [0, 1)
        return FittedModel(kind, params, item_scores=_recent_pad(matrix))
    if kind == "complete_the_basket":
        return FittedModel(kind, params, item_scores=_recent_pad(matrix), similarity=lift_matrix(matrix, rules))
    if kind == "item_cosine":
        return _fit_item_cosine(matrix, config, params)
    if kind == "als":
        return _fit_als(matrix, config, params)
    if kind == "hybrid":
        return fit_hybrid(_fit_als(matrix, config, params), matrix, params, catalogue)
    raise ValueError(f"unknown model kind {kind!r}; expected one of {MODEL_KINDS}")


def _recent_pad(matrix: InteractionMatrix) -> np.ndarray:
    """Recent popularity (ties: all-time buyers) scaled into [0, 1): what pads a list of own picks."""
    recent = np.asarray(matrix.recent.sum(axis=0)).ravel().astype(np.float32)
    buyers = np.diff(matrix.weights.tocsc().indptr).astype(np.float32)
    pad = recent + buyers / (buyers.max() + 1.0)
    return pad / (pad.max() + 1.0)


def lift_matrix(matrix: InteractionMatrix, rules: pd.DataFrame | None) -> sp.csr_matrix:
    """Items x items lifts of the rules (antecedent row, consequent column) among the matrix's items."""
    n = matrix.shape[1]
    if rules is None or rules.empty:
        return sp.csr_matrix((n, n), dtype=np.float32)
    rows = matrix.item_index(rules["antecedent_product_id"])
    cols = matrix.item_index(rules["consequent_product_id"])
    keep = (rows >= 0) & (cols >= 0)
    lifts = rules["lift"].to_numpy(dtype=np.float32)[keep]
    return sp.csr_matrix((lifts, (rows[keep], cols[keep])), shape=(n, n), dtype=np.float32)


def _fit_item_cosine(matrix: InteractionMatrix, config: RecommenderConfig, params: dict) -> FittedModel:
    from implicit.nearest_neighbours import CosineRecommender

    neighbours = int(params.setdefault("neighbours", config.cosine_neighbours))
    with threadpool_limits(1, "blas"), warnings.catch_warnings():
        # implicit hands its own normalised COO copy to a CSR routine and warns about itself.
        warnings.filterwarnings("ignore", message="Method expects CSR input")
        model = CosineRecommender(K=neighbours, num_threads=config.threads)
        model.fit(confidence(matrix.weights), show_progress=False)
    return FittedModel("item_cosine", params, similarity=model.similarity.tocsr().astype(np.float32))


def fit_hybrid(als: FittedModel, matrix: InteractionMatrix, params: dict, catalogue: pd.DataFrame | None) -> FittedModel:
    """The hybrid on a fitted ALS (tuning tries several blends on one ALS fit). `item_scores` holds
    each product's distinct buyers, what its content weight is raised by (see `hybrid_weights`)."""
    from ml.families.recommender.content import content_vectors

    bought = matrix.weights if matrix.orders is None else matrix.orders
    buyers = np.diff((bought > 0).tocsc().indptr).astype(np.float32)  # views alone are not evidence
    blend = {"content_weight": float(params.get("content_weight", 0.2)),
             "content_prior": float(params.get("content_prior", 0.0))}
    return FittedModel("hybrid", {**als.params, **blend}, item_scores=buyers, user_factors=als.user_factors,
                       item_factors=als.item_factors, content=content_vectors(matrix.items, catalogue))


def hybrid_weights(buyers: np.ndarray, weight: float, prior: float) -> np.ndarray:
    """Content weight per product: w + (1 - w) * prior / (prior + buyers).

    A single blend weight cannot lift a new product above the established ones of the category a
    customer likes: it shares their content score and has (almost) no ALS score. So the fewer
    customers ALS has seen buy a product, the more its content speaks for it: a product nobody
    bought is ranked by content alone, one bought by `prior` customers half way, and a best-seller
    by the blend `w`. prior 0 is the plain blend.
    """
    if prior <= 0:
        return np.full(len(buyers), weight, dtype=np.float32)
    return (weight + (1.0 - weight) * prior / (prior + buyers)).astype(np.float32)


def _fit_als(matrix: InteractionMatrix, config: RecommenderConfig, params: dict) -> FittedModel:
    from implicit.cpu.als import AlternatingLeastSquares

    params = {
        "factors": int(params.get("factors", 64)),
        "regularization": float(params.get("regularization", 0.1)),
        "alpha": float(params.get("alpha", 10.0)),
        "iterations": int(params.get("iterations", 15)),
    }
    # implicit parallelises over users itself; a multi-threaded BLAS underneath oversubscribes
    # the cores and is several times slower (implicit warns about it), so BLAS gets one thread.
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            **params, num_threads=config.threads, random_state=config.seed, dtype=np.float32
        )
        model.fit(confidence(matrix.weights), show_progress=False)
    item_factors = np.ascontiguousarray(model.item_factors)
    # A column nobody interacted with (a product on sale not yet bought, see interactions.widen)
    # keeps a factor that is only its random start shrunk: zero says "ALS knows nothing of it".
    item_factors[np.diff(matrix.weights.tocsc().indptr) == 0] = 0.0
    return FittedModel("als", params, user_factors=np.ascontiguousarray(model.user_factors),
                       item_factors=item_factors)


def top_n(
    scores: np.ndarray,
    k: int,
    allowed: np.ndarray | None = None,
    seen: sp.csr_matrix | None = None,
    copy: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Best k items per row: (item columns, scores), -1 / NaN where fewer than k are eligible.

    `allowed` (bool per item) removes products no longer sold; `seen` (rows aligned with `scores`)
    removes items the user already bought. Ties break on the lower column, so results are stable.
    `copy=False` lets a caller that owns a float32 `scores` block have it masked in place.
    """
    # copy=None: only copy when the dtype must change (numpy 2 raises on copy=False in that case).
    scores = np.array(scores, dtype=np.float32, copy=True if copy else None)
    n_rows, n_items = scores.shape
    if allowed is not None:
        scores[:, ~np.asarray(allowed, dtype=bool)] = -np.inf
    if seen is not None:
        coo = seen.tocoo()
        scores[coo.row, coo.col] = -np.inf
    k_eff = min(k, n_items)
    items = np.full((n_rows, k), -1, dtype=np.int64)
    values = np.full((n_rows, k), np.nan, dtype=np.float32)
    if n_rows == 0 or k_eff == 0:
        return items, values
    if k_eff < n_items:
        # Partitioning for the k largest directly avoids a negated copy of the whole block.
        candidates = np.argpartition(scores, n_items - k_eff, axis=1)[:, n_items - k_eff :]
        cand_scores = np.take_along_axis(scores, candidates, axis=1)
        # The partition may cut between equal scores arbitrarily: rows tied at the boundary are
        # re-ranked with a stable sort so that ties always go to the lower column.
        boundary = cand_scores.min(axis=1, keepdims=True)
        tied = (scores >= boundary).sum(axis=1) > k_eff
        if tied.any():
            stable = np.argsort(-scores[tied], axis=1, kind="stable")[:, :k_eff]
            candidates[tied] = stable
            cand_scores[tied] = np.take_along_axis(scores[tied], stable, axis=1)
    else:
        candidates = np.tile(np.arange(n_items), (n_rows, 1))
        cand_scores = scores
    order = np.lexsort((candidates, -cand_scores), axis=1)
    top_items = np.take_along_axis(candidates, order, axis=1)
    top_scores = np.take_along_axis(cand_scores, order, axis=1)
    eligible = np.isfinite(top_scores)
    items[:, :k_eff] = np.where(eligible, top_items, -1)
    values[:, :k_eff] = np.where(eligible, top_scores, np.nan)
    return items, values


def recommend_rows(
    model: FittedModel,
    train: InteractionMatrix,
    rows: np.ndarray,
    config: RecommenderConfig,
    allowed: np.ndarray | None = None,
    k: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (rows, item columns, scores) in batches sized so memory stays flat (see
    `RecommenderConfig.batch_cells`)."""
    k = k or config.top_n
    rows = np.asarray(rows, dtype=np.int64)
    step = max(1, min(config.batch_users, config.batch_cells // max(1, train.shape[1])))
    for start in range(0, len(rows), step):
        batch = rows[start : start + step]
        seen = None if config.allow_repurchase else train.weights[batch]
        # score() returns a fresh block, so ranking may mask it in place.
        items, scores = top_n(model.score(train.weights, batch, train.orders), k, allowed=allowed, seen=seen,
                              copy=False)
        yield batch, items, scores
