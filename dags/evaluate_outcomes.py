"""
### Evaluate outcomes

How the champions' past scores turned out. For every date a family scored whose horizon has passed
(propensity and recommendations 30 days, customer value 90, the forecast 4 weeks) in the latest
export, the family's mart is held against what customers and products then did, beside the simple
baselines fitted on the history before that date: `marts.model_outcomes`, and `live.<metric>` on
the scoring version's MLflow run. A family whose live metric breaks the `live` floor of its policy
(`config/policies/<family>.yaml`) is flagged in the task log and in `python -m ml status`.

Beside it, the uplift readout: for every audiences partition whose readout window has passed, each
audience's contacted customers against its control group (conversion and revenue per customer, the
difference with a 95% interval, whether the control group could detect the expected effect):
`marts.audience_uplift`.

Runs after each ingest (the `features/user_features` Asset) and daily at 06:00 UTC.
"""
from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag, task
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from ml import catalog
from ml.task_defaults import DEFAULT_ARGS

USER_FEATURES = Asset(catalog.table_asset_uri(catalog.USER_FEATURES))
MODEL_OUTCOMES = Asset(catalog.table_asset_uri(catalog.MODEL_OUTCOMES))
AUDIENCE_UPLIFT = Asset(catalog.table_asset_uri(catalog.AUDIENCE_UPLIFT))


@dag(
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 6 * * *", timezone="UTC"), assets=USER_FEATURES),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["valueflow", "outcomes"],
    default_args=DEFAULT_ARGS,
)
def evaluate_outcomes():
    @task(outlets=[MODEL_OUTCOMES])
    def evaluate_outcomes() -> dict:
        from ml import live_outcomes

        return live_outcomes.run_evaluate_outcomes()

    @task(outlets=[AUDIENCE_UPLIFT])
    def read_out_uplift() -> dict:
        from ml.audiences import uplift

        return uplift.run_read_out_uplift()

    evaluate_outcomes()
    read_out_uplift()


evaluate_outcomes()
