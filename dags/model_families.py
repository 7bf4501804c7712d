"""
### Model families: train, promote and score

For every family in `ml/families/__init__.py` (`FAMILY_MARTS`), this file builds two DAGs:

* `train_<family>` (runs when `features.user_features` is refreshed): build the family's features,
  train a challenger and log it to MLflow, then re-score challenger and champion on the same fresh
  holdout and promote by the policy in `config/policies/<family>.yaml`.
* `score_<family>` (runs when the family's champion decision is made): score with
  `models:/<family>@champion` into the family's mart, every row carrying model version and run id;
  then check the drift of the model's inputs and scores from its training data (`ops.drift_reports`,
  Evidently's HTML report on the version's MLflow run) and, where the policy's `drift` says so,
  request a retrain: the drift Asset it updates also schedules `train_<family>`.

The as-of date is the param `as_of` (YYYY-MM-DD) if given, else the one the triggering Asset
events carry (`extra["as_of"]`: the ingest's, then the promotion's), else the latest published
export's. A challenger trained for a date before the champion's (a backfill) never moves the
champion alias; it serves its own date when the policy would have promoted it, else the family's
best baseline does, and scoring a past date uses the model chosen for it or before it.
"""
from __future__ import annotations

import pendulum
from airflow.sdk import Asset, Param, dag, task

from ml import catalog
from ml.families import FAMILY_MARTS
from ml.task_defaults import DEFAULT_ARGS

USER_FEATURES = Asset(catalog.table_asset_uri(catalog.USER_FEATURES))
START = pendulum.datetime(2025, 1, 1, tz="UTC")
AS_OF_PARAM = {"as_of": Param(None, type=["null", "string"], description="YYYY-MM-DD; default: latest export")}


def model_asset(name: str) -> Asset:
    return Asset(catalog.model_asset_uri(name))


def mart_asset(table: str) -> Asset:
    return Asset(catalog.table_asset_uri(table))


def drift_asset(name: str) -> Asset:
    return Asset(catalog.drift_asset_uri(name))


def make_train_dag(name: str):
    @dag(dag_id=f"train_{name}", schedule=USER_FEATURES | drift_asset(name), start_date=START, catchup=False, max_active_runs=1,
         doc_md=__doc__, tags=["valueflow", "train", name], default_args=DEFAULT_ARGS, params=AS_OF_PARAM)
    def train_family():
        @task(task_id=f"build_{name}_features")
        def build_features() -> dict:
            from airflow.sdk import get_current_context

            from ml import orchestration

            with orchestration.fail_fast():
                return orchestration.build_family_features(name, orchestration.context_as_of(get_current_context()))

        @task(task_id=f"train_{name}")
        def train(built: dict) -> dict:
            from ml import orchestration

            with orchestration.fail_fast():
                return orchestration.train_family(name, built["as_of"])

        @task(task_id=f"promote_{name}", outlets=[model_asset(name)])
        def promote(trained: dict) -> dict:
            from airflow.sdk import get_current_context

            from ml import orchestration

            context = get_current_context()
            with orchestration.fail_fast():
                decided = orchestration.promote_family(name, trained["as_of"], context["run_id"])
            context["outlet_events"][model_asset(name)].extra = {
                "as_of": decided["as_of"], "promoted": decided["promoted"],
                "champion_version": decided["champion_version"]}
            return decided

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

            context = get_current_context()
            try:
                with orchestration.fail_fast():
                    scored = orchestration.score_family(name, orchestration.context_as_of(context))
            except orchestration.NoChampion as reason:  # not a failure: the policy kept every challenger out
                raise AirflowSkipException(str(reason)) from reason
            context["outlet_events"][mart_asset(mart)].extra = {"as_of": scored["as_of"],
                                                                "model_version": scored["model_version"]}
            return scored

        @task(task_id=f"check_{name}_drift")
        def check_drift(scored: dict) -> dict:
            from ml import orchestration
            from ml.drift.check import run_check_drift

            with orchestration.fail_fast():
                return run_check_drift(name, scored["as_of"])

        @task(task_id=f"request_{name}_retrain", outlets=[drift_asset(name)])
        def request_retrain(checked: dict) -> None:
            from airflow.sdk import get_current_context
            from airflow.sdk.exceptions import AirflowSkipException

            if checked["action"] != "retrain":  # skipped: no Asset event, no retrain
                raise AirflowSkipException(f"no retrain: {checked['reason']}")
            get_current_context()["outlet_events"][drift_asset(name)].extra = {
                "as_of": checked["as_of"], "reason": checked["reason"]}

        request_retrain(check_drift(score()))

    return score_family()


for _name, _mart in FAMILY_MARTS:
    globals()[f"train_{_name}"] = make_train_dag(_name)
    globals()[f"score_{_name}"] = make_score_dag(_name, _mart)
