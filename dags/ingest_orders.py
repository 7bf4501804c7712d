"""
### Ingest orders

Reads a shop's export (UCI Online Retail layout, CSV/XLSX, or a generated shop folder) into
`raw.stage_*`, validates it with the Great Expectations suites in `expectations/`, and only then
publishes it to `raw.*` and builds point-in-time `features.user_features` for the as-of date.

A failed suite stops the run here: nothing in `raw`, `features` or `marts` changes, and the task log
names each failed expectation with sample rows (file and row of the export). Data Docs are under
`var/data_docs/`.

Params: `source` (file or folder), `as_of` (YYYY-MM-DD; default the day after the last order).
Schedule: `VALUEFLOW_INGEST_SCHEDULE` (default `@weekly`; `none` = only when triggered).
"""
from __future__ import annotations

import os

import pendulum
from airflow.sdk import Asset, Param, dag, task

RAW_ORDER_LINES = Asset("valueflow://warehouse/raw/order_lines")
USER_FEATURES = Asset("valueflow://warehouse/features/user_features")
SCHEDULE = os.environ.get("VALUEFLOW_INGEST_SCHEDULE", "@weekly")


@dag(
    schedule=None if SCHEDULE.lower() in ("", "none") else SCHEDULE,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["valueflow", "ingest"],
    default_args={"owner": "valueflow", "retries": 2, "retry_delay": pendulum.duration(minutes=2)},
    params={
        "source": Param(os.environ.get("VALUEFLOW_SOURCE", "var/data/demo_shop"), type="string",
                        description="Export file (.csv/.xlsx) or generated shop folder"),
        "as_of": Param(None, type=["null", "string"], description="YYYY-MM-DD; default: day after the last order"),
    },
)
def ingest_orders():
    @task
    def stage_export() -> dict:
        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowFailException

        from ml import ingest, orchestration

        params = get_current_context()["params"]
        try:
            return orchestration.stage_export(params["source"], params["as_of"])
        except ingest.SourceError as error:  # a broken file will not mend itself on retry
            raise AirflowFailException(str(error)) from error

    @task
    def validate_order_lines(staged: dict) -> dict:
        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowFailException

        from ml import orchestration, validation

        try:
            return orchestration.validate_export(staged["as_of"], get_current_context()["run_id"])
        except validation.ValidationFailed as error:
            raise AirflowFailException(str(error)) from error

    @task(outlets=[RAW_ORDER_LINES])
    def publish_raw_tables(staged: dict, validated: dict) -> dict:
        from airflow.sdk import get_current_context

        from ml import orchestration

        return orchestration.publish_export(staged["source"], validated["as_of"], get_current_context()["run_id"])

    @task(outlets=[USER_FEATURES])
    def build_user_features(published: dict) -> dict:
        from ml import orchestration

        return orchestration.build_user_features(published["as_of"])

    staged = stage_export()
    validated = validate_order_lines(staged)
    build_user_features(publish_raw_tables(staged, validated))


ingest_orders()
