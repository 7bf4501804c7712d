"""The customer_value DAGs from the factory, and build_audiences scheduled on the marts it reads."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dag_bag(tmp_path_factory):
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_customer_value_dags_exist(dag_bag):
    assert {"train_customer_value", "score_customer_value", "build_audiences"} <= set(dag_bag.dag_ids)
    score = dag_bag.dags["score_customer_value"]
    assert {o.uri for o in score.get_task("score_customer_value").outlets} == {"valueflow://warehouse/marts/user_value"}


def test_build_audiences_runs_on_any_mart_it_reads(dag_bag):
    dag = dag_bag.dags["build_audiences"]
    condition = str(dag.timetable.asset_condition)
    for mart in ("user_value", "user_segments", "user_propensity", "user_recommendations"):
        assert f"valueflow://warehouse/marts/{mart}" in condition
    assert "AssetAny" in type(dag.timetable.asset_condition).__name__
    task = dag.get_task("build_marketing_audiences")
    assert {o.uri for o in task.outlets} == {"valueflow://warehouse/marts/marketing_audiences"}
