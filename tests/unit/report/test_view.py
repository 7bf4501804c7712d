"""The ValueFlow view: champions from the registry with the decision that made them, the promotion
history with its gain in the policy's direction, mart freshness, validations, and the page's links."""
import datetime as dt
import json

import pandas as pd
import pytest

from ml import registry
from ml.report import overview, view
from tests.unit.test_pyfunc import Doubler

AS_OF = dt.date(2024, 6, 3)


def _register(name: str):
    import mlflow

    from ml import pyfunc, tracking

    tracking.configure()
    with mlflow.start_run(experiment_id=tracking.ensure_experiment("view")) as run:
        info = pyfunc.log_pyfunc(Doubler(3.0), pd.DataFrame({"x": [1.0, 2.0]}))
    return registry.register_challenger(info.model_uri, name, run.info.run_id)


def _decision(wh, name, version, decision, value, champion_value, baseline_value, minutes, metrics=None):
    wh.append("ops.model_promotions", pd.DataFrame([{
        "model_name": name, "challenger_version": version, "champion_version": None if champion_value is None else "1",
        "metric": "wape" if name == "sales_forecast" else "roc_auc", "challenger_value": value,
        "champion_value": champion_value, "baseline_value": baseline_value, "decision": decision,
        "reason": f"{decision} because", "holdout": "h", "metrics": json.dumps({"challenger": metrics or {}}),
        "run_id": f"run-{name}-{version}", "pipeline_run_id": "p", "as_of_date": AS_OF,
        "decided_at": pd.Timestamp("2024-06-03 10:00") + pd.Timedelta(minutes=minutes)}]).astype(
        {"champion_version": "string", "champion_value": "float64"}))


@pytest.fixture
def decided(warehouse, mlflow_store):
    first = _register("propensity")
    second = _register("propensity")
    _decision(warehouse, "propensity", first.version, "promoted", 0.80, None, 0.75, 0, {"roc_auc": 0.8, "lift": 2.5})
    _decision(warehouse, "propensity", second.version, "rejected", 0.79, 0.80, 0.75, 5)
    _decision(warehouse, "sales_forecast", "1", "promoted", 0.70, None, 0.90, 6)
    registry.set_alias(first, registry.CHAMPION)
    return warehouse, first


def test_champions_name_the_version_and_the_decision_that_made_it(decided):
    wh, first = decided
    table = overview.champions(wh, ("propensity", "segmentation")).set_index("family")
    row = table.loc["propensity"]
    # the later rejected challenger does not change what the champion's record says
    assert (row["version"], row["decision"], row["value"], row["baseline_value"]) == (first.version, "promoted", 0.80, 0.75)
    assert row["holdout_metrics"] == "roc_auc 0.8, lift 2.5"
    assert pd.isna(table.loc["segmentation", "version"])  # no champion yet


def test_history_is_newest_first_with_the_gain_in_the_policys_direction(decided):
    wh, _ = decided
    history = overview.promotion_history(wh)
    assert history["family"].tolist() == ["sales_forecast", "propensity", "propensity"]
    gains = dict(zip(history["decision"] + history["family"], history["gain"]))
    assert gains["promotedsales_forecast"] == pytest.approx(0.20)  # WAPE 0.70 against 0.90: lower is better
    assert gains["rejectedpropensity"] == pytest.approx(-0.01)  # AUC 0.79 against the champion's 0.80
    assert gains["promotedpropensity"] == pytest.approx(0.05)  # against the baseline: no champion then


def test_marts_show_their_newest_date_rows_and_write_time(warehouse):
    for day, n in ((AS_OF - dt.timedelta(days=7), 3), (AS_OF, 2)):
        warehouse.replace_partition("marts.user_segments", pd.DataFrame({
            "customer_id": [f"c{i}" for i in range(n)], "as_of_date": day,
            "scored_at": pd.Timestamp("2024-06-03 09:30")}), {"as_of_date": day})
    table = overview.marts(warehouse).set_index("mart")
    assert table.loc["marts.user_segments"].tolist() == ["2024-06-03", 2, "2024-06-03 09:30", 2]
    assert table.loc["marts.user_value", "latest_as_of"] == "not written yet"


def test_validations_list_the_failed_checks_and_link_their_data_docs(warehouse, tmp_path):
    docs = tmp_path / "docs"
    page = docs / "gx" / "index.html"
    warehouse.append("ops.validation_results", pd.DataFrame([{
        "run_id": "r", "as_of_date": AS_OF, "suite": "raw_order_lines", "dataset": "raw.stage_order_lines",
        "success": False, "evaluated": 12, "failed": 1,
        "failures": json.dumps([{"expectation": "expect_column_values_to_be_between", "where": "row 3"}]),
        "data_docs": str(page), "validated_at": pd.Timestamp("2024-06-03 08:00")}]))
    table = overview.validations(warehouse)
    assert table[["result", "failed", "failed_checks"]].values.tolist() == [["FAILED", 1, "expect_column_values_to_be_between"]]
    links = view.Links(mlflow=None, data_docs_root=docs, data_docs_prefix="/dd", reports_prefix="/r")
    assert links.data_docs(str(page)) == "/dd/gx/index.html"
    assert links.data_docs("/elsewhere/index.html") == "" and links.run("abc") == ""  # a local store: no MLflow UI


def test_the_page_links_versions_runs_data_docs_and_reports(decided, tmp_path):
    wh, first = decided
    reports = tmp_path / "reports"
    reports.mkdir()
    for day in ("2024-05-27", "2024-06-03"):
        (reports / f"marketing-{day}.html").write_text("r")
    links = view.Links(mlflow="http://mlflow:5000", data_docs_root=tmp_path, data_docs_prefix="/dd",
                       reports_prefix="/valueflow/view/reports")
    text = view.render_view(wh, reports, links)
    for key in ("champions", "promotions", "marts", "validations", "reports"):
        assert f'<section id="{key}">' in text
    assert f'href="http://mlflow:5000/#/models/propensity/versions/{first.version}" target="_blank"' in text
    assert f'href="http://mlflow:5000/#/runs/run-propensity-{first.version}"' in text
    assert text.index("marketing-2024-06-03") < text.index("marketing-2024-05-27")  # newest first
    assert 'href="/valueflow/view/reports/marketing-2024-06-03.html"' in text
    assert "no validation yet" in text


def test_drift_shows_each_family_s_newest_check_and_links_its_report(warehouse, tmp_path):
    def rows(day, kind, drifted, action):
        return pd.DataFrame({
            "kind": kind, "column_name": ["recency_days", "frequency", "monetary"], "method": "K-S p_value",
            "threshold": 0.05, "drift_score": [0.001, 0.2, 0.01], "drifted": drifted, "drift_share": sum(drifted) / 3,
            "reference": "customers active at the training origins", "reference_as_of": day - dt.timedelta(days=60),
            "reference_rows": 900, "current_rows": 950, "action": action, "reason": f"{action} because",
            "report": f"/x/reports/drift-propensity-{day}-{kind}s.html", "family": "propensity", "as_of_date": day,
            "model_name": "propensity", "model_version": "3", "run_id": "r", "checked_at": pd.Timestamp("2024-06-03")})

    assert "no drift check yet" in view.render_view(warehouse, tmp_path, view.Links(None, tmp_path, "/dd", "/rp"))
    warehouse.append("ops.drift_reports", rows(AS_OF - dt.timedelta(days=7), "input", [False] * 3, "none"))
    warehouse.append("ops.drift_reports", pd.concat([rows(AS_OF, "input", [True, False, True], "warn"),
                                                     rows(AS_OF, "score", [False] * 3, "warn")]))
    shown = overview.drift(warehouse)
    assert shown["as_of_date"].tolist() == [AS_OF.isoformat()] * 2 and shown["kind"].tolist() == ["input", "score"]
    first = shown.iloc[0]
    assert (first["drifted"], first["compared"], first["action"]) == (2, 3, "warn")
    assert first["most_drifted"] == "recency_days, monetary"  # strongest first
    text = view.render_view(warehouse, tmp_path, view.Links(None, tmp_path, "/dd", "/rp"))
    assert '<section id="drift">' in text and f'href="/rp/drift-propensity-{AS_OF}-inputs.html"' in text
