"""The drift check end to end on the real registry and warehouse (no Airflow): segmentation trained
four months before the scored date, its inputs and scores compared, the policy's action recorded."""
from __future__ import annotations

import datetime as dt

import pytest
import yaml

from ml import orchestration
from ml.drift.check import check_drift, latest_warnings
from ml.families.segmentation.features import SEGMENT_FEATURES

pytestmark = pytest.mark.integration


def _policy(tmp_path, monkeypatch, **drift):
    import shutil

    config = tmp_path / "config"
    shutil.copytree("config", config)
    path = config / "policies" / "segmentation.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "drift": drift}))
    monkeypatch.setenv("VALUEFLOW_CONFIG_DIR", str(config))


def test_a_champion_trained_months_earlier_is_checked_against_its_training_data_and_a_retrain_requested(
        loaded_warehouse, mlflow_store, small_shop_as_of, state_home, tmp_path, monkeypatch):
    import mlflow

    _policy(tmp_path, monkeypatch, warn_share=0.1, retrain_share=0.1)
    wh, today = loaded_warehouse, small_shop_as_of
    earlier = today - dt.timedelta(days=120)
    orchestration.build_family_features("segmentation", earlier.isoformat())
    trained = orchestration.train_family("segmentation", earlier.isoformat())
    assert orchestration.promote_family("segmentation", earlier.isoformat(), "t")["promoted"]
    orchestration.score_family("segmentation", earlier.isoformat())
    scored = orchestration.score_family("segmentation", today.isoformat())  # no training for today
    assert scored["model_version"] == trained["version"]

    # the date it was trained for, against itself: the same rows, nothing drifted
    same = check_drift(wh, "segmentation", earlier)
    assert same["action"] == "none" and same["input_drift_share"] == 0.0

    result = check_drift(wh, "segmentation", today)
    rows = wh.query(f"SELECT * FROM ops.drift_reports WHERE as_of_date = DATE '{today}'")
    inputs, scores = rows[rows["kind"] == "input"], rows[rows["kind"] == "score"]
    assert sorted(inputs["column_name"]) == sorted(SEGMENT_FEATURES)
    assert {str(d)[:10] for d in inputs["reference_as_of"]} == {earlier.isoformat()}
    assert scores["column_name"].tolist() == ["segment_name"]
    assert {str(d)[:10] for d in scores["reference_as_of"]} == {earlier.isoformat()}  # the mart it wrote then
    assert set(rows["model_version"]) == {trained["version"]} and set(rows["run_id"]) == {trained["run_id"]}
    # four months on, tenure has moved for everyone: drifted, so the 10% policy asks for a retrain
    assert inputs.set_index("column_name").at["tenure_days", "drifted"]
    share = inputs["drift_share"].iloc[0]
    assert share == pytest.approx(inputs["drifted"].mean()) and share >= 0.1
    assert result["action"] == "retrain" and set(rows["action"]) == {"retrain"}
    assert "of the inputs drifted (retrain at 10%)" in result["reason"]
    assert latest_warnings(wh)["action"].tolist() == ["retrain"]

    # the report on disk and on the version's MLflow run, the share as a metric
    for kind, column in (("inputs", "tenure_days"), ("scores", "segment_name")):
        text = (state_home / "reports" / f"drift-segmentation-{today}-{kind}.html").read_text()
        assert text.lstrip().lower().startswith("<!doctype html>") and column in text
    client = mlflow.tracking.MlflowClient()
    artifacts = {a.path for a in client.list_artifacts(trained["run_id"], "drift")}
    assert f"drift/drift-segmentation-{today}-inputs.html" in artifacts
    assert client.get_metric_history(trained["run_id"], "drift.input_share")[-1].value == pytest.approx(share)

    # once a challenger has been trained and judged for today, a retrain would repeat it: a warning
    orchestration.train_family("segmentation", today.isoformat())
    orchestration.promote_family("segmentation", today.isoformat(), "t2")
    orchestration.score_family("segmentation", today.isoformat())
    again = check_drift(wh, "segmentation", today)
    assert again["action"] == "warn" and "already" in again["reason"]
    assert wh.row_count("ops.drift_reports", f"as_of_date = DATE '{today}'") == len(rows)  # replaced, not added


def test_checking_a_date_that_was_never_scored_says_so(loaded_warehouse, mlflow_store, small_shop_as_of):
    with pytest.raises(ValueError, match="marts.user_segments has no rows for .*score it before"):
        check_drift(loaded_warehouse, "segmentation", small_shop_as_of)
    assert not loaded_warehouse.table_exists("ops.drift_reports")
