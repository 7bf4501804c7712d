"""Shared fixtures: small generated shops, a DuckDB warehouse and an MLflow store per test, and a
throw-away PostgreSQL database on the real server at 127.0.0.1:5432."""
from __future__ import annotations

import datetime as dt
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

PG_ADMIN_URL = os.environ.get("VALUEFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TESTS = Path(__file__).resolve().parent
# A folder is a tier, and every test in it carries the tier's marker, so `-m` selects what the folder says.
TIER_MARKERS = {"warehouse": "warehouse", "integration": "integration", "system": "system",
                "reliability": "reliability"}
POSTGRES_MARKERS = {"warehouse", "integration", "system"}


def pytest_collection_modifyitems(config, items):
    """Refuse a test whose marker does not say what it needs: its folder's tier, PostgreSQL."""
    wrong = []
    for item in items:
        tier = Path(str(item.path)).resolve().relative_to(TESTS).parts[0]
        markers = {mark.name for mark in item.iter_markers()}
        if tier in TIER_MARKERS and TIER_MARKERS[tier] not in markers:
            wrong.append(f"{item.nodeid}: in tests/{tier}/ but not marked {TIER_MARKERS[tier]!r}")
        if "pg_admin_url" in getattr(item, "fixturenames", ()) and not markers & POSTGRES_MARKERS:
            wrong.append(f"{item.nodeid}: uses PostgreSQL but carries none of {sorted(POSTGRES_MARKERS)}")
    if wrong:
        raise pytest.UsageError("tests whose markers do not match their tier:\n  " + "\n  ".join(wrong))


@pytest.fixture(scope="session")
def small_shop(tmp_path_factory) -> Path:
    """A generated shop of 400 customers over two years (files, as a user's export folder)."""
    from ml.generate import ShopSpec, write_shop

    folder = tmp_path_factory.mktemp("shop")
    write_shop(ShopSpec(customers=400, seed=11), folder)
    return folder


@pytest.fixture(scope="session")
def small_shop_as_of(small_shop) -> dt.date:
    import json

    import pandas as pd

    last = json.loads((small_shop / "manifest.json").read_text())["last_order_ts"]
    return (pd.Timestamp(last).normalize() + pd.Timedelta(days=1)).date()


@pytest.fixture
def state_home(tmp_path, monkeypatch) -> Path:
    """All local state (warehouse file, MLflow store, Data Docs) under this test's tmp_path."""
    home = tmp_path / "var"
    home.mkdir()
    monkeypatch.setenv("VALUEFLOW_HOME", str(home))
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", f"duckdb:///{home / 'warehouse.duckdb'}")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    monkeypatch.delenv("MLFLOW_ARTIFACT_ROOT", raising=False)
    return home


@dataclass
class Baseline:
    home: Path  # where cases run (MLflow keeps absolute artifact paths, so always this folder)
    pristine: Path
    seconds: float  # how long the whole run took: the kill test picks its moments within it
    state: dict[str, str]


@pytest.fixture(scope="session")
def pipeline_baseline(tmp_path_factory, small_shop) -> Baseline:
    """One real pipeline run under Airflow on the small shop, built once per session and kept as a
    pristine copy: the "previous state" of every reliability case and of the end-to-end checks."""
    from ml import pipeline, settings
    from tests.reliability.state import snapshot

    root = tmp_path_factory.mktemp("baseline")
    home, pristine = root / "workspace", root / "pristine"
    with settings.workspace(home):
        started = time.monotonic()
        assert pipeline.run_pipeline(str(small_shop)) == 0, "the baseline pipeline run must succeed"
        seconds = time.monotonic() - started
        state = snapshot()
    shutil.copytree(home, pristine, symlinks=True)
    return Baseline(home, pristine, seconds, state)


@pytest.fixture
def baseline_workspace(pipeline_baseline) -> Path:
    """The baseline's workspace as its run left it, selected for `connect()`, MLflow and `ml run`."""
    from ml import settings

    shutil.rmtree(pipeline_baseline.home)
    shutil.copytree(pipeline_baseline.pristine, pipeline_baseline.home, symlinks=True)
    with settings.workspace(pipeline_baseline.home):
        yield pipeline_baseline.home


@pytest.fixture
def warehouse(state_home):
    """A fresh DuckDB warehouse (the default dialect), also what `ml.warehouse.connect()` opens."""
    from ml.warehouse import connect

    with connect() as wh:
        yield wh


@pytest.fixture
def mlflow_store(state_home) -> str:
    return os.environ["MLFLOW_TRACKING_URI"]


@pytest.fixture
def loaded_warehouse(warehouse, small_shop, small_shop_as_of):
    """The small shop staged, published and featurised as of the day after its last order."""
    from ml import features, ingest, orchestration

    ingest.stage_source(warehouse, small_shop)
    orchestration.publish_export(str(small_shop), small_shop_as_of.isoformat(), "fixture")
    features.build_user_features(warehouse, small_shop_as_of)
    return warehouse


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """The real PostgreSQL server (VALUEFLOW_TEST_PG); its absence fails the run, never skips it."""
    import psycopg

    try:
        psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5).close()
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} (VALUEFLOW_TEST_PG) is required for the warehouse tests: {error}",
                    pytrace=False)
    return PG_ADMIN_URL


@pytest.fixture
def pg_database_url(pg_admin_url) -> str:
    """A new, empty database on the real server, dropped after the test."""
    import psycopg

    name = f"valueflow_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield pg_admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pg_warehouse(pg_database_url, monkeypatch):
    """A Warehouse on its own new database of the real PostgreSQL server (also what `connect()` opens)."""
    from ml.warehouse import connect

    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", pg_database_url)
    with connect(pg_database_url) as wh:
        yield wh


@pytest.fixture(params=["duckdb", "postgres"])
def any_warehouse(request):
    """The test once on DuckDB and once on PostgreSQL: both dialects must behave the same."""
    return request.getfixturevalue("warehouse" if request.param == "duckdb" else "pg_warehouse")
