"""The hybrid: a product nobody has bought yet, like what a customer bought, reaches their list; ALS never
puts it there. Judged beside the others on the same holdout, with the blend chosen on validation."""
import dataclasses
import datetime as dt

import numpy as np
import pandas as pd

from ml.families.recommender.candidates import fit_hybrid, fit_model, hybrid_weights, top_n
from ml.families.recommender.config import RecommenderConfig
from ml.families.recommender.content import content_vectors
from ml.families.recommender.evaluate import compare_candidates, make_split, tune_blend
from ml.families.recommender.interactions import build_matrix, widen

CUTOFF = dt.date(2024, 3, 1)
ALS = {"factors": 2, "regularization": 0.1, "alpha": 5.0, "iterations": 10}
# No repurchases: a list holds the two products of the customer's kind they have not bought, then one more.
CONFIG = RecommenderConfig(als_grid={k: (v,) for k, v in ALS.items()}, top_n=3, cosine_neighbours=10,
                           allow_repurchase=False, content_weight_grid=(0.2, 0.5), content_prior_grid=(0.0, 3.0))
COLOURS = ("RED", "BLUE", "PINK", "GOLD", "GREY", "TEAL")
CANDLES, MUGS = [f"c{i}" for i in range(6)], [f"m{i}" for i in range(6)]
CATALOGUE = pd.DataFrame({
    "product_id": [*CANDLES, *MUGS, "c_new", "m_new"],
    "description": [f"SCENTED CANDLE {c}" for c in COLOURS] + [f"ENAMEL MUG {c}" for c in COLOURS]
    + ["SCENTED CANDLE LILAC", "ENAMEL MUG LILAC"],
    "category": ["candles"] * 6 + ["mugs"] * 6 + ["candles", "mugs"],
    "unit_price": [4.0, 4.5, 5.0, 4.2, 4.8, 4.4, 9.0, 9.5, 10.0, 9.2, 9.8, 9.4, 4.6, 9.6],
})


def shop():
    """Candle lovers and mug lovers, each with four of the six products of their kind; c_new and m_new
    are on sale but nobody has bought them, and in the holdout each customer buys the new product of
    their own kind."""
    train, holdout = [], []
    for u in range(24):
        kind = CANDLES if u % 2 else MUGS
        for j in range(4):
            train.append((f"u{u}", kind[(u // 2 + j) % 6], 1.0 + (u + j) % 3, "2024-02-20"))
        holdout.append((f"u{u}", "c_new" if u % 2 else "m_new"))
    inter = pd.DataFrame(train, columns=["customer_id", "product_id", "weight", "last_purchase_date"])
    inter["last_purchase_date"] = pd.to_datetime(inter["last_purchase_date"])
    holdout = pd.DataFrame(holdout, columns=["customer_id", "product_id"])
    return make_split(inter, holdout, CATALOGUE["product_id"], CUTOFF, CONFIG, CATALOGUE)


def test_widen_adds_empty_columns_in_order():
    inter = pd.DataFrame({"customer_id": ["u1", "u2"], "product_id": ["b", "d"], "weight": [1.0, 2.0],
                          "last_purchase_date": pd.to_datetime(["2024-02-01"] * 2)})
    matrix = build_matrix(inter, CUTOFF, CONFIG)
    wide = widen(matrix, ["a", "b", "c", "d", "e"])
    assert wide.items.tolist() == ["a", "b", "c", "d", "e"]
    np.testing.assert_array_equal(wide.weights.toarray(), [[0, 1, 0, 0, 0], [0, 0, 0, 2, 0]])
    np.testing.assert_array_equal(wide.recent.toarray()[:, [1, 3]], matrix.recent.toarray())
    assert widen(matrix, ["b"]) is matrix


def test_content_vectors_link_products_by_words_category_and_price():
    vectors = content_vectors(np.array(["c0", "c_new", "m0", "unknown"], dtype=object), CATALOGUE)
    similarity = (vectors @ vectors.T).toarray()
    assert similarity[0, 1] > 0.6 > 0.3 > similarity[0, 2]  # candle ~ candle, candle !~ mug
    assert not vectors[3].nnz  # not in the catalogue: similar to nothing
    np.testing.assert_allclose(np.diag(similarity)[:3], 1.0, rtol=1e-5)


def test_a_new_product_like_what_they_bought_is_recommended_by_the_hybrid_never_by_als():
    split = shop()
    train = split.train
    new = train.item_index(["c_new", "m_new"])
    assert train.weights[:, new].nnz == 0 and split.allowed[new].all()  # on sale, never bought
    assert split.new_items[new].all() and not split.new_items[train.item_index(CANDLES)].any()
    als = fit_model("als", train, CONFIG, ALS)
    hybrid = fit_hybrid(als, train, {"content_weight": 0.2, "content_prior": 3.0}, split.catalogue)
    users = train.user_index([f"u{u}" for u in range(24)])
    seen = train.weights[users]
    als_items, _ = top_n(als.score(train.weights, users), 3, allowed=split.allowed, seen=seen)
    hybrid_items, _ = top_n(hybrid.score(train.weights, users), 3, allowed=split.allowed, seen=seen)
    assert not np.isin(als_items, new).any()  # ALS: zero for what it never saw, below any product it knows
    own_new = np.where(np.arange(24) % 2, new[0], new[1])  # candle lovers get c_new, mug lovers m_new
    assert (hybrid_items[:, 2] == own_new).all()  # after the two ALS and content agree on
    # deterministic: fitted again, the same scores
    again = fit_hybrid(fit_model("als", train, CONFIG, ALS), train, hybrid.params, split.catalogue)
    np.testing.assert_array_equal(again.score(train.weights, users), hybrid.score(train.weights, users))


def test_the_content_weight_rises_for_products_few_bought():
    weights = hybrid_weights(np.array([0.0, 3.0, 300.0]), 0.2, 3.0)
    np.testing.assert_allclose(weights, [1.0, 0.6, 0.2 + 0.8 * 3 / 303], rtol=1e-6)
    np.testing.assert_allclose(hybrid_weights(np.array([0.0, 9.0]), 0.2, 0.0), [0.2, 0.2])


def test_blend_chosen_on_validation_and_judged_with_the_others():
    split = shop()
    params, trials = tune_blend(split, ALS, CONFIG)
    assert len(trials) == 4 and {"content_weight", "content_prior", "ndcg_at_3"} <= set(trials.columns)
    winner, results = compare_candidates(split, ALS, CONFIG, hybrid_params=params)
    assert winner == "hybrid"
    assert results["hybrid"]["ndcg_at_3"] > results["als"]["ndcg_at_3"]
    assert results["hybrid"]["new_product_share_at_3"] > 0 == results["als"]["new_product_share_at_3"]
    for metrics in results.values():
        assert {"coverage_at_3", "diversity_at_3", "novelty_at_3", "new_product_share_at_3"} <= set(metrics)
    # without the hybrid's parameters it is not fitted: the other candidates alone
    assert "hybrid" not in compare_candidates(split, ALS, CONFIG)[1]
    plain = dataclasses.replace(split, catalogue=None)
    assert "diversity_at_3" not in compare_candidates(plain, ALS, CONFIG)[1]["als"]
