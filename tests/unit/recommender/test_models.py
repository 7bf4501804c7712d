"""Candidate models, top-N selection, evaluation settings and tuning on tiny synthetic shops."""
import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from ml.families.recommender.candidates import MODEL_KINDS, fit_model, top_n
from ml.families.recommender.config import RecommenderConfig
from ml.families.recommender.evaluate import (
    Split,
    candidate_params,
    compare_candidates,
    evaluate_model,
    make_split,
    tune_als,
)
from ml.families.recommender.interactions import build_matrix

CUTOFF = dt.date(2024, 3, 1)
CONFIG = RecommenderConfig(
    als_grid={"factors": (8,), "regularization": (0.05,), "alpha": (5.0, 20.0), "iterations": (10,)},
    cosine_neighbours=20,
    batch_users=64,  # several batches even on tiny data
)


def taste_shop(seed: int = 7, n_users: int = 240, groups: int = 4, per_group: int = 12):
    """Users buy inside their taste group plus a few shop-wide bestsellers; the holdout continues
    the same tastes. Popularity cannot know the group; a collaborative model can."""
    rng = np.random.default_rng(seed)
    bestsellers = [f"best{i}" for i in range(4)]
    train, test = [], []
    for u in range(n_users):
        group = u % groups
        own = [f"g{group}_{i}" for i in range(per_group)]
        bought = rng.choice(own, size=6, replace=False)
        for item in bought:
            train.append((f"u{u}", item, float(rng.integers(1, 4)), "2024-02-20"))
        for item in bestsellers:
            if rng.random() < 0.5:
                train.append((f"u{u}", item, 1.0, "2023-06-01"))
        for item in rng.choice(own, size=3, replace=False):
            test.append((f"u{u}", item))
        if rng.random() < 0.3:
            test.append((f"u{u}", bestsellers[0]))
    inter = pd.DataFrame(train, columns=["customer_id", "product_id", "weight", "last_purchase_date"])
    inter = inter.groupby(["customer_id", "product_id"], as_index=False).agg(
        weight=("weight", "sum"), last_purchase_date=("last_purchase_date", "max")
    )
    inter["last_purchase_date"] = pd.to_datetime(inter["last_purchase_date"])
    holdout = pd.DataFrame(test, columns=["customer_id", "product_id"]).drop_duplicates()
    active = sorted(set(inter["product_id"]))
    return inter, holdout, active


@pytest.fixture(scope="module")
def split() -> Split:
    inter, holdout, active = taste_shop()
    return make_split(inter, holdout, active, CUTOFF, CONFIG)


def test_top_n_orders_filters_and_pads():
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [1.0, 1.0, 1.0, 0.0]])
    items, values = top_n(scores, 3)
    assert items.tolist() == [[1, 3, 2], [0, 1, 2]]  # ties go to the lower column
    assert values[0].tolist() == pytest.approx([0.9, 0.7, 0.5])
    allowed = np.array([True, False, True, True])
    seen = sp.csr_matrix(np.array([[0, 0, 1, 0], [0, 0, 0, 0]]))
    items, values = top_n(scores, 3, allowed=allowed, seen=seen)
    assert items.tolist() == [[3, 0, -1], [0, 2, 3]]
    assert np.isnan(values[0, 2])
    items, _ = top_n(scores, 6)
    assert items.shape == (2, 6) and (items[:, 4:] == -1).all()


def test_top_n_tie_break_is_stable_under_partition():
    scores = np.ones((3, 50))
    scores[:, 40] = 2.0
    items, _ = top_n(scores, 4)
    assert items.tolist() == [[40, 0, 1, 2]] * 3


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_every_model_scores_every_item(split, kind):
    model = fit_model(kind, split.train, CONFIG, {"factors": 4, "iterations": 3} if kind == "als" else None)
    scores = model.score(split.train.weights, np.array([0, 5, 7]))
    assert scores.shape == (3, split.train.shape[1])
    assert np.isfinite(scores).all()


def test_fit_rejects_unknown_kind_and_empty_matrix(split):
    with pytest.raises(ValueError, match="unknown model kind"):
        fit_model("svd", split.train, CONFIG)
    empty = build_matrix(
        pd.DataFrame(columns=["customer_id", "product_id", "weight", "last_purchase_date"]), CUTOFF, CONFIG
    )
    with pytest.raises(ValueError, match="empty"):
        fit_model("als", empty, CONFIG)


def test_popularity_counts_buyers_not_units():
    inter = pd.DataFrame(
        {"customer_id": ["a", "b", "c"], "product_id": ["x", "y", "y"], "weight": [100.0, 1.0, 1.0],
         "last_purchase_date": pd.to_datetime(["2024-02-28", "2020-01-01", "2020-01-01"])}
    )
    m = build_matrix(inter, CUTOFF, CONFIG)
    assert fit_model("popularity", m, CONFIG).item_scores.tolist() == [1.0, 2.0]
    recent = fit_model("recent_popularity", m, CONFIG).item_scores
    assert recent[0] > recent[1]  # x bought recently, y long ago


def test_repeat_purchase_ranks_the_customer_s_own_products_first_then_pads_with_popular_ones():
    inter = pd.DataFrame(
        {"customer_id": ["a", "a", "b", "c", "d"], "product_id": ["x", "y", "y", "y", "z"],
         "weight": [0.2, 3.0, 1.0, 1.0, 1.0],
         "last_purchase_date": pd.to_datetime(["2020-01-01", "2024-02-28", "2024-02-28", "2024-02-28", "2024-02-28"])}
    )
    m = build_matrix(inter, CUTOFF, CONFIG)
    model = fit_model("repeat_purchase", m, CONFIG)
    items, _ = top_n(model.score(m.weights, np.arange(len(m.users))), 3)
    name = dict(enumerate(m.items)).get
    by_user = {user: [name(i) for i in row if i >= 0] for user, row in zip(m.users, items)}
    assert by_user["a"] == ["y", "x", "z"]  # own products by weight (even a faint old one), then popularity
    assert by_user["d"] == ["z", "y", "x"]  # y has three buyers, x one
    assert by_user["b"][0] == "y"


def test_als_is_deterministic_for_a_seed(split):
    a = fit_model("als", split.train, CONFIG, {"factors": 4, "iterations": 3})
    b = fit_model("als", split.train, CONFIG, {"factors": 4, "iterations": 3})
    np.testing.assert_allclose(a.item_factors, b.item_factors, rtol=1e-5)


def test_als_and_cosine_beat_popularity_on_learnable_tastes(split):
    winner, results = compare_candidates(split, {"factors": 8, "regularization": 0.05, "alpha": 10.0,
                                                 "iterations": 10}, CONFIG)
    assert results["als"]["ndcg_at_10"] > results["popularity"]["ndcg_at_10"] + 0.1
    assert results["item_cosine"]["ndcg_at_10"] > results["popularity"]["ndcg_at_10"]
    assert winner in ("als", "item_cosine")
    assert results["als"]["coverage_at_10"] > results["popularity"]["coverage_at_10"]


def test_repurchase_setting_changes_what_counts(split):
    model = fit_model("popularity", split.train, CONFIG)
    rebuy = evaluate_model(model, split, CONFIG)
    no_rebuy = evaluate_model(model, split, dataclasses.replace(CONFIG, allow_repurchase=False))
    # Without repurchases, holdout items the user already had are not relevant: fewer users count.
    assert no_rebuy["n_users"] <= rebuy["n_users"]
    assert rebuy != no_rebuy


def test_inactive_items_are_never_recommended(split):
    allowed = split.allowed.copy()
    allowed[split.train.item_index(["best0", "g0_0"])] = False
    restricted = dataclasses.replace(split, allowed=allowed)
    metrics = evaluate_model(fit_model("popularity", split.train, CONFIG), restricted, CONFIG)
    from ml.families.recommender.candidates import recommend_rows

    for _, items, _ in recommend_rows(fit_model("popularity", split.train, CONFIG), split.train,
                                      np.arange(split.train.shape[0]), CONFIG, allowed=allowed):
        assert not np.isin(items, split.train.item_index(["best0", "g0_0"])).any()
    assert metrics["n_users"] > 0


def test_candidate_params_sampling_is_seeded():
    config = dataclasses.replace(
        CONFIG, als_grid={"factors": (8, 16, 32), "alpha": (1.0, 10.0), "regularization": (0.1,)}, max_trials=4
    )
    first, second = candidate_params(config), candidate_params(config)
    assert first == second and len(first) == 4
    assert len(candidate_params(dataclasses.replace(config, max_trials=100))) == 6
    # On a catalogue of 40 items, 16 and 32 factors would memorise it: only 8 stays.
    assert {p["factors"] for p in candidate_params(dataclasses.replace(config, max_trials=100), 40)} == {8}


def test_tune_als_logs_every_trial_and_returns_plain_params(split):
    best, trials = tune_als(split, CONFIG)
    assert len(trials) == 2 and {"alpha", "ndcg_at_10", "coverage_at_10"} <= set(trials.columns)
    assert best["alpha"] in (5.0, 20.0) and type(best["factors"]) is int
    assert trials["ndcg_at_10"].max() == pytest.approx(
        trials.loc[trials["alpha"] == best["alpha"], "ndcg_at_10"].iloc[0]
    )


def test_winner_must_reach_the_coverage_guardrail(split):
    params = {"factors": 8, "regularization": 0.05, "alpha": 10.0, "iterations": 10}
    winner, results = compare_candidates(split, params, CONFIG, min_coverage=0.5)
    assert results[winner]["coverage_at_10"] >= 0.5
    # An impossible guardrail leaves the plain NDCG winner rather than nothing.
    unconstrained, _ = compare_candidates(split, params, CONFIG)
    assert compare_candidates(split, params, CONFIG, min_coverage=2.0)[0] == unconstrained


def test_top_n_in_place_only_when_asked():
    scores = np.array([[0.3, 0.1, 0.2]], dtype=np.float32)
    top_n(scores, 1, allowed=np.array([False, True, True]))
    assert scores[0, 0] == np.float32(0.3)  # the caller's block is left alone by default
    top_n(np.array([[0.3, 0.1, 0.2]]), 1, allowed=np.array([False, True, True]), copy=False)  # float64: converted
    items, _ = top_n(scores, 1, allowed=np.array([False, True, True]), copy=False)
    assert items.tolist() == [[2]] and np.isneginf(scores[0, 0])


def test_repeat_purchase_ranks_by_orders_before_units_and_pads_with_recent_popularity():
    # a bought x in one order of many units (a high weight) and y in three small orders: "buy again"
    # means y first; z (bought recently by two others) pads before w (bought by three, long ago).
    inter = pd.DataFrame(
        {"customer_id": ["a", "a", "b", "c", "e", "f", "g"], "product_id": ["x", "y", "z", "z", "w", "w", "w"],
         "weight": [9.0, 1.5, 1.0, 1.0, 1.0, 1.0, 1.0], "purchase_orders": [1, 3, 1, 1, 1, 1, 1],
         "last_purchase_date": pd.to_datetime(["2024-02-28", "2024-02-20", "2024-02-28", "2024-02-27",
                                               "2023-01-01", "2023-01-01", "2023-01-01"])})
    m = build_matrix(inter, CUTOFF, CONFIG)
    model = fit_model("repeat_purchase", m, CONFIG)
    items, _ = top_n(model.score(m.weights, np.arange(len(m.users)), m.orders), 4)
    name = dict(enumerate(m.items)).get
    by_user = {user: [name(i) for i in row if i >= 0] for user, row in zip(m.users, items)}
    assert by_user["a"] == ["y", "x", "z", "w"]
    # without order counts (an older feature table) the weight alone ranks the own products
    items, _ = top_n(model.score(m.weights, np.arange(len(m.users))), 2)
    assert [name(i) for i in items[list(m.users).index("a")]] == ["x", "y"]
