"""
### Ingest orders

Reads a shop's export (UCI Online Retail layout, CSV/XLSX, or a generated shop folder) into
`raw.stage_*`, validates it with the Great Expectations suites in `expectations/`, and only then
publishes it to `raw.*` and builds point-in-time `features.user_features` for the as-of date.

A failed suite stops the run here: nothing in `raw`, `features` or `marts` changes, and the task log
names each failed expectation with sample rows (file and row of the export). Data Docs are under
`var/data_docs/`.

Params: `source` (file or folder), `as_of` (YYYY-MM-DD), `encoding` (of CSV files; default UTF-8,
or Latin-1 for a file with no UTF-8 in it), `repeated_lines` (keep, drop or fail; exact repeats of a
line are counted in `ops.ingest_runs`). The as-of date is the param's if given,
else for a scheduled or backfilled run the end of its data interval (features, models and marts are
then computed as of that date, from the orders before it), else the day after the export's last order.
The Asset events carry it (`extra["as_of"]`) to the DAGs they start.
Schedule: `VALUEFLOW_INGEST_SCHEDULE` (default `@weekly`; `none` = only when triggered), until
`VALUEFLOW_INGEST_END_DATE` if set.
"""
from __future__ import annotations

import os

import pendulum
from airflow.sdk import Asset, Param, dag, task

from ml import catalog
from ml.task_defaults import DEFAULT_ARGS

RAW_ORDER_LINES = Asset(catalog.table_asset_uri(catalog.RAW_ORDER_LINES))
USER_FEATURES = Asset(catalog.table_asset_uri(catalog.USER_FEATURES))
SCHEDULE = os.environ.get("VALUEFLOW_INGEST_SCHEDULE", "@weekly")
# The schedule stops after this date (a retired shop); backfills of earlier dates still run.
END_DATE = os.environ.get("VALUEFLOW_INGEST_END_DATE") or None


@dag(
    schedule=None if SCHEDULE.lower() in ("", "none") else SCHEDULE,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    end_date=pendulum.parse(END_DATE, tz="UTC") if END_DATE else None,
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["valueflow", "ingest"],
    default_args=DEFAULT_ARGS,
    params={
        "source": Param(os.environ.get("VALUEFLOW_SOURCE", "var/data/demo_shop"), type="string",
                        description="Export file (.csv/.xlsx) or generated shop folder"),
        "as_of": Param(None, type=["null", "string"], description="YYYY-MM-DD; default: day after the last order"),
        "encoding": Param(None, type=["null", "string"],
                          description="the CSV files' encoding, e.g. latin-1; default: UTF-8, or detected"),
        "repeated_lines": Param(None, type=["null", "string"], enum=[None, "keep", "drop", "fail"],
                                description="exact repeats of an order line: keep (counted), drop (counted) or fail; "
                                            "default VALUEFLOW_REPEATED_LINES or keep"),
    },
)
def ingest_orders():
    @task
    def stage_export() -> dict:
        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowFailException

        from ml import ingest, orchestration

        context = get_current_context()
        params, dag_run = context["params"], context["dag_run"]
        scheduled = orchestration.schedule_as_of(dag_run.run_type, context.get("data_interval_end"),
                                                 context.get("logical_date"))
        with orchestration.fail_fast():  # a malformed as_of, too, fails the same way on every retry
            try:
                return orchestration.stage_export(params["source"], params["as_of"], scheduled,
                                                  encoding=params.get("encoding"),
                                                  repeated_lines=params.get("repeated_lines"))
            except ingest.SourceError as error:  # a broken file will not mend itself on retry
                raise AirflowFailException(str(error)) from error

    @task
    def validate_order_lines(staged: dict) -> dict:
        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowFailException

        from ml import orchestration, validation

        with orchestration.fail_fast():
            try:
                return orchestration.validate_export(staged["as_of"], get_current_context()["run_id"],
                                                     staged.get("orders_before"),
                                                     no_repeats=staged.get("repeated_lines_policy") == "fail")
            except validation.ValidationFailed as error:
                raise AirflowFailException(str(error)) from error

    @task(outlets=[RAW_ORDER_LINES])
    def publish_raw_tables(staged: dict, validated: dict) -> dict:
        from airflow.sdk import get_current_context

        from ml import orchestration

        context = get_current_context()
        with orchestration.fail_fast():
            published = orchestration.publish_export(staged["source"], validated["as_of"], context["run_id"],
                                                     staged.get("repeated_lines", 0),
                                                     staged.get("repeated_lines_dropped", 0))
        context["outlet_events"][RAW_ORDER_LINES].extra = {"as_of": published["as_of"]}
        return published

    @task(outlets=[USER_FEATURES])
    def build_user_features(published: dict) -> dict:
        from airflow.sdk import get_current_context

        from ml import orchestration

        with orchestration.fail_fast():
            built = orchestration.build_user_features(published["as_of"])
        get_current_context()["outlet_events"][USER_FEATURES].extra = {"as_of": built["as_of"]}
        return built

    staged = stage_export()
    validated = validate_order_lines(staged)
    build_user_features(publish_raw_tables(staged, validated))


ingest_orders()
