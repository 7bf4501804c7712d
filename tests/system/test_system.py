"""System test: the production topology of docker-compose.yaml on loopback, with real services.

PostgreSQL (Airflow metadata, warehouse and MLflow store, each a throw-away database created by the
compose file's init script), MLflow server with served artifacts, Redis as Celery broker, and the
Airflow api-server, dag-processor, scheduler and a Celery worker. The test unpauses the DAGs and
triggers `ingest_orders` through Airflow's REST API; every `train_<family>` and `score_<family>`
run is started by Airflow itself from the Asset events (nothing else is triggered). It then checks
the marts in PostgreSQL, the champions through MLflow's REST API, the plugin's extra links, and the
UIs in headless chromium (screenshots under var/screenshots/). MLflow and Airflow ask for a login as
in production (MLflow's basic-auth app, Airflow's FAB auth manager): the test checks that a request
without one is refused and logs in for every other. Last, it backfills one past week of
`ingest_orders` with `airflow backfill create` and follows that week's date down the Asset chain.
It stops everything, asserting that no process it started survives.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import requests

from tests.system.local_stack import REPO_ROOT, LocalStack

pytestmark = [pytest.mark.system, pytest.mark.timeout(1500)]

CUSTOMERS = 300
CHAIN_TIMEOUT_S = 900
SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
TERMINAL = {"success", "failed"}


def family_names() -> list[str]:
    from ml.families import FAMILY_NAMES

    return list(FAMILY_NAMES)


def family_marts() -> dict[str, str]:
    from ml.families import FAMILY_MARTS

    return dict(FAMILY_MARTS)


class Airflow:
    """The bits of Airflow's REST API (/api/v2) the test needs, logged in with a JWT from /auth/token."""

    def __init__(self, url: str, login: tuple[str, str]):
        self.url = url
        self.session = requests.Session()
        response = requests.post(f"{url}/auth/token", json=dict(zip(("username", "password"), login)), timeout=30)
        assert response.status_code in (200, 201), f"Airflow login: {response.status_code} {response.text[:300]}"
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def call(self, method: str, path: str, **kwargs) -> dict:
        response = self.session.request(method, f"{self.url}/api/v2{path}", timeout=30, **kwargs)
        assert response.ok, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return response.json()

    def dag_ids(self) -> set[str]:
        return {d["dag_id"] for d in self.call("GET", "/dags", params={"limit": 100})["dags"]}

    def runs(self, dag_id: str) -> list[dict]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "-run_after", "limit": 20})["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]


def _wait(what: str, probe, timeout: float, stack: LocalStack, interval: float = 3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in stack.processes.items():
            if process.poll() is not None:
                pytest.fail(f"{name} exited ({process.returncode}) while waiting for {what}:\n{stack.tail(name)}")
        value = probe()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n--- worker:\n{stack.tail('worker')}\n"
                f"--- scheduler:\n{stack.tail('scheduler', 30)}")


def _task_logs(stack: LocalStack, dag_id: str, run_id: str) -> str:
    folder = stack.work / "airflow" / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
    chunks = []
    for log in sorted(folder.rglob("*.log")) if folder.exists() else []:
        chunks.append(f"--- {log.relative_to(folder)}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:]))
    return "\n".join(chunks) or "(no task logs)"


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> tuple[Path, str]:
    import pandas as pd

    from ml.generate import ShopSpec, write_shop

    folder = tmp_path_factory.mktemp("system_shop")
    write_shop(ShopSpec(customers=CUSTOMERS, seed=5), folder)
    last = json.loads((folder / "manifest.json").read_text())["last_order_ts"]
    return folder, (pd.Timestamp(last).normalize() + pd.Timedelta(days=1)).date().isoformat()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, shop):
    started = time.monotonic()
    stack = LocalStack(work=tmp_path_factory.mktemp("system_stack"), shop=shop[0], schedule_end=shop[1])
    try:
        stack.start()
        stack.timings = {"started_s": round(time.monotonic() - started, 1)}
        yield stack
    finally:
        kept = REPO_ROOT / "var" / "system-test"
        shutil.rmtree(kept / "logs", ignore_errors=True)
        shutil.copytree(stack.logs, kept / "logs", dirs_exist_ok=True)
        stopping = time.monotonic()
        stack.stop()
        timings = {**getattr(stack, "timings", {}), "stop_s": round(time.monotonic() - stopping, 1),
                   "total_s": round(time.monotonic() - started, 1)}
        (kept / "timings.json").write_text(json.dumps(timings, indent=1))
        survivors = stack.survivors()
        assert not survivors, f"processes left running: {[(p.pid, p.cmdline()[:3]) for p in survivors]}"


@pytest.fixture(scope="module")
def chain(stack, shop):
    """Unpause the DAGs, trigger ingest_orders, and wait for every run the Assets start."""
    from ml.pipeline import pipeline_dag_ids

    airflow = Airflow(stack.api_url, stack.airflow_login)
    expected = set(pipeline_dag_ids())  # ingest_orders, train_/score_<family> for every family, build_audiences
    _wait("the dag-processor to parse every DAG", lambda: expected <= airflow.dag_ids(), 180, stack)
    for dag_id in sorted(expected):
        airflow.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
    source, as_of = shop
    triggered_at = time.monotonic()
    ingest = airflow.call("POST", "/dags/ingest_orders/dagRuns",
                          json={"logical_date": None, "conf": {"source": str(source), "as_of": as_of}})
    runs: dict[str, dict] = {}
    quiet_polls = {"n": 0}

    def latest(dag_id: str) -> dict | None:
        found = [r for r in airflow.runs(dag_id)
                 if (r["dag_run_id"] == ingest["dag_run_id"]) == (dag_id == "ingest_orders")]
        return found[0] if found else None

    def settled() -> bool:
        for dag_id in sorted(expected):
            run = latest(dag_id)
            if run is not None and run["state"] == "failed":
                pytest.fail(f"{dag_id} failed:\n{_task_logs(stack, dag_id, run['dag_run_id'])}")
            if run is not None and run["state"] == "success":
                runs[dag_id] = run
            else:
                runs.pop(dag_id, None)
        # Downstream DAGs scheduled on several Assets (build_audiences) may start again after each
        # mart: done when every DAG's latest run succeeded and nothing new started for two polls.
        quiet_polls["n"] = quiet_polls["n"] + 1 if set(runs) == expected else 0
        return quiet_polls["n"] >= 3

    _wait("ingest_orders and the asset-triggered runs", settled, CHAIN_TIMEOUT_S, stack, interval=4)
    stack.timings["chain_s"] = round(time.monotonic() - triggered_at, 1)
    return {"airflow": airflow, "runs": runs, "as_of": as_of}


def champions(stack: LocalStack) -> dict[str, dict]:
    """Family -> its champion model version (MLflow REST), for the families that have one."""
    found = {}
    for name in family_names():
        response = requests.get(f"{stack.mlflow_url}/api/2.0/mlflow/registered-models/alias",
                                params={"name": name, "alias": "champion"}, auth=stack.mlflow_auth, timeout=30)
        if response.ok:
            found[name] = response.json()["model_version"]
    return found


def test_the_whole_chain_succeeds_on_celery_from_asset_events(stack, chain):
    runs, airflow = chain["runs"], chain["airflow"]
    assert runs["ingest_orders"]["run_type"] == "manual"
    for dag_id in set(runs) - {"ingest_orders"}:
        assert runs[dag_id]["run_type"] == "asset_triggered", dag_id
    with_champion = champions(stack)
    for dag_id, run in runs.items():
        assert run["state"] == "success", dag_id
        for ti in airflow.task_instances(dag_id, run["dag_run_id"]):
            # A family whose first challenger lost to the naive baseline has nothing to score with;
            # a drift check asks for a retrain only where the policy says so (else the request is skipped).
            allowed = {"success", "skipped"} if dag_id.startswith("score_") and dag_id[6:] not in with_champion \
                or ti["task_id"].startswith("request_") else {"success"}
            assert ti["state"] in allowed, f"{dag_id}.{ti['task_id']}: {ti['state']}"
            if ti["state"] == "success":
                assert ti["queue"] == stack.queue, f"{dag_id}.{ti['task_id']} ran outside the Celery queue"
    print(f"\n[system] stack up in {stack.timings['started_s']}s; chain done in {stack.timings['chain_s']}s; "
          f"champions: {sorted(with_champion)}")


def test_scheduler_health_endpoint_answers(stack, chain):
    response = requests.get(f"http://127.0.0.1:{stack.health_port}/health", timeout=10)
    assert response.status_code == 200


def test_marts_in_postgresql_carry_the_champion(stack, chain):
    import psycopg

    with_champion = champions(stack)
    assert with_champion, "no family has a champion"
    with psycopg.connect(stack.pg_url("warehouse")) as con:
        assert con.execute("SELECT count(*) FROM raw.order_lines").fetchone()[0] > 0
        decisions = dict(con.execute("SELECT model_name, decision FROM ops.model_promotions "
                                     "ORDER BY decided_at").fetchall())  # the last decision per family
        assert set(decisions) == set(family_names()), "every family's challenger gets a recorded decision"
        # a champion is the promoted challenger, or the best baseline where the challenger was refused
        serving = {name for name, decision in decisions.items() if decision in ("promoted", "baseline_served")}
        assert serving == set(with_champion), decisions
        for name, mart in family_marts().items():
            if name not in with_champion:
                continue
            rows = con.execute(
                f"SELECT model_name, model_version, run_id, count(*) FROM {mart} WHERE as_of_date = %s "
                "GROUP BY 1, 2, 3", (chain["as_of"],)).fetchall()
            champion = with_champion[name]
            assert [r[:3] for r in rows] == [(name, champion["version"], champion["run_id"])], f"{mart}: {rows}"
            assert rows[0][3] > 0
            # the drift check of that scoring run, in PostgreSQL, for the same version
            checked = con.execute("SELECT DISTINCT model_version, action FROM ops.drift_reports WHERE family = %s "
                                  "AND as_of_date = %s AND kind = 'input'", (name, chain["as_of"])).fetchall()
            assert len(checked) == 1 and checked[0][0] == champion["version"], checked
            assert checked[0][1] in ("none", "warn"), checked  # trained for this date: never a retrain


def _mlflow(stack: LocalStack, method: str, path: str, **kwargs) -> dict:
    response = requests.request(method, f"{stack.mlflow_url}/api/2.0/mlflow/{path}", auth=stack.mlflow_auth,
                                timeout=30, **kwargs)
    assert response.ok, f"MLflow {path}: {response.status_code} {response.text[:300]}"
    return response.json()


def test_mlflow_and_airflow_refuse_a_request_without_a_login(stack, chain):
    search = f"{stack.mlflow_url}/api/2.0/mlflow/experiments/search"
    user, password = stack.mlflow_auth
    for auth in (None, (user, password + "x"), ("nobody", password)):
        response = requests.get(search, params={"max_results": 1}, auth=auth, timeout=30)
        assert response.status_code == 401, (auth and auth[0], response.status_code)
    assert requests.get(search, params={"max_results": 1}, auth=stack.mlflow_auth, timeout=30).status_code == 200
    assert requests.get(f"{stack.mlflow_url}/#/models", timeout=30).status_code == 401  # the UI too
    # The training runs logged and registered through that login: their models carry a digest.
    for version in champions(stack).values():
        assert any(t["key"] == "valueflow.model_digest" and t["value"].startswith("sha256:")
                   for t in version.get("tags", [])), version["name"]
    assert requests.get(f"{stack.api_url}/api/v2/dags", timeout=30).status_code == 401
    wrong = requests.post(f"{stack.api_url}/auth/token", json={"username": "admin", "password": "wrong"}, timeout=30)
    assert wrong.status_code == 401
    assert chain["airflow"].session.get(f"{stack.api_url}/api/v2/dags", timeout=30).status_code == 200


def test_mlflow_has_the_runs_metrics_and_champions(stack, chain):
    for name in family_names():
        experiment = _mlflow(stack, "GET", "experiments/get-by-name", params={"experiment_name": f"valueflow-{name}"})
        experiment_id = experiment["experiment"]["experiment_id"]
        found = _mlflow(stack, "POST", "runs/search", json={"experiment_ids": [experiment_id], "max_results": 50})
        assert found.get("runs"), f"no runs in valueflow-{name}"
        challenger = _mlflow(stack, "GET", "registered-models/alias", params={"name": name, "alias": "challenger"})
        assert challenger["model_version"]["run_id"] in {r["info"]["run_id"] for r in found["runs"]}
    assert champions(stack)
    for name, champion in champions(stack).items():
        run = _mlflow(stack, "GET", "runs/get", params={"run_id": champion["run_id"]})["run"]
        assert run["data"].get("metrics"), f"champion run of {name} has no metrics"
        assert run["info"]["status"] == "FINISHED"
        assert run["info"]["artifact_uri"].startswith("mlflow-artifacts:"), "artifacts must be served by the server"
        tags = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
        assert tags.get("airflow.dag_id") == f"train_{name}"


def test_extra_links_point_at_the_mlflow_run_and_data_docs(stack, chain):
    airflow, runs = chain["airflow"], chain["runs"]
    for name in family_names():
        run_id = runs[f"train_{name}"]["dag_run_id"]
        links = airflow.call("GET", f"/dags/train_{name}/dagRuns/{run_id}/taskInstances/train_{name}/links")
        challenger = _mlflow(stack, "GET", "registered-models/alias", params={"name": name, "alias": "challenger"})
        assert links["extra_links"]["MLflow run"] == f"{stack.mlflow_url}/#/runs/{challenger['model_version']['run_id']}"
        links = airflow.call("GET", f"/dags/train_{name}/dagRuns/{run_id}/taskInstances/promote_{name}/links")
        assert links["extra_links"]["MLflow model"].startswith(f"{stack.mlflow_url}/#/models/{name}")
    ingest = runs["ingest_orders"]["dag_run_id"]
    links = airflow.call("GET", f"/dags/ingest_orders/dagRuns/{ingest}/taskInstances/validate_order_lines/links")
    docs = links["extra_links"]["Data Docs"]
    assert docs.startswith(f"{stack.api_url}/valueflow/data-docs/") and docs.endswith("index.html")
    assert links["extra_links"]["MLflow run"] is None  # not a training task
    assert requests.get(docs, timeout=30).status_code == 401  # served behind Airflow's login
    page = airflow.session.get(docs, timeout=30)
    assert page.status_code == 200 and "Data Docs" in page.text


@pytest.fixture(scope="module")
def page():
    from tests.system.headless_chromium import Chromium, chromium

    if chromium() is None:
        pytest.skip("chromium is not installed and `make system-test` could not apt-get it: browser checks skipped")
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    with Chromium() as page:
        yield page


def test_mlflow_ui_lists_runs_metrics_and_champion_aliases(stack, chain, page):
    import base64

    with_champion = champions(stack)
    page.send_headers({"Authorization": "Basic " + base64.b64encode(":".join(stack.mlflow_auth).encode()).decode()})
    try:
        _show_mlflow(stack, page, with_champion)
    finally:
        page.send_headers({})  # Airflow's pages get no MLflow login


def _show_mlflow(stack: LocalStack, page, with_champion: dict[str, dict]) -> None:
    for name in family_names():
        experiment = _mlflow(stack, "GET", "experiments/get-by-name", params={"experiment_name": f"valueflow-{name}"})
        experiment_id = experiment["experiment"]["experiment_id"]
        shown = with_champion.get(name) or _mlflow(stack, "GET", "registered-models/alias",
                                                   params={"name": name, "alias": "challenger"})["model_version"]
        run = _mlflow(stack, "GET", "runs/get", params={"run_id": shown["run_id"]})["run"]
        run_name, metrics = run["info"]["run_name"], sorted(m["key"] for m in run["data"]["metrics"])
        # A model logged by a nested run is listed under its parent run (collapsed).
        parent = {t["key"]: t["value"] for t in run["data"].get("tags", [])}.get("mlflow.parentRunId")
        listed = _mlflow(stack, "GET", "runs/get", params={"run_id": parent})["run"]["info"]["run_name"] \
            if parent else run_name

        page.goto(f"{stack.mlflow_url}/#/experiments/{experiment_id}/runs", wait_for=[listed, name])
        page.dismiss_popups()
        page.screenshot(SCREENSHOTS / f"mlflow-{name}-runs.png")
        # The chart view lists the runs beside one chart per metric.
        page.goto(f"{stack.mlflow_url}/#/experiments/{experiment_id}/runs?compareRunsMode=CHART",
                  wait_for=[listed, *(["Model metrics"] if metrics else [])])
        page.dismiss_popups()
        page.screenshot(SCREENSHOTS / f"mlflow-{name}-runs-metrics.png")
        page.goto(f"{stack.mlflow_url}/#/experiments/{experiment_id}/runs/{run['info']['run_id']}",
                  wait_for=[run_name, *([f"Metrics ({len(metrics)})", metrics[0]] if metrics else [])])
        page.dismiss_popups()
        alias = "champion" if name in with_champion else "challenger"
        page.screenshot(SCREENSHOTS / f"mlflow-{name}-{alias}-run.png")
        page.goto(f"{stack.mlflow_url}/#/models/{name}", wait_for=[name, f"@ {alias}", f"Version {shown['version']}"])
        page.dismiss_popups()
        page.screenshot(SCREENSHOTS / f"mlflow-{name}-model.png")
    text = page.goto(f"{stack.mlflow_url}/#/models", wait_for=["Aliased versions", "@ champion", *family_names()])
    assert text.count("@ champion") >= len(with_champion)
    page.dismiss_popups()
    page.screenshot(SCREENSHOTS / "mlflow-models.png")


def test_airflow_ui_shows_the_dags_and_the_successful_run(stack, chain, page):
    page.goto(f"{stack.api_url}/auth/login/", wait_for=["Sign In"])
    page.screenshot(SCREENSHOTS / "airflow-login.png")
    user, password = stack.airflow_login
    page.submit_form({"username": user, "password": password}, form="form[name=login]")
    page.goto(f"{stack.api_url}/dags", wait_for=sorted(chain["runs"]))
    page.screenshot(SCREENSHOTS / "airflow-dags.png")
    ingest = chain["runs"]["ingest_orders"]["dag_run_id"]
    page.goto(f"{stack.api_url}/dags/ingest_orders/runs/{ingest}",
              wait_for=["Success", "validate_order_lines", "build_user_features"])
    page.screenshot(SCREENSHOTS / "airflow-ingest-run.png")
    page.goto(f"{stack.api_url}/dags/ingest_orders/runs/{ingest}/tasks/validate_order_lines/details",
              wait_for=["Extra Links", "Data Docs"])
    page.screenshot(SCREENSHOTS / "airflow-validate-task-links.png")
    for name in family_names():
        run_id = chain["runs"][f"train_{name}"]["dag_run_id"]
        page.goto(f"{stack.api_url}/dags/train_{name}/runs/{run_id}/tasks/train_{name}/details",
                  wait_for=["Extra Links", "MLflow run", stack.queue])
        page.screenshot(SCREENSHOTS / f"airflow-train-{name}-task-links.png")


def test_the_valueflow_view_shows_champions_and_decisions_to_signed_in_users(stack, chain, page):
    """The plugin's page inside Airflow: refused without a login; with one, every champion with its
    version, each family's decision, every mart; in chromium both on its own and inside the UI."""
    view = f"{stack.api_url}/valueflow/view/"
    assert requests.get(view, timeout=30).status_code in (401, 403)
    served = chain["airflow"].session.get(view, timeout=60)
    assert served.status_code == 200, served.text[:500]
    with_champion = champions(stack)
    assert len(with_champion) == len(family_names())
    text = page.goto(view, wait_for=["Champions", "Promotion history", "Marketing reports"])
    page.screenshot(SCREENSHOTS / "valueflow-view.png")
    for name, champion in with_champion.items():
        assert f"{name} {champion['version']} " in text, name
    for mart in family_marts().values():
        assert f"{mart} {chain['as_of']}" in text, mart
    assert f"marketing-{chain['as_of']}" in text
    # inside the UI (its menu entry): the page is an iframe, loaded after the UI itself
    page.goto(f"{stack.api_url}/plugin/valueflow", wait_for=["ValueFlow"])
    framed = ("(() => { const f = document.querySelector('iframe');"
              " return f && f.contentDocument && f.contentDocument.body ? f.contentDocument.body.innerText : ''; })()")
    deadline = time.monotonic() + 60
    while "Champions" not in (page.evaluate(framed) or "") and time.monotonic() < deadline:
        time.sleep(1)
    assert "Champions" in (page.evaluate(framed) or ""), "the ValueFlow view did not load inside Airflow's UI"
    page.screenshot(SCREENSHOTS / "airflow-valueflow-view.png")


def test_the_marketing_report_shows_the_runs_marts_in_chromium(stack, chain, page):
    """build_audiences wrote the report on the Celery worker; chromium shows every section whose mart
    has rows, with its picture, and the audience counts read from PostgreSQL."""
    import psycopg

    from ml import catalog

    report = stack.work / "var" / "reports" / f"marketing-{chain['as_of']}.html"
    assert report.exists(), f"no report at {report}"
    marts = [catalog.USER_SEGMENTS, catalog.USER_VALUE, catalog.MARKETING_AUDIENCES, catalog.USER_RECOMMENDATIONS,
             catalog.PRODUCT_SALES_FORECAST]
    with psycopg.connect(stack.pg_url("warehouse")) as con:
        filled = [m for m in marts if con.execute(f"SELECT count(*) FROM {m} WHERE as_of_date = %s",
                                                  (chain["as_of"],)).fetchone()[0] > 0]
        audiences = con.execute(
            "SELECT audience, min(action), sum(CASE WHEN is_control THEN 0 ELSE 1 END), "
            "sum(CASE WHEN is_control THEN 1 ELSE 0 END) FROM marts.marketing_audiences WHERE as_of_date = %s "
            "GROUP BY audience", (chain["as_of"],)).fetchall()
    assert catalog.MARKETING_AUDIENCES in filled and audiences
    text = page.goto(report.as_uri(), wait_for=[f"Customers and products as of {chain['as_of']}", "Value tiers"])
    page.screenshot(SCREENSHOTS / "marketing-report.png")
    drawn = page.evaluate("Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length")
    assert drawn == len(filled), f"{drawn} pictures for {len(filled)} filled marts: {filled}"
    for audience, action, treated, control in audiences:
        assert f"{audience} {action} {treated:,} {control:,}" in text, audience
    for mart in filled:
        assert f"{mart} for {chain['as_of']}" in text


# -- backfill: last, since it adds a past date's runs and decisions to the state checked above -----

@pytest.fixture(scope="module")
def backfill(stack, chain, shop):
    """`airflow backfill create` (the README's command) for one past week of ingest_orders, then
    wait for the train_/score_ runs its Asset events start."""
    import datetime as dt
    import subprocess

    from ml.pipeline import airflow_bin

    airflow, source = chain["airflow"], shop[0]
    as_of = dt.date.fromisoformat(chain["as_of"])
    sunday = as_of - dt.timedelta(days=56 + (as_of.weekday() + 1) % 7)  # @weekly fires Sundays 00:00 UTC
    before = {dag_id: {r["dag_run_id"] for r in airflow.runs(dag_id)} for dag_id in chain["runs"]}
    with_champion = champions(stack)
    created = subprocess.run(
        [airflow_bin(), "backfill", "create", "--dag-id", "ingest_orders", "--from-date", sunday.isoformat(),
         "--to-date", (sunday + dt.timedelta(days=1)).isoformat(), "--max-active-runs", "1",
         "--dag-run-conf", json.dumps({"source": str(source)})],
        env=stack.airflow_env(), capture_output=True, text=True, timeout=180)
    assert created.returncode == 0, created.stdout[-2000:] + created.stderr[-2000:]
    families = family_names()
    expected = ["ingest_orders", *(f"train_{n}" for n in families), *(f"score_{n}" for n in families)]
    new_runs: dict[str, dict] = {}

    def settled() -> bool:
        for dag_id in expected:
            fresh = [r for r in airflow.runs(dag_id) if r["dag_run_id"] not in before[dag_id]]
            if fresh and fresh[0]["state"] == "failed":
                pytest.fail(f"{dag_id} failed after the backfill:\n{_task_logs(stack, dag_id, fresh[0]['dag_run_id'])}")
            if fresh and fresh[0]["state"] == "success":
                new_runs[dag_id] = fresh[0]
        return set(new_runs) == set(expected)

    _wait("the backfilled ingest_orders run and the runs it starts", settled, CHAIN_TIMEOUT_S, stack, interval=4)
    return {"sunday": sunday, "runs": new_runs, "champions_before": with_champion}


def test_a_backfilled_week_runs_for_its_own_date_down_the_asset_chain(stack, chain, backfill):
    import psycopg

    runs, sunday = backfill["runs"], backfill["sunday"].isoformat()
    ingest = runs["ingest_orders"]
    assert ingest["run_type"] == "backfill" and ingest["logical_date"].startswith(sunday)
    with psycopg.connect(stack.pg_url("warehouse")) as con:
        recorded = con.execute("SELECT as_of_date FROM ops.ingest_runs WHERE run_id = %s",
                               (ingest["dag_run_id"],)).fetchall()
        assert [str(r[0]) for r in recorded] == [sunday]
        assert con.execute("SELECT min(recency_days) FROM features.user_features WHERE as_of_date = %s",
                           (sunday,)).fetchone()[0] >= 1, "features of the past week saw its later orders"
        # Every train_<family> run got that date from the Asset event, not the latest export's.
        decided = dict(con.execute("SELECT model_name, decision FROM ops.model_promotions WHERE as_of_date = %s "
                                   "ORDER BY decided_at", (sunday,)).fetchall())  # the last decision per family
        assert set(decided) == set(family_names())
        for name, champion in backfill["champions_before"].items():
            # The past week gets its own model (the backfilled challenger if it would have won, else
            # the best baseline of that week's history), never the champion chosen after it.
            assert decided[name] in ("promoted_for_backfill", "baseline_served"), (name, decided[name])
            versions = {r[0] for r in con.execute(f"SELECT DISTINCT model_version FROM {family_marts()[name]} "
                                                  "WHERE as_of_date = %s", (sunday,)).fetchall()}
            assert versions and champion["version"] not in versions, f"{name}: {versions}"
    for name, champion in backfill["champions_before"].items():
        assert champions(stack)[name]["version"] == champion["version"]  # the present keeps its champion
        assert runs[f"train_{name}"]["run_type"] == "asset_triggered"
        states = {ti["task_id"]: ti["state"] for ti in
                  chain["airflow"].task_instances(f"score_{name}", runs[f"score_{name}"]["dag_run_id"])}
        assert states[f"score_{name}"] == states[f"check_{name}_drift"] == "success", states
        assert states[f"request_{name}_retrain"] == "skipped", states  # its champion was trained for that week
