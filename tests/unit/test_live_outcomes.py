"""evaluate_outcomes on the live workspace: a past date's propensity scores against what happened.

The four-customer shop of tests/unit/propensity/test_outcomes.py, with its later orders published into
the same warehouse (as the next export would be): the mart for D = 2024-01-01 scores AUC 0.75, where
ranking by frequency scores 0.875, computed from the orders before D only.
"""
import datetime as dt

import pandas as pd
import pytest

from ml import catalog, live_outcomes, marts
from ml.families.base import ModelRef
from ml.promotion import PolicyError, load_policy
from tests.helpers import load, order_lines
from tests.unit.propensity.test_outcomes import AFTER, AS_OF, HISTORY, P


def _score(wh, as_of=AS_OF, version="3", run_id="run-3"):
    rows = pd.DataFrame({"customer_id": list(P), "p_purchase_30d": list(P.values()),
                         "churn_risk": [1 - v for v in P.values()], "propensity_decile": range(1, len(P) + 1)})
    marts.write_mart(wh, catalog.USER_PROPENSITY, rows, as_of, ModelRef("propensity", version, run_id))


@pytest.fixture
def live(warehouse):
    load(warehouse, order_lines(HISTORY + AFTER))  # the later export: orders after D are in raw now
    _score(warehouse)
    return warehouse


def _outcomes(wh) -> pd.DataFrame:
    return wh.query(f"SELECT * FROM {catalog.MODEL_OUTCOMES} ORDER BY family, as_of_date, metric")


def test_past_scores_are_held_against_what_happened_beside_baselines_from_before_d(live):
    result = live_outcomes.evaluate_due(live, log_to_mlflow=False)
    assert result["evaluated"] == ["propensity 2024-01-01 (version 3)"]
    rows = _outcomes(live).set_index("metric")
    auc = rows.loc["roc_auc_30d"]
    # the same figures as the two-warehouse evaluation: the orders after D reach no baseline
    assert auc["value"] == pytest.approx(0.75) and auc["n"] == 4
    assert auc["best_baseline"] == "frequency" and auc["baseline_value"] == pytest.approx(0.875)
    assert (auc["model_name"], auc["model_version"], auc["run_id"]) == ("propensity", "3", "run-3")
    # the policy's floor: at least 0.95 x the best baseline's AUC (0.831); 0.75 is below it
    assert bool(auc["below_floor"]) and "below 0.95 x the best baseline's 0.8750" in auc["note"]
    assert not bool(rows.loc["lift_top_decile_30d", "below_floor"])  # the floor is on AUC only
    assert result["flagged"] == [f"propensity 2024-01-01: {auc['note']}"]


def test_only_dates_whose_horizon_has_passed_are_evaluated_and_each_once_per_version(live):
    later = AS_OF + dt.timedelta(days=10)  # [D, D + 30) ends 2024-02-10; the export ends 2024-01-31
    _score(live, later)
    assert [(f, d) for f, _, d in live_outcomes.due(live)] == [("propensity", AS_OF)]
    live_outcomes.evaluate_due(live, log_to_mlflow=False)
    assert live_outcomes.due(live) == []  # evaluated already
    _score(live, AS_OF, version="4", run_id="run-4")  # D re-scored by a new version: due again, replaced
    live_outcomes.evaluate_due(live, log_to_mlflow=False)
    rows = _outcomes(live)
    assert set(rows["model_version"]) == {"4"} and len(rows) == 2 and set(rows["as_of_date"]) == {pd.Timestamp(AS_OF)}


def test_live_metrics_are_logged_on_the_scoring_versions_run(warehouse, mlflow_store):
    import mlflow
    from mlflow.tracking import MlflowClient

    from ml import tracking

    tracking.configure()
    with mlflow.start_run(experiment_id=tracking.ensure_experiment("live")) as run:
        mlflow.log_metric("roc_auc", 0.8)
    load(warehouse, order_lines(HISTORY + AFTER))
    _score(warehouse, run_id=run.info.run_id)
    live_outcomes.evaluate_due(warehouse)
    (point,) = MlflowClient().get_metric_history(run.info.run_id, "live.roc_auc_30d")
    assert point.value == pytest.approx(0.75) and point.step == (AS_OF - dt.date(1970, 1, 1)).days
    (ratio,) = MlflowClient().get_metric_history(run.info.run_id, "live.roc_auc_30d.vs_best_baseline")
    assert ratio.value == pytest.approx(0.75 / 0.875)


def test_status_names_a_family_below_its_live_floor(live, mlflow_store):
    from ml import summary

    live_outcomes.evaluate_due(live, log_to_mlflow=False)
    text = summary.summary()
    assert "FLAGGED propensity: its scores of 2024-01-01 (version 3)" in text
    assert "below 0.95 x the best baseline's 0.8750" in text
    assert "marts.model_outcomes                      2 rows for the scores of 2024-01-01" in text


def test_nothing_is_due_before_any_later_export(warehouse):
    load(warehouse, order_lines(HISTORY))  # the export the scores were made from: no window has passed
    _score(warehouse)
    assert live_outcomes.evaluate_due(warehouse, log_to_mlflow=False) == {
        "table": catalog.MODEL_OUTCOMES, "evaluated": [], "flagged": []}


def test_a_malformed_live_floor_is_refused_with_the_file(tmp_path, monkeypatch):
    from ml import settings

    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "propensity.yaml").write_text("metric: roc_auc\ndirection: maximize\n"
                                            "live: {metric: roc_auc_30d, min_vs_baseline: 0.9, max_vs_baseline: 2}\n")
    monkeypatch.setattr(settings, "policies_dir", lambda: folder)
    with pytest.raises(PolicyError, match="propensity.yaml: malformed `live`"):
        load_policy("propensity")


def test_the_valueflow_view_shows_the_newest_outcomes_with_their_verdict(live, mlflow_store, tmp_path):
    from ml.report import overview, view

    assert overview.live_outcomes(live).empty
    live_outcomes.evaluate_due(live, log_to_mlflow=False)
    table = overview.live_outcomes(live).set_index("metric")
    assert table.loc["roc_auc_30d", "verdict"] == "BELOW the live floor"
    assert table.loc["lift_top_decile_30d", "verdict"] == "ok"
    links = view.Links(mlflow=None, data_docs_root=tmp_path, data_docs_prefix="/dd", reports_prefix="/r")
    page = view.render_view(live, tmp_path / "reports", links)
    assert '<section id="outcomes">' in page and "BELOW the live floor" in page
