"""The recommender family end to end on a small generated shop (DuckDB + a file MLflow store), its
feature SQL on PostgreSQL, and the scoring chunker on tiny frames."""
from __future__ import annotations

import datetime as dt

import mlflow
import numpy as np
import pandas as pd
import pytest

from ml import catalog, features, promotion, registry
from ml.families import load_family
from ml.families.recommender.config import load as recommender_config
from ml.families.recommender.evaluate import make_split
from ml.families.recommender.model import Recommender
from ml.families.recommender.score import recommendation_chunks

pytestmark = pytest.mark.integration

INTERACTIONS, MART, SEGMENTS = catalog.USER_ITEM_INTERACTIONS, catalog.USER_RECOMMENDATIONS, catalog.USER_SEGMENTS


def _mart(wh, as_of) -> pd.DataFrame:
    return wh.query(f"SELECT * FROM {MART} WHERE as_of_date = DATE '{as_of}' ORDER BY customer_id, rank")


def _add_new_customers(wh, as_of: dt.date) -> None:
    """Two customers whose first purchase comes after the champion was trained, one with a segment."""
    day = pd.Timestamp(as_of) - pd.Timedelta(days=2)
    product = wh.scalar("SELECT product_id FROM raw.order_lines WHERE quantity > 0 ORDER BY invoice_ts DESC LIMIT 1")
    for customer in ("NEW1", "NEW2"):
        wh.execute(
            "INSERT INTO raw.order_lines (invoice_id, line_no, product_id, description, quantity, unit_price, "
            f"invoice_ts, customer_id, country, is_return) VALUES ('N{customer}', 1, '{product}', 'x', 1, 1.0, "
            f"TIMESTAMP '{day}', '{customer}', 'United Kingdom', FALSE)"
        )
    features.build_user_features(wh, as_of)
    known = wh.query(f"SELECT customer_id FROM {features.USER_FEATURES} WHERE as_of_date = DATE '{as_of}' "
                     "AND is_active ORDER BY customer_id LIMIT 40")["customer_id"].tolist()
    segments = pd.DataFrame({"customer_id": known + ["NEW1"], "segment_id": 1, "segment_name": "vip",
                             "as_of_date": as_of})
    wh.replace_partition(SEGMENTS, segments, {"as_of_date": as_of})


def test_recommender_end_to_end(loaded_warehouse, mlflow_store, small_shop_as_of):
    wh, as_of = loaded_warehouse, small_shop_as_of
    family = load_family("recommender")
    config = recommender_config()
    train_as_of = as_of - dt.timedelta(days=config.horizon_days)

    # Features: three point-in-time partitions, rewritten identically on a re-run; D's association rules.
    assert family.build_features(wh, train_as_of) == [INTERACTIONS, catalog.PRODUCT_ASSOCIATIONS]
    rules = wh.query(f"SELECT * FROM {catalog.PRODUCT_ASSOCIATIONS} WHERE as_of_date = DATE '{train_as_of}'")
    assert len(rules) > 0 and (rules["lift"] > 1).all() and rules["run_id"].nunique() == 1
    counts = wh.query(f"SELECT as_of_date, COUNT(*) AS n FROM {INTERACTIONS} GROUP BY as_of_date ORDER BY 1")
    family.build_features(wh, train_as_of)
    assert len(counts) == 3 and wh.query(
        f"SELECT as_of_date, COUNT(*) AS n FROM {INTERACTIONS} GROUP BY as_of_date ORDER BY 1").equals(counts)

    # Train: ALS and the three baselines in one parent run; the winner registered as challenger.
    challenger = family.train(wh, train_as_of)
    assert registry.get_alias("recommender", registry.CHALLENGER) == challenger
    run = mlflow.get_run(challenger.run_id)
    metrics, winner = run.data.metrics, run.data.params["winner"]
    assert metrics["als_ndcg_at_10"] > metrics["baseline_popularity_ndcg_at_10"]  # tastes are learnable
    for metric in ("precision_at_10", "recall_at_10", "map_at_10", "coverage_at_10", "diversity_at_10",
                   "novelty_at_10", "new_product_share_at_10"):  # beyond accuracy, beside NDCG
        assert {metric, f"als_{metric}", f"hybrid_{metric}", f"baseline_recent_popularity_{metric}",
                f"baseline_item_cosine_{metric}"} <= set(metrics)
    assert 0 < metrics["diversity_at_10"] <= 1 and metrics["novelty_at_10"] > 0
    assert {"hybrid_content_weight", "hybrid_content_prior"} <= set(run.data.params)
    prefix = f"{winner}_" if winner in ("als", "hybrid") else f"baseline_{winner}_"
    assert metrics["ndcg_at_10"] == metrics[f"{prefix}ndcg_at_10"] == max(
        v for k, v in metrics.items() if k.endswith("ndcg_at_10") and not k.startswith("validation"))
    assert {"als_factors", "als_alpha", "als_regularization", "als_iterations"} <= set(run.data.params)
    children = mlflow.search_runs(experiment_ids=[run.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    assert set(children["tags.mlflow.runName"]) == {"als", "hybrid", "popularity", "recent_popularity", "item_cosine",
                                                    "repeat_purchase", "complete_the_basket"}
    assert "baseline_complete_the_basket_ndcg_at_10" in metrics

    # Promote: no champion yet, so the policy compares with global popularity on the fresh holdout.
    decision = promotion.promote_challenger(wh, family, train_as_of)
    assert decision.promote, decision.reason
    champion = registry.get_alias("recommender", registry.CHAMPION)
    assert champion == challenger

    # Score a month later: customers who arrived since get the documented fallback.
    family.build_features(wh, as_of)
    _add_new_customers(wh, as_of)
    written = family.score(wh, as_of, champion)
    mart = _mart(wh, as_of)
    assert written == len(mart) > 0
    assert list(mart.columns[:6]) == ["customer_id", "rank", "product_id", "score", "source", "reason"]
    assert mart["reason"].str.len().between(1, 80).all()  # every row says why, briefly
    model_reasons = mart.loc[mart["source"] == "model", "reason"]
    assert model_reasons.str.match(r"^(bought before|bought with |similar to |liked by|popular overall)").all()
    assert set(mart.loc[mart["customer_id"] == "NEW2", "reason"]) == {"popular overall"}
    assert "popular in your segment" in set(mart.loc[mart["customer_id"] == "NEW1", "reason"])
    assert (mart["source"] == "model").mean() > 0.9
    active = set(wh.query(f"SELECT customer_id FROM {features.USER_FEATURES} WHERE as_of_date = "
                          f"DATE '{as_of}' AND is_active")["customer_id"])
    assert set(mart["customer_id"]) == active

    # Products no longer sold (no sale in the window before D, or not in the catalogue) never appear.
    since = as_of - dt.timedelta(days=config.active_item_days)
    sold = set(wh.query(f"SELECT DISTINCT product_id FROM raw.order_lines WHERE quantity > 0 AND invoice_ts >= "
                        f"DATE '{since}' AND invoice_ts < DATE '{as_of}'")["product_id"])
    catalogue = set(wh.query("SELECT product_id FROM raw.products")["product_id"])
    assert set(mart["product_id"]) <= sold & catalogue
    assert len(catalogue - sold) > 0  # the generated shop does retire products

    # Idempotent for one as-of date: same rows, no duplicates.
    family.score(wh, as_of, champion)
    again = _mart(wh, as_of)
    columns = ["customer_id", "rank", "product_id", "score", "source"]
    pd.testing.assert_frame_equal(again[columns], mart[columns])

    # Evaluate against a champion: both refitted on the same history, graded on the same holdout.
    evaluation = family.evaluate(wh, as_of, challenger, champion)
    assert evaluation.champion == pytest.approx(evaluation.challenger)
    assert evaluation.pairwise["list_overlap"] == pytest.approx(1.0)
    assert "purchases in" in evaluation.holdout


def test_build_features_on_postgres_matches_duckdb(pg_warehouse, loaded_warehouse, small_shop, small_shop_as_of):
    from ml import ingest

    family = load_family("recommender")
    ingest.stage_source(pg_warehouse, small_shop)
    ingest.publish_staged(pg_warehouse)
    family.build_features(pg_warehouse, small_shop_as_of)
    family.build_features(loaded_warehouse, small_shop_as_of)
    select = (f"SELECT as_of_date, customer_id, product_id, purchase_qty, return_qty, cart_events, view_events, "
              f"last_purchase_date, weight FROM {INTERACTIONS} "
              "ORDER BY as_of_date, customer_id, product_id")
    pg, duck = pg_warehouse.query(select), loaded_warehouse.query(select)
    for frame in (pg, duck):  # the two drivers return different datetime resolutions
        for column in ("as_of_date", "last_purchase_date"):
            frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
    assert len(pg) == len(duck) > 0
    pd.testing.assert_frame_equal(pg, duck, check_dtype=False, check_exact=False, rtol=1e-6)


def test_recommendation_chunks_cover_everyone_with_fallback():
    config = recommender_config()
    interactions = pd.DataFrame({"customer_id": ["u1", "u1", "u2", "u3"], "product_id": ["a", "b", "b", "c"],
                                 "weight": [1.0, 2.0, 1.0, 1.0],
                                 "last_purchase_date": pd.to_datetime(["2024-02-01"] * 4)})
    holdout = pd.DataFrame({"customer_id": ["u1"], "product_id": ["c"]})
    split = make_split(interactions, holdout, ["a", "b", "c"], dt.date(2024, 3, 1), config)
    recommender = Recommender.fit("popularity", split.train, split.allowed, config, split.cutoff)
    overall = pd.DataFrame({"product_id": ["b", "c"], "buyers": [5, 3]})
    by_segment = pd.DataFrame({"segment": ["vip"], "product_id": ["a"], "buyers": [4]})
    segments = pd.DataFrame({"customer_id": ["new_a"], "segment": ["vip"]})
    customers = ["u1", "u2", "u3", "new_a", "new_b"]
    chunks = list(recommendation_chunks(recommender, customers, ["a", "b"], overall, by_segment, segments,
                                        chunk=2))
    assert len(chunks) == 3
    out = pd.concat(chunks, ignore_index=True)
    assert set(out["customer_id"]) == set(customers)
    assert "c" not in set(out.loc[out.source == "model", "product_id"])  # no longer sold
    assert out[out.customer_id == "u2"]["product_id"].tolist() == ["b", "a"]
    assert out[out.customer_id == "new_a"]["product_id"].tolist()[:2] == ["a", "b"]
    assert set(out[out.customer_id == "new_b"]["source"]) == {"fallback_popular"}
    assert out["rank"].dtype == np.int64 and out["score"].dtype == np.float64
    assert out["reason"].str.len().gt(0).all()
    empty = list(recommendation_chunks(recommender, [], ["a"], overall, None, None, chunk=config.score_chunk_customers))
    assert len(empty) == 1 and empty[0].empty


def test_the_best_simple_baseline_serves_when_the_challenger_is_refused(loaded_warehouse, mlflow_store,
                                                                        small_shop_as_of, tmp_path, monkeypatch):
    """A margin over the baseline no list can reach refuses every challenger: the holdout's best simple
    baseline (popularity, recent popularity or repeat purchase) is registered and fills the mart."""
    import shutil

    import yaml

    config_dir = tmp_path / "config"
    shutil.copytree("config", config_dir)
    path = config_dir / "policies" / "recommender.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "baseline_min_gain": 1.0}))
    monkeypatch.setenv("VALUEFLOW_CONFIG_DIR", str(config_dir))

    wh, as_of = loaded_warehouse, small_shop_as_of
    family = load_family("recommender")
    family.build_features(wh, as_of)
    challenger = family.train(wh, as_of)
    evaluation = family.evaluate(wh, as_of, challenger, None)
    assert evaluation.baseline_name in {"popularity", "recent_popularity", "repeat_purchase"}
    decision = promotion.promote_challenger(wh, family, as_of, "test")
    assert decision.promote and f"{evaluation.baseline_name} serves" in decision.reason
    champion = registry.get_alias("recommender", registry.CHAMPION)
    assert champion.version != challenger.version and champion.kind == f"baseline:{evaluation.baseline_name}"
    logged = mlflow.get_run(champion.run_id).data.metrics  # what evaluate measured for it, on the same split
    assert logged["ndcg_at_10"] == pytest.approx(evaluation.baseline["ndcg_at_10"], rel=1e-6)
    written = family.score(wh, as_of, champion)
    mart = _mart(wh, as_of)
    assert written == len(mart) > 0 and set(mart["model_kind"]) == {champion.kind}
