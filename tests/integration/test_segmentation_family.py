"""Segmentation end to end through the real MLflow registry and the warehouse (no Airflow):
train -> promote -> score, then a retrain that must not reshuffle or replace the champion."""
from __future__ import annotations

import pytest

from ml import features, orchestration, registry
from ml.families import load_family

pytestmark = pytest.mark.integration


@pytest.fixture
def family():
    return load_family("segmentation")


def test_first_model_is_promoted_over_the_baseline_and_scores_every_active_customer(
        loaded_warehouse, mlflow_store, small_shop_as_of, family):
    import mlflow

    wh, as_of = loaded_warehouse, small_shop_as_of.isoformat()
    with pytest.raises(orchestration.NoChampion, match="segmentation has no champion yet"):
        orchestration.score_family("segmentation", as_of)
    trained = orchestration.train_family("segmentation", as_of)
    assert registry.get_alias("segmentation", "challenger").version == trained["version"] == "1"
    decision = orchestration.promote_family("segmentation", as_of, "test-run")
    assert decision["promoted"] and decision["champion_version"] == "1"
    assert "beats the baseline" in decision["reason"]

    promotion = wh.query("SELECT * FROM ops.model_promotions")
    assert promotion[["model_name", "challenger_version", "decision", "metric"]].iloc[0].tolist() == [
        "segmentation", "1", "promoted", "silhouette"]
    assert promotion["challenger_value"].iloc[0] > promotion["baseline_value"].iloc[0]
    version = mlflow.tracking.MlflowClient().get_model_version("segmentation", "1")
    assert version.tags["valueflow.decision"] == "promoted" and "baseline" in version.description

    run = mlflow.get_run(trained["run_id"])
    assert {"silhouette", "davies_bouldin", "smallest_segment_share"} <= set(run.data.metrics)
    assert run.data.params["k_criterion"] == "max silhouette on a sample"
    artifacts = {a.path for a in mlflow.tracking.MlflowClient().list_artifacts(trained["run_id"])}
    assert {"segment_profiles.png", "segment_rules.json"} <= artifacts
    segment_rules = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/segment_rules.json")
    assert {r["segment_id"] for r in segment_rules} == set(range(int(run.data.params["k"])))
    for rule in segment_rules:  # every segment has a rule with its coverage, in the JSON and the metrics
        assert rule["rule"] and 0 < rule["coverage"] <= 1 and 0 < rule["precision"] <= 1
        assert run.data.metrics[f"rule_coverage_{rule['segment_id']}"] == rule["coverage"]
        assert run.data.metrics[f"rule_precision_{rule['segment_id']}"] == rule["precision"]
    assert run.inputs.dataset_inputs, "training data must be logged with log_input"

    scored = orchestration.score_family("segmentation", None)
    mart = wh.query("SELECT * FROM marts.user_segments")
    active = wh.row_count(features.USER_FEATURES, "is_active")
    assert scored["rows"] == len(mart) == active
    assert set(mart["model_version"]) == {"1"} and set(mart["run_id"]) == {trained["run_id"]}
    assert mart["customer_id"].is_unique and mart["segment_name"].str.len().gt(0).all()
    by_segment = mart.groupby("segment_id")["segment_rule"].agg(set).to_dict()
    assert by_segment == {r["segment_id"]: {r["rule"]} for r in segment_rules if r["segment_id"] in by_segment}
    # Scoring the same as-of date again replaces, never duplicates.
    orchestration.score_family("segmentation", as_of)
    assert wh.row_count("marts.user_segments") == active


def test_an_identical_retrain_is_not_promoted_and_moving_the_alias_changes_scoring(
        loaded_warehouse, mlflow_store, small_shop_as_of):
    wh, as_of = loaded_warehouse, small_shop_as_of.isoformat()
    orchestration.train_family("segmentation", as_of)
    orchestration.promote_family("segmentation", as_of, "first")
    orchestration.train_family("segmentation", as_of)
    second = orchestration.promote_family("segmentation", as_of, "second")
    assert not second["promoted"] and second["champion_version"] == "1"
    rows = wh.query("SELECT * FROM ops.model_promotions WHERE challenger_version = '2'")
    assert rows["decision"].tolist() == ["rejected"] and rows["champion_version"].tolist() == ["1"]
    assert '"adjusted_rand_vs_champion": 1.0' in rows["metrics"].iloc[0]

    registry.set_alias(registry.get_version("segmentation", "2"), registry.CHAMPION)
    orchestration.score_family("segmentation", as_of)
    assert set(wh.query("SELECT model_version FROM marts.user_segments")["model_version"]) == {"2"}


def test_a_dead_tracking_server_stops_training_with_a_clear_message_and_writes_nothing(
        loaded_warehouse, state_home, monkeypatch, small_shop_as_of):
    from ml import tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    with pytest.raises(tracking.TrackingUnavailable, match="MLflow tracking store http://127.0.0.1:9 is not reachable"):
        orchestration.train_family("segmentation", small_shop_as_of.isoformat())
    with pytest.raises(tracking.TrackingUnavailable):
        orchestration.score_family("segmentation", None)
    assert not loaded_warehouse.table_exists("marts.user_segments")
    assert not loaded_warehouse.table_exists("ops.model_promotions")


def test_rfm_segments_serve_when_kmeans_does_not_beat_them(loaded_warehouse, mlflow_store, small_shop_as_of,
                                                            family, tmp_path, monkeypatch):
    """K-means held to a margin it cannot reach: the RFM terciles are registered and made champion,
    and every active customer still gets a segment, the lineage naming the baseline."""
    import shutil

    import yaml

    config = tmp_path / "config"
    shutil.copytree("config", config)
    path = config / "policies" / "segmentation.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "baseline_min_gain": 10.0}))
    monkeypatch.setenv("VALUEFLOW_CONFIG_DIR", str(config))

    wh, as_of = loaded_warehouse, small_shop_as_of.isoformat()
    trained = orchestration.train_family("segmentation", as_of)
    decision = orchestration.promote_family("segmentation", as_of, "test-run")
    assert decision["promoted"] and "rfm serves until one does" in decision["reason"]
    champion = registry.get_alias("segmentation", registry.CHAMPION)
    assert champion.version != trained["version"] and champion.kind == "baseline:rfm"
    import mlflow

    measured = mlflow.get_run(champion.run_id).data.metrics  # judged like K-means, on the held-out customers
    assert 0 < measured["smallest_segment_share"] <= 0.5 and "silhouette" in measured
    scored = orchestration.score_family("segmentation", as_of)
    mart = wh.query("SELECT * FROM marts.user_segments")
    active = wh.row_count(features.USER_FEATURES, f"as_of_date = DATE '{as_of}' AND is_active")
    assert scored["rows"] == len(mart) == active
    assert set(mart["model_kind"]) == {"baseline:rfm"} and set(mart["segment_id"]) <= {0, 1, 2, 3}
    assert set(mart["segment_name"]) <= {"lapsed", "occasional", "loyal regulars", "high-value loyal"}
    segment_rules = mlflow.artifacts.load_dict(f"{mlflow.get_run(champion.run_id).info.artifact_uri}/segment_rules.json")
    rule_of = {r["segment_id"]: r["rule"] for r in segment_rules}
    assert all(r["rule"] and r["coverage"] > 0 for r in segment_rules)
    assert (mart["segment_rule"] == mart["segment_id"].map(rule_of)).all() and mart["segment_rule"].str.len().gt(0).all()
    recorded = wh.query("SELECT decision FROM ops.model_promotions ORDER BY decided_at")["decision"].tolist()
    assert recorded == ["rejected", "baseline_served"]
