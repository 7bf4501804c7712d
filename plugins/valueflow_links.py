"""What makes Airflow's UI serve ValueFlow.

* Extra link "MLflow run" on every `train_<family>` task: the MLflow run that trained the challenger.
* Extra link "MLflow model" on every `promote_<family>` and `score_<family>` task: the registered model
  (its page shows the `champion` and `challenger` aliases).
* Extra link "Data Docs" on `validate_order_lines`: the Great Expectations Data Docs of that run.
* Extra link "Drift report" on every `check_<family>_drift` task: Evidently's report of that scoring
  run's inputs against the champion's training data.
* The Data Docs site itself, served by the api-server under /valueflow/data-docs/ to signed-in users
  only, and a "Data Docs" entry in the UI's navigation.
* The ValueFlow view, under /valueflow/view/ and as "ValueFlow" in the navigation: each family's
  champion and its metrics, the promotion history, the marts' freshness, the latest validations with
  their Data Docs, the drift checks, and the marketer's and drift reports (served under
  /valueflow/view/reports/). Same login.

The links are global (they apply to every task) and empty where they do not apply, so the UI shows
them only on the tasks above. The api-server computes them from the task's return value (XCom),
which holds the run id, model version or Data Docs path; the MLflow UI address is
`VALUEFLOW_MLFLOW_UI_URL` (else `MLFLOW_TRACKING_URI` when that is an http URL). Everything here is
presentation; no business logic.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk import BaseOperatorLink

try:  # module level: FastAPI resolves the Data Docs route's (string) annotations in these globals
    from fastapi import Request
except ImportError:  # pragma: no cover - fastapi comes with apache-airflow-core
    Request = None

DATA_DOCS_PREFIX = "/valueflow/data-docs"
VIEW_PREFIX = "/valueflow/view"
REPORT_NAME = re.compile(r"^(marketing-\d{4}-\d{2}-\d{2}|drift-[a-z_]+-\d{4}-\d{2}-\d{2}-(inputs|scores))\.html$")


# -- pure functions: the URL for a task, given what the task returned ------------------------------
def mlflow_ui_url() -> str | None:
    url = os.environ.get("VALUEFLOW_MLFLOW_UI_URL") or os.environ.get("MLFLOW_TRACKING_URI", "")
    return url.rstrip("/") if url.startswith(("http://", "https://")) else None


def airflow_base_url() -> str:
    """Airflow's public URL ([api] base_url), or "" for links relative to the UI's own host."""
    from airflow.configuration import conf

    return (conf.get("api", "base_url", fallback="") or "").rstrip("/")


def mlflow_run_url(task_id: str, returned: Any, base: str | None) -> str:
    if not base or not task_id.startswith("train_") or not isinstance(returned, dict) or not returned.get("run_id"):
        return ""
    return f"{base}/#/runs/{quote(str(returned['run_id']))}"


def mlflow_model_url(task_id: str, returned: Any, base: str | None) -> str:
    if not base or not task_id.startswith(("promote_", "score_")) or not isinstance(returned, dict):
        return ""
    model = returned.get("model") or task_id.split("_", 1)[1]
    version = returned.get("champion_version") or returned.get("model_version")
    url = f"{base}/#/models/{quote(str(model))}"
    return f"{url}/versions/{quote(str(version))}" if version else url


def data_docs_url(task_id: str, returned: Any, docs_root: Path, base: str = "") -> str:
    """The Data Docs page of a validation task, as served by this plugin (never a file:// path)."""
    if not task_id.startswith("validate_") or not isinstance(returned, dict) or not returned.get("data_docs"):
        return ""
    try:
        relative = Path(returned["data_docs"]).resolve().relative_to(docs_root.resolve())
    except ValueError:
        return ""  # written somewhere this api-server does not serve
    return f"{base}{DATA_DOCS_PREFIX}/{quote(relative.as_posix())}"


def drift_report_url(task_id: str, returned: Any, base: str = "") -> str:
    """The drift check's report of its inputs, as the ValueFlow view serves it."""
    if not (task_id.startswith("check_") and task_id.endswith("_drift")) or not isinstance(returned, dict) \
            or not returned.get("report"):
        return ""
    name = Path(returned["report"]).name
    return f"{base}{VIEW_PREFIX}/reports/{quote(name)}" if REPORT_NAME.match(name) else ""


# -- the links: read the task's return value where the api-server runs -----------------------------
def returned_value(ti_key) -> Any:
    """The task instance's return value (XCom `return_value`) as plain JSON data, or None."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.execute(XComModel.get_many(
            key="return_value", run_id=ti_key.run_id, dag_ids=ti_key.dag_id, task_ids=ti_key.task_id,
            map_indexes=ti_key.map_index).with_only_columns(XComModel.value)).first()
    if row is None:
        return None
    value = row.value
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    while isinstance(value, dict) and "__data__" in value:  # serde envelope
        value = value["__data__"]
    return value


class MlflowRunLink(BaseOperatorLink):
    name = "MLflow run"

    def get_link(self, operator, *, ti_key) -> str:
        if not operator.task_id.startswith("train_"):
            return ""
        return mlflow_run_url(operator.task_id, returned_value(ti_key), mlflow_ui_url())


class MlflowModelLink(BaseOperatorLink):
    name = "MLflow model"

    def get_link(self, operator, *, ti_key) -> str:
        if not operator.task_id.startswith(("promote_", "score_")):
            return ""
        return mlflow_model_url(operator.task_id, returned_value(ti_key), mlflow_ui_url())


class DataDocsLink(BaseOperatorLink):
    name = "Data Docs"

    def get_link(self, operator, *, ti_key) -> str:
        if not operator.task_id.startswith("validate_"):
            return ""
        from ml import settings

        return data_docs_url(operator.task_id, returned_value(ti_key), settings.data_docs_dir(), airflow_base_url())


class DriftReportLink(BaseOperatorLink):
    name = "Drift report"

    def get_link(self, operator, *, ti_key) -> str:
        if not operator.task_id.startswith("check_"):
            return ""
        return drift_report_url(operator.task_id, returned_value(ti_key), airflow_base_url())


# -- Data Docs served by the api-server, behind Airflow's authentication ---------------------------
def data_docs_app():
    """A FastAPI app serving the Data Docs folder to authenticated Airflow users."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import Depends, FastAPI
    from fastapi.staticfiles import StaticFiles

    from ml import settings

    app = FastAPI(title="ValueFlow Data Docs", dependencies=[Depends(get_user)])
    files = StaticFiles(directory=settings.data_docs_dir(), html=True, check_dir=False)

    # A route, not `app.mount`: FastAPI runs an app's dependencies (the login) for its routes only,
    # and a mounted StaticFiles would serve every page to anyone.
    @app.get("/{path:path}", include_in_schema=False)
    async def page(path: str, request: Request):
        return await files.get_response(path, request.scope)

    return app


# -- the ValueFlow view: a page rendered by ml.report.view on each request, behind the same login ---
def view_page() -> str:
    """The page's HTML; a warehouse that cannot be read (no file yet, a DuckDB file a task is writing)
    gives a page that says so, never an error page."""
    from ml import settings
    from ml.report.view import Links, render_view, unavailable
    from ml.warehouse import Warehouse, WarehouseLocation

    location = WarehouseLocation.parse(settings.warehouse_url())
    if location.dialect == "duckdb" and not Path(location.target).exists():
        return unavailable(f"no warehouse at {location.target} yet: run the pipeline first")
    links = Links(mlflow=mlflow_ui_url(), data_docs_root=settings.data_docs_dir(),
                  data_docs_prefix=f"{airflow_base_url()}{DATA_DOCS_PREFIX}",
                  reports_prefix=f"{airflow_base_url()}{VIEW_PREFIX}/reports")
    try:
        with Warehouse(read_only=True) as wh:
            return render_view(wh, settings.state_dir() / "reports", links)
    except Exception as error:  # shown to the user instead of a stack trace
        return unavailable(f"{type(error).__name__}: {error}")


def view_app():
    """A FastAPI app serving the ValueFlow view and the marketer's reports to authenticated users."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import FileResponse, HTMLResponse

    from ml import settings

    app = FastAPI(title="ValueFlow", dependencies=[Depends(get_user)])

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def overview():
        return HTMLResponse(view_page())

    @app.get("/reports/{name}", include_in_schema=False)
    def report(name: str):
        path = settings.state_dir() / "reports" / name
        if not REPORT_NAME.match(name) or not path.is_file():
            raise HTTPException(status_code=404, detail=f"no report {name}")
        return FileResponse(path, media_type="text/html")

    return app


def _fastapi_apps() -> list[dict]:
    try:
        return [{"app": data_docs_app(), "url_prefix": DATA_DOCS_PREFIX, "name": "ValueFlow Data Docs"},
                {"app": view_app(), "url_prefix": VIEW_PREFIX, "name": "ValueFlow view"}]
    except ImportError:  # outside the api-server's environment (e.g. a bare worker): nothing to serve
        return []


class ValueFlowPlugin(AirflowPlugin):
    name = "valueflow"
    global_operator_extra_links = [MlflowRunLink(), MlflowModelLink(), DataDocsLink(), DriftReportLink()]
    fastapi_apps = _fastapi_apps()
    external_views = [{
        "name": "ValueFlow",
        "href": f"{VIEW_PREFIX}/",
        "destination": "nav",
        "url_route": "valueflow",
    }, {
        "name": "Data Docs",
        "href": f"{DATA_DOCS_PREFIX}/gx/uncommitted/data_docs/local_site/index.html",
        "destination": "nav",
        "category": "browse",
        "url_route": "valueflow-data-docs",
    }]
