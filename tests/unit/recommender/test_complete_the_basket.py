"""complete_the_basket: consequents of the rules whose antecedents a customer bought, judged beside the others."""
import dataclasses
import datetime as dt

import numpy as np
import pandas as pd

from ml.families.recommender.candidates import fit_model, top_n
from ml.families.recommender.config import RecommenderConfig
from ml.families.recommender.evaluate import compare_candidates, evaluate_recommenders, make_split
from ml.families.recommender.interactions import build_matrix
from ml.families.recommender.model import Recommender

CUTOFF = dt.date(2024, 3, 1)
CONFIG = RecommenderConfig(als_grid={"factors": (4,), "regularization": (0.1,), "alpha": (5.0,), "iterations": (5,)},
                           cosine_neighbours=10, batch_users=16)


def rules(*triples) -> pd.DataFrame:
    return pd.DataFrame(triples, columns=["antecedent_product_id", "consequent_product_id", "lift"])


def test_rule_consequents_by_recency_weighted_lift_then_popularity():
    inter = pd.DataFrame({
        "customer_id": ["u1", "u1", "u2", "u3", "u3", "u3"],
        "product_id": ["p1", "p2", "p5", "p5", "p6", "p6b"],
        "weight": [4.0, 1.0, 1.0, 1.0, 1.0, 1.0],  # u1 bought p1 lately (or much), p2 long ago
        "last_purchase_date": pd.to_datetime(["2024-02-28", "2023-05-01", "2024-02-28", "2024-02-27",
                                              "2024-02-27", "2024-02-27"]),
    })
    matrix = build_matrix(inter, CUTOFF, CONFIG)
    model = fit_model("complete_the_basket", matrix, CONFIG,
                      rules=rules(("p1", "p6", 2.0), ("p2", "p6b", 3.0), ("p2", "p9", 5.0)))  # p9: not in the matrix
    items, scores = top_n(model.score(matrix.weights, matrix.user_index(["u1", "u2"])), 4)
    named = [[matrix.items[i] for i in row] for row in items]
    # u1: p6 (1 x 2.0) above p6b (0.25 x 3.0), both above the popular pad (p5: 2 buyers lately)
    assert named[0][:3] == ["p6", "p6b", "p5"] and scores[0][1] > 1 > scores[0][2]
    # u2 bought nothing with a rule: recent popularity alone
    assert named[1][0] == "p5" and scores[1][0] < 1
    plain = fit_model("complete_the_basket", matrix, CONFIG)  # no rules mined: popularity alone
    assert np.array_equal(plain.score(matrix.weights, [0]).argsort(), plain.item_scores[None, :].argsort())


def basket_shop(seed=3, n_users=120, pairs=6):
    """Each customer bought one product of a pair; in the holdout they buy its partner."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for u in range(n_users):
        pair = rng.integers(pairs)
        train.append((f"u{u}", f"a{pair}", 1.0, "2024-02-20"))
        train.append((f"u{u}", f"pop{u % 3}", 1.0, "2024-02-25"))  # popular fillers
        if u % 2:
            train.append((f"u{u}", f"b{pair}", 1.0, "2023-09-01"))  # earlier baskets had both: the rules know
        test.append((f"u{u}", f"b{pair}"))
    inter = pd.DataFrame(train, columns=["customer_id", "product_id", "weight", "last_purchase_date"])
    inter["last_purchase_date"] = pd.to_datetime(inter["last_purchase_date"])
    holdout = pd.DataFrame(test, columns=["customer_id", "product_id"])
    mined = rules(*[(f"a{p}", f"b{p}", 6.0) for p in range(pairs)])
    split = make_split(inter, holdout, sorted(set(inter["product_id"])), CUTOFF, CONFIG)
    return dataclasses.replace(split, rules=mined)


def test_judged_on_the_same_holdout_as_the_others():
    split = basket_shop()
    winner, results = compare_candidates(split, {"factors": 4, "regularization": 0.1, "alpha": 5.0, "iterations": 5},
                                         CONFIG)
    assert winner == "complete_the_basket"
    assert results["complete_the_basket"]["ndcg_at_10"] > results["popularity"]["ndcg_at_10"]
    # a registered complete_the_basket is refitted with the split's own rules, never the ones it was served with
    served = Recommender.fit("complete_the_basket", split.train, split.allowed, CONFIG, CUTOFF, rules=rules())
    metrics, _ = evaluate_recommenders({"challenger": served}, split, CONFIG)
    assert metrics["challenger"]["ndcg_at_10"] == results["complete_the_basket"]["ndcg_at_10"]
