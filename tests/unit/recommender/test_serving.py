"""The deployable Recommender, its MLflow pyfunc, the fallback for unseen customers, and a training run."""
import dataclasses

import pandas as pd
import pytest

from ml.families.recommender.evaluate import evaluate_recommenders, make_split
from ml.families.recommender.fallback import fallback_lists, fallback_recommendations
from ml.families.recommender.model import OUTPUT_COLUMNS, Recommender
from ml.families.recommender.train import TrainingData, train_recommender
from ml.sql import MissingColumns
from tests.unit.recommender.test_models import CONFIG, CUTOFF, taste_shop


@pytest.fixture(scope="module")
def shop():
    return taste_shop(seed=11, n_users=120)


@pytest.fixture(scope="module")
def recommender(shop) -> Recommender:
    inter, holdout, active = shop
    split = make_split(inter, holdout, active, CUTOFF, CONFIG)
    return Recommender.fit("als", split.train, split.allowed, CONFIG, CUTOFF,
                           {"factors": 8, "iterations": 5, "alpha": 10.0})


def test_recommend_known_and_unknown_customers(recommender):
    out = recommender.recommend(["u1", "u2", "stranger", "u1"], k=5)
    assert list(out.columns) == OUTPUT_COLUMNS
    assert out.groupby("customer_id").size().to_dict() == {"stranger": 5, "u1": 5, "u2": 5}
    assert set(out.loc[out.customer_id == "stranger", "source"]) == {"fallback_popular"}
    assert set(out.loc[out.customer_id == "u1", "source"]) == {"model"}
    u1 = out[out.customer_id == "u1"]
    assert u1["rank"].tolist() == [1, 2, 3, 4, 5]
    assert u1["score"].is_monotonic_decreasing
    assert u1["product_id"].str.startswith("g1_").sum() >= 4  # u1 lives in taste group 1


def test_inactive_products_never_recommended(recommender):
    everything = recommender.recommend(recommender.train.users, k=10)
    banned = set(everything["product_id"].value_counts().index[:3])
    active = [p for p in recommender.train.items if p not in banned]
    out = recommender.recommend(list(recommender.train.users) + ["stranger"], k=10, active_products=active)
    assert not set(out["product_id"]) & banned
    assert (out.groupby("customer_id").size() == 10).all()


def test_recommend_without_repurchase_skips_owned_items(recommender):
    no_rebuy = dataclasses.replace(recommender, config=dataclasses.replace(CONFIG, allow_repurchase=False))
    out = no_rebuy.recommend(["u3"], k=10)
    owned = set(recommender.train.items[recommender.train.weights[recommender.train.user_index(["u3"])[0]].indices])
    assert owned and not set(out["product_id"]) & owned


def test_recommend_is_deterministic_and_survives_pickle(recommender, tmp_path):
    again = Recommender.load(recommender.save(tmp_path / "r.pkl"))
    pd.testing.assert_frame_equal(recommender.recommend(["u1", "x"]), again.recommend(["u1", "x"]))
    (tmp_path / "bad.pkl").write_bytes(__import__("pickle").dumps({"not": "a recommender"}))
    with pytest.raises(TypeError):
        Recommender.load(tmp_path / "bad.pkl")


def test_empty_request(recommender):
    out = recommender.recommend([])
    assert out.empty and list(out.columns) == OUTPUT_COLUMNS


def test_pyfunc_roundtrip(recommender, tmp_path):
    mlflow = pytest.importorskip("mlflow")
    from ml.families.recommender.pyfunc import log_recommender
    from ml.pyfunc import load_predictor, load_pyfunc

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("recommender", artifact_location=(tmp_path / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        uri = log_recommender(recommender)
    loaded = load_pyfunc(uri)
    out = loaded.predict(pd.DataFrame({"customer_id": ["u1", "stranger"]}), params={"k": 3})
    assert len(out) == 6 and set(out["source"]) == {"model", "fallback_popular"}
    assert len(loaded.predict(pd.DataFrame({"customer_id": ["u1"]}))) == 10  # k defaults to top_n
    assert loaded.metadata.get_input_schema().input_names() == ["customer_id"]
    assert isinstance(loaded.unwrap_python_model().predictor, Recommender)
    assert isinstance(load_predictor(uri), Recommender)
    with pytest.raises(MissingColumns, match="customer_id"):
        loaded.unwrap_python_model().predict(None, pd.DataFrame({"id": ["u1"]}))


def popularity():
    overall = pd.DataFrame({"product_id": ["a", "b", "c", "d"], "buyers": [10, 30, 20, 30]})
    by_segment = pd.DataFrame({"segment": ["vip", "vip", "new"], "product_id": ["d", "c", "a"],
                               "buyers": [5, 1, 2]})
    return overall, by_segment


def test_fallback_by_segment_then_overall():
    overall, by_segment = popularity()
    customers = pd.DataFrame({"customer_id": ["1", "2", "3", "4"], "segment": ["vip", "new", None, "gone"]})
    out = fallback_recommendations(customers, overall, 3, by_segment)
    lists = {c: list(zip(g["product_id"], g["source"])) for c, g in out.groupby("customer_id")}
    assert lists["1"] == [("d", "fallback_segment"), ("c", "fallback_segment"), ("b", "fallback_popular")]
    assert lists["2"] == [("a", "fallback_segment"), ("b", "fallback_popular"), ("d", "fallback_popular")]
    # no segment, or a segment nobody bought in: the overall list (ties on buyers by product id)
    assert lists["3"] == lists["4"] == [("b", "fallback_popular"), ("d", "fallback_popular"),
                                        ("c", "fallback_popular")]
    assert out.groupby("customer_id")["rank"].apply(list).tolist() == [[1, 2, 3]] * 4


def test_fallback_without_segments_and_bad_input():
    overall, _ = popularity()
    out = fallback_recommendations(pd.DataFrame({"customer_id": ["1"]}), overall, 2)
    assert out["product_id"].tolist() == ["b", "d"] and set(out["source"]) == {"fallback_popular"}
    with pytest.raises(MissingColumns, match="buyers"):
        fallback_lists(overall.drop(columns="buyers"), 2)
    with pytest.raises(MissingColumns, match="customer_id"):
        fallback_recommendations(pd.DataFrame({"id": ["1"]}), overall, 2)
    assert fallback_recommendations(pd.DataFrame({"customer_id": []}), overall, 2).empty


def test_training_run_and_fair_comparison(shop):
    inter, holdout, active = shop
    split = make_split(inter, holdout, active, CUTOFF, CONFIG)
    outcome = train_recommender(TrainingData.held(split, split, split.train, split.allowed), CUTOFF, CONFIG)
    assert outcome.winner in ("als", "item_cosine")
    assert set(outcome.results) == {"als", "hybrid", "popularity", "recent_popularity", "item_cosine",
                                    "repeat_purchase", "complete_the_basket"}
    # no catalogue here: the hybrid is ALS scaled, the same ranking, and ALS wins the tie
    assert outcome.results["hybrid"]["ndcg_at_10"] == outcome.results["als"]["ndcg_at_10"]
    assert outcome.recommender.model.kind == outcome.winner
    pop = Recommender.fit("popularity", split.train, split.allowed, CONFIG, CUTOFF)
    metrics, pairwise = evaluate_recommenders({"challenger": outcome.recommender, "champion": pop}, split, CONFIG)
    assert metrics["challenger"]["ndcg_at_10"] > metrics["champion"]["ndcg_at_10"]
    assert metrics["champion"] == pytest.approx(outcome.results["popularity"])
    assert 0.0 <= pairwise["list_overlap"] < 1.0


def test_training_reads_each_input_only_once_the_one_before_is_released(shop):
    """At 1M customers one matrix is ~1.5 GiB: the run must never hold two of its inputs at once."""
    import weakref

    inter, holdout, active = shop
    handed_out = []  # weak references to the matrices given to the run so far

    def loader(make):
        def load():
            assert all(ref() is None for ref in handed_out), "an earlier input is still held"
            value = make()
            handed_out.append(weakref.ref(value.train if hasattr(value, "train") else value[0]))
            return value
        return load

    def split():
        return make_split(inter, holdout, active, CUTOFF, CONFIG)

    def final():
        whole = split()
        return whole.train, whole.allowed

    outcome = train_recommender(TrainingData(loader(split), loader(split), loader(final)), CUTOFF, CONFIG)
    assert len(handed_out) == 3
    assert outcome.recommender.train is handed_out[2]()  # the refit is on the final matrix
    held = train_recommender(TrainingData.held(split(), split(), *final()), CUTOFF, CONFIG)
    assert held.als_params == outcome.als_params and held.winner == outcome.winner
