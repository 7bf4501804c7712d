"""The propensity family end to end on a small generated shop: build_features -> train -> evaluate ->
promote -> score, on a DuckDB warehouse and a file-based MLflow store in tmp_path."""
import datetime as dt

import numpy as np
import pytest

from ml import promotion, registry
from ml.families import load_family

pytestmark = pytest.mark.integration


@pytest.fixture
def trained(loaded_warehouse, mlflow_store, small_shop_as_of):
    family = load_family("propensity")
    tables = family.build_features(loaded_warehouse, small_shop_as_of)
    ref = family.train(loaded_warehouse, small_shop_as_of)
    return family, loaded_warehouse, small_shop_as_of, tables, ref


def test_propensity_pipeline(trained):
    import mlflow

    family, wh, as_of, tables, ref = trained
    assert set(tables) == {"features.propensity_static", "features.propensity_weekly"}
    # features are point in time: the newest labelled origin ends its window exactly at D
    origins = wh.query("SELECT DISTINCT origin_date FROM features.propensity_static")["origin_date"]
    assert max(o.date() for o in origins) == as_of and all(
        o.date() + dt.timedelta(days=30) <= as_of for o in origins if o.date() != as_of)

    # all three kinds and the four baselines logged as nested runs of one parent; the registered version
    # is the validation winner among the learned kinds
    assert registry.get_alias("propensity", registry.CHALLENGER) == ref
    runs = mlflow.search_runs(experiment_names=["valueflow-propensity"])
    parent = runs[runs["params.winner"].notna()].iloc[0]
    kinds = set(runs["params.kind"].dropna())
    assert kinds == {"logistic", "lightgbm", "cnn", "recency", "frequency", "bgnbd_p_alive",
                     "bgnbd_expected_orders_30d"}
    assert parent["params.winner"] in {"logistic", "lightgbm", "cnn"} and parent["params.stacked_bgnbd"] == "True"
    winner_run = runs[runs["run_id"] == ref.run_id].iloc[0]
    assert winner_run["params.kind"] == parent["params.winner"]
    assert parent["metrics.baseline_recency_holdout_roc_auc"] > 0.5

    evaluation = family.evaluate(wh, as_of, ref, None)
    auc, baseline_auc = evaluation.challenger["roc_auc"], evaluation.baseline["roc_auc"]
    assert auc > 0.65, evaluation  # clearly above chance
    assert auc >= baseline_auc, evaluation  # and at least the best simple ranking
    recency_auc = parent["metrics.baseline_recency_holdout_roc_auc"]
    assert evaluation.baseline_name in {"recency", "frequency", "bgnbd_p_alive", "bgnbd_expected_orders_30d"}
    assert baseline_auc >= recency_auc - 1e-9  # the best of the baselines, not recency alone
    assert 0 < evaluation.challenger["brier"] < 0.25 and evaluation.challenger["lift_top_decile"] > 1.5

    # champion and challenger are re-scored on the same holdout (here the same version: identical)
    same = family.evaluate(wh, as_of, ref, ref)
    assert same.champion == same.challenger and same.pairwise["rank_correlation_vs_champion"] == pytest.approx(1)

    decision = promotion.promote_challenger(wh, family, as_of, "test")
    assert decision.promote, decision.reason
    champion = registry.get_alias("propensity", registry.CHAMPION)
    assert champion == ref

    written = family.score(wh, as_of, champion)
    mart = wh.query("SELECT * FROM marts.user_propensity")
    active = wh.row_count("features.user_features", f"as_of_date = DATE '{as_of}' AND is_active")
    assert written == len(mart) == active and mart["customer_id"].is_unique
    assert list(mart.columns) == ["customer_id", "p_purchase_30d", "churn_risk", "propensity_decile", "as_of_date",
                                  "model_name", "model_version", "run_id", "model_kind", "scored_at"]
    assert mart["p_purchase_30d"].between(0, 1).all()
    np.testing.assert_allclose(mart["churn_risk"], 1 - mart["p_purchase_30d"])
    assert set(mart["propensity_decile"]) == set(range(1, 11))
    by_decile = mart.groupby("propensity_decile")["p_purchase_30d"].mean()
    assert by_decile.is_monotonic_decreasing
    assert (mart["model_version"] == ref.version).all() and (mart["run_id"] == ref.run_id).all()
    assert family.score(wh, as_of, champion) == written  # idempotent: the partition is replaced
    assert wh.row_count("marts.user_propensity") == written

    # a score run for a date no training run featurised builds its own inputs first
    wh.execute(f"DELETE FROM features.propensity_static WHERE as_of_date = DATE '{as_of}'")
    assert family.score(wh, as_of, champion) == written


def test_when_no_learned_kind_beats_the_best_baseline_that_baseline_serves(trained, tmp_path, monkeypatch):
    """A policy no learned model can meet (a gain of 1.0 in AUC): the best baseline is registered and
    made champion, and the mart it fills says so in its lineage."""
    import shutil

    import yaml

    family, wh, as_of, _, ref = trained
    config = tmp_path / "config"
    shutil.copytree("config", config)
    policy_path = config / "policies" / "propensity.yaml"
    policy = yaml.safe_load(policy_path.read_text())
    policy_path.write_text(yaml.safe_dump({**policy, "baseline_min_gain": 1.0}))
    monkeypatch.setenv("VALUEFLOW_CONFIG_DIR", str(config))

    decision = promotion.promote_challenger(wh, family, as_of, "test")
    evaluation = family.evaluate(wh, as_of, ref, None)
    assert decision.promote and decision.reference == "baseline"
    assert f"{evaluation.baseline_name} serves" in decision.reason
    champion = registry.get_alias("propensity", registry.CHAMPION)
    assert champion.version != ref.version and champion.kind == f"baseline:{evaluation.baseline_name}"
    decisions = wh.query("SELECT challenger_version, decision FROM ops.model_promotions ORDER BY decided_at")
    assert decisions["decision"].tolist() == ["rejected", "baseline_served"]
    assert decisions["challenger_version"].tolist() == [ref.version, champion.version]

    written = family.score(wh, as_of, registry.champion_at("propensity", as_of.isoformat()))
    mart = wh.query("SELECT * FROM marts.user_propensity")
    assert written == len(mart) > 0 and mart["p_purchase_30d"].between(0, 1).all()
    assert set(mart["model_kind"]) == {champion.kind} and set(mart["model_version"]) == {champion.version}
    # the served baseline ranks as the evaluation measured it: its holdout AUC is the baseline's
    served = family.evaluate(wh, as_of, champion, None)
    assert served.challenger["roc_auc"] == pytest.approx(evaluation.baseline["roc_auc"])
