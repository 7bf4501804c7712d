"""The Airflow plugin: extra links from tasks to MLflow and Data Docs, and the Data Docs app."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "plugins" / "valueflow_links.py"


@pytest.fixture(scope="module")
def links():
    spec = importlib.util.spec_from_file_location("valueflow_links", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_task_links_to_its_mlflow_run(links):
    returned = {"as_of": "2025-12-01", "model": "segmentation", "version": "3", "run_id": "abc123"}
    assert links.mlflow_run_url("train_segmentation", returned, "http://mlflow:5000") == "http://mlflow:5000/#/runs/abc123"


@pytest.mark.parametrize("task_id, returned, base", [
    ("build_segmentation_features", {"run_id": "abc"}, "http://mlflow:5000"),  # not a training task
    ("train_segmentation", {"as_of": "2025-12-01"}, "http://mlflow:5000"),  # no run id returned
    ("train_segmentation", None, "http://mlflow:5000"),  # task has not run
    ("train_segmentation", {"run_id": "abc"}, None),  # MLflow is a local store: no UI to link to
])
def test_no_mlflow_link_where_it_does_not_apply(links, task_id, returned, base):
    assert links.mlflow_run_url(task_id, returned, base) == ""


def test_promotion_and_scoring_link_to_the_registered_version(links):
    promoted = {"model": "segmentation", "promoted": True, "champion_version": "4"}
    assert links.mlflow_model_url("promote_segmentation", promoted, "http://m") == "http://m/#/models/segmentation/versions/4"
    scored = {"table": "marts.user_segments", "model_version": "4", "run_id": "r"}
    assert links.mlflow_model_url("score_segmentation", scored, "http://m") == "http://m/#/models/segmentation/versions/4"
    assert links.mlflow_model_url("train_segmentation", promoted, "http://m") == ""


def test_mlflow_ui_url_prefers_the_public_address(links, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    monkeypatch.setenv("VALUEFLOW_MLFLOW_UI_URL", "https://mlflow.example.com/")
    assert links.mlflow_ui_url() == "https://mlflow.example.com"
    monkeypatch.delenv("VALUEFLOW_MLFLOW_UI_URL")
    assert links.mlflow_ui_url() == "http://mlflow:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///var/mlflow.db")
    assert links.mlflow_ui_url() is None


def test_validation_task_links_to_data_docs_served_by_airflow(links, tmp_path):
    page = tmp_path / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    returned = {"as_of": "2025-12-01", "suites": ["raw_order_lines"], "data_docs": str(page)}
    assert links.data_docs_url("validate_order_lines", returned, tmp_path, "http://airflow:8080") == (
        "http://airflow:8080/valueflow/data-docs/gx/uncommitted/data_docs/local_site/index.html")
    assert links.data_docs_url("validate_order_lines", {"data_docs": "/elsewhere/index.html"}, tmp_path) == ""
    assert links.data_docs_url("validate_order_lines", {"data_docs": None}, tmp_path) == ""
    assert links.data_docs_url("stage_export", returned, tmp_path) == ""


def test_drift_check_links_to_its_report_served_by_the_view(links):
    returned = {"action": "warn", "report": "/var/shops/a/reports/drift-propensity-2025-12-01-inputs.html"}
    assert links.drift_report_url("check_propensity_drift", returned, "http://airflow:8080") == (
        "http://airflow:8080/valueflow/view/reports/drift-propensity-2025-12-01-inputs.html")
    assert links.drift_report_url("score_propensity", returned) == ""
    assert links.drift_report_url("check_propensity_drift", {"report": "/tmp/notes.html"}) == ""  # not served
    assert links.drift_report_url("check_propensity_drift", None) == ""  # not run yet


def test_airflow_loads_the_plugin(tmp_path):
    """Airflow's own plugin manager finds the links, the Data Docs app and the navigation entry."""
    script = (
        "import json; from airflow import plugins_manager as pm\n"
        "links = [l.name for l in pm.get_global_operator_extra_links()]\n"
        "apps, _ = pm.get_fastapi_plugins()\n"
        "views, _ = pm._get_ui_plugins()\n"
        "print(json.dumps({'links': links, 'apps': [a['url_prefix'] for a in apps], 'views': [v['name'] for v in views]}))\n"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "PYTHONPATH": str(ROOT), "VALUEFLOW_HOME": str(tmp_path / "var")}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"MLflow run", "MLflow model", "Data Docs", "Drift report"} <= set(loaded["links"])
    assert {"/valueflow/data-docs", "/valueflow/view"} <= set(loaded["apps"])
    assert {"Data Docs", "ValueFlow"} <= set(loaded["views"])


def _refuse():
    """Airflow's get_user for a request without a login."""
    from fastapi import HTTPException

    raise HTTPException(status_code=401, detail="Not authenticated")


def test_data_docs_are_served_only_to_a_signed_in_user(links, tmp_path, monkeypatch):
    """Airflow's `get_user` guards every page (FastAPI applies an app's dependencies to its routes,
    never to a mounted app); here it is swapped for a stand-in that refuses or admits."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    monkeypatch.setenv("VALUEFLOW_HOME", str(tmp_path))
    site = tmp_path / "data_docs" / "gx" / "uncommitted" / "data_docs" / "local_site"
    site.mkdir(parents=True)
    (site / "index.html").write_text("<h1>Data Docs</h1>")
    app = links.data_docs_app()
    app.dependency_overrides[get_user] = _refuse
    client = TestClient(app)
    assert client.get("/gx/uncommitted/data_docs/local_site/index.html").status_code == 401
    assert client.get("/gx/uncommitted/data_docs/local_site/").status_code == 401
    app.dependency_overrides[get_user] = lambda: "someone"
    assert client.get("/gx/uncommitted/data_docs/local_site/index.html").text == "<h1>Data Docs</h1>"
    assert "Data Docs" in client.get("/gx/uncommitted/data_docs/local_site/").text  # html=True: the folder's index
    assert client.get("/../../etc/passwd").status_code == 404


def test_the_valueflow_view_and_reports_are_served_only_to_a_signed_in_user(links, state_home):
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    from ml.warehouse import connect

    reports = state_home / "reports"
    reports.mkdir()
    (reports / "marketing-2024-06-03.html").write_text("<h1>the report</h1>")
    (reports / "drift-sales_forecast-2024-06-03-inputs.html").write_text("<h1>drift</h1>")
    app = links.view_app()
    app.dependency_overrides[get_user] = _refuse
    client = TestClient(app)
    assert client.get("/").status_code == 401
    assert client.get("/reports/marketing-2024-06-03.html").status_code == 401
    app.dependency_overrides[get_user] = lambda: "someone"
    assert "no warehouse at" in client.get("/").text  # before the first run: a page that says so
    with connect():
        # the DuckDB file held open for writing (as a running task holds it): the page says so, no 500
        held = client.get("/")
        assert held.status_code == 200 and "cannot be read right now" in held.text
    page = client.get("/").text
    assert '<section id="champions">' in page and "marketing-2024-06-03" in page
    assert client.get("/reports/marketing-2024-06-03.html").text == "<h1>the report</h1>"
    assert client.get("/reports/drift-sales_forecast-2024-06-03-inputs.html").text == "<h1>drift</h1>"
    for name in ("marketing-2024-06-04.html", "..%2F..%2Fetc%2Fpasswd", "notes.html"):
        assert client.get(f"/reports/{name}").status_code == 404, name
