"""
### Model families: train, promote and score

For every family in `ml/families/__init__.py`, this file builds two DAGs:

* `train_<family>` (runs when `features.user_features` is refreshed): build the family's features,
  train a challenger and log it to MLflow, then re-score challenger and champion on the same fresh
  holdout and promote by the policy in `config/policies/<family>.yaml`.
* `score_<family>` (runs when the family's champion decision is made): score with
  `models:/<family>@champion` into the family's mart, every row carrying model version and run id.

Param `as_of` (YYYY-MM-DD) defaults to the as-of date of the latest published export.
"""
from __future__ import annotations

import pendulum
from airflow.sdk import Asset, Param, dag, task

from ml.families import FAMILY_MODULES

USER_FEATURES = Asset("valueflow://warehouse/features/user_features")
DEFAULT_ARGS = {"owner": "valueflow", "retries": 2, "retry_delay": pendulum.duration(minutes=2)}
START = pendulum.datetime(2025, 1, 1, tz="UTC")
AS_OF_PARAM = {"as_of": Param(None, type=["null", "string"], description="YYYY-MM-DD; default: latest export")}


def model_asset(name: str) -> Asset:
    return Asset(f"valueflow://mlflow/models/{name}")


def mart_asset(table: str) -> Asset:
    schema, name = table.split(".")
    return Asset(f"valueflow://warehouse/{schema}/{name}")


def make_train_dag(name: str):
    @dag(dag_id=f"train_{name}", schedule=[USER_FEATURES], start_date=START, catchup=False, max_active_runs=1,
         doc_md=__doc__, tags=["valueflow", "train", name], default_args=DEFAULT_ARGS, params=AS_OF_PARAM)
    def train_family():
        @task(task_id=f"build_{name}_features")
        def build_features() -> dict:
            from airflow.sdk import get_current_context

            from ml import orchestration

            return orchestration.build_family_features(name, get_current_context()["params"]["as_of"])

        @task(task_id=f"train_{name}")
        def train(built: dict) -> dict:
            from ml import orchestration

            return orchestration.train_family(name, built["as_of"])

        @task(task_id=f"promote_{name}", outlets=[model_asset(name)])
        def promote(trained: dict) -> dict:
            from airflow.sdk import get_current_context

            from ml import orchestration

            return orchestration.promote_family(name, trained["as_of"], get_current_context()["run_id"])

        promote(train(build_features()))

    return train_family()


def make_score_dag(name: str, mart: str):
    @dag(dag_id=f"score_{name}", schedule=[model_asset(name)], start_date=START, catchup=False, max_active_runs=1,
         doc_md=__doc__, tags=["valueflow", "score", name], default_args=DEFAULT_ARGS, params=AS_OF_PARAM)
    def score_family():
        @task(task_id=f"score_{name}", outlets=[mart_asset(mart)])
        def score() -> dict:
            from airflow.sdk import get_current_context
            from airflow.sdk.exceptions import AirflowSkipException

            from ml import orchestration

            try:
                return orchestration.score_family(name, get_current_context()["params"]["as_of"])
            except orchestration.NoChampion as reason:  # not a failure: the policy kept every challenger out
                raise AirflowSkipException(str(reason)) from reason

        score()

    return score_family()


for _name, _module, _mart in FAMILY_MODULES:
    globals()[f"train_{_name}"] = make_train_dag(_name)
    globals()[f"score_{_name}"] = make_score_dag(_name, _mart)
