"""Every recommendation's reason: the strongest link to what the customer bought, short enough to print."""
import pandas as pd

from ml.families.recommender.model import Recommender
from ml.families.recommender.reasons import (
    BOUGHT_BEFORE,
    LIKE_YOU,
    MAX_CHARS,
    POPULAR_OVERALL,
    POPULAR_SEGMENT,
    Explainer,
)
from ml.families.recommender.score import recommendation_chunks
from tests.unit.recommender.test_hybrid import ALS, CATALOGUE, CONFIG, CUTOFF, shop

RULES = pd.DataFrame({"antecedent_product_id": ["c1", "c1", "m0"], "consequent_product_id": ["m4", "c5", "c5"],
                      "lift": [2.0, 3.0, 9.0]})


def served(kind="hybrid", catalogue=CATALOGUE):
    split = shop()
    params = {**ALS, "content_weight": 0.2, "content_prior": 3.0} if kind == "hybrid" else None
    return Recommender.fit(kind, split.train, split.allowed, CONFIG, CUTOFF, params, catalogue=split.catalogue)


def test_the_strongest_link_to_what_they_bought():
    recommender = served()
    explainer = Explainer.build(recommender, RULES, CATALOGUE)
    # u1 bought c0..c3 (candles); u0 bought mugs
    frame = pd.DataFrame({
        "customer_id": ["u1", "u1", "u1", "u1", "u1", "NEW", "NEW"],
        "product_id": ["c2", "m4", "c5", "c_new", "m_new", "m1", "m2"],
        "source": ["model"] * 5 + ["fallback_segment", "fallback_popular"],
    })
    reasons = explainer.explain(frame, recommender).tolist()
    assert reasons[0] == BOUGHT_BEFORE
    assert reasons[1] == "bought with SCENTED CANDLE BLUE"  # c1 -> m4
    assert reasons[2] == "bought with SCENTED CANDLE BLUE"  # c1 -> c5; m0's stronger rule is not theirs
    assert reasons[3].startswith("similar to SCENTED CANDLE ")  # never bought by anyone: content links it
    assert reasons[4] == LIKE_YOU  # a mug: nothing in common with their candles
    assert reasons[5:] == [POPULAR_SEGMENT, POPULAR_OVERALL]


def test_reasons_are_short_and_name_products_without_a_description_by_id():
    long = CATALOGUE.assign(description=CATALOGUE["description"].where(CATALOGUE["product_id"] != "c1", "X" * 200))
    long.loc[long["product_id"] == "c0", "description"] = None
    recommender = served(catalogue=long)
    explainer = Explainer.build(recommender, pd.DataFrame({"antecedent_product_id": ["c1", "c0"],
                                                           "consequent_product_id": ["m4", "m5"], "lift": [2.0, 2.0]}),
                                long)
    frame = pd.DataFrame({"customer_id": ["u1", "u1"], "product_id": ["m4", "m5"], "source": "model"})
    reasons = explainer.explain(frame, recommender).tolist()
    assert len(reasons[0]) == MAX_CHARS and reasons[0].startswith("bought with XXX") and reasons[0].endswith("...")
    assert reasons[1] == "bought with c0"


def test_popularity_models_say_so_and_every_scored_row_has_a_reason():
    recommender = served("popularity")
    overall = pd.DataFrame({"product_id": ["m1", "c1"], "buyers": [5, 3]})
    chunks = list(recommendation_chunks(recommender, ["u0", "u1", "u3", "NEW"], ["c4", "c5", "m1", "c1"], overall,
                                        None, None, chunk=2))
    frame = pd.concat(chunks, ignore_index=True)
    assert frame["reason"].str.len().between(1, MAX_CHARS).all()
    assert set(frame.loc[frame["customer_id"] == "NEW", "reason"]) == {POPULAR_OVERALL}
    # the default explainer knows no rules nor catalogue: own products, else what the model is
    assert set(frame.loc[frame["customer_id"] != "NEW", "reason"]) <= {BOUGHT_BEFORE, POPULAR_OVERALL}
    assert list(frame.columns) == ["customer_id", "rank", "product_id", "score", "source", "reason"]
    empty = next(recommendation_chunks(recommender, [], [], overall, None, None, chunk=2))
    assert "reason" in empty.columns and empty.empty
