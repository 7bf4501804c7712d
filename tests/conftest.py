"""Shared fixtures: small generated shops, a DuckDB warehouse and an MLflow store per test, and a
throw-away PostgreSQL database on the real server at 127.0.0.1:5432."""
from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

PG_ADMIN_URL = os.environ.get("VALUEFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


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


@pytest.fixture
def pg_warehouse(monkeypatch):
    """A Warehouse on its own new database of the real PostgreSQL server, dropped afterwards."""
    import psycopg

    from ml.warehouse import connect

    name = f"valueflow_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is required for warehouse tests: {error}")
    admin.execute(f"CREATE DATABASE {name}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", url)
    try:
        with connect(url) as wh:
            yield wh
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()
