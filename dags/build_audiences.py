"""
### Build marketing audiences

Turns the customer marts into campaign audiences in `marts.marketing_audiences`, one audience per
customer (the smallest `priority` wins), with a seeded control group per audience for measuring
uplift. The rules live in `config/audiences.yaml`; an invalid file fails the run at once and writes
nothing. Then the marketer's report for the same as-of date (segments, value tiers, audiences, top
recommendations, the forecast of the top products) is written to `<workspace>/reports/`.

Runs whenever any of the marts it reads is refreshed: `marts.user_value` (value tiers, P(alive)),
`marts.user_segments`, `marts.user_propensity`, `marts.user_recommendations`. A mart that does not
exist yet only silences the rules that need it (see the task log).

Param `as_of` (YYYY-MM-DD) defaults to the as-of date the triggering mart events carry, else the
latest published export's.
"""
from __future__ import annotations

import pendulum
from airflow.sdk import Asset, Param, dag, task

from ml import catalog
from ml.task_defaults import DEFAULT_ARGS

USER_VALUE = Asset(catalog.table_asset_uri(catalog.USER_VALUE))
USER_SEGMENTS = Asset(catalog.table_asset_uri(catalog.USER_SEGMENTS))
USER_PROPENSITY = Asset(catalog.table_asset_uri(catalog.USER_PROPENSITY))
USER_RECOMMENDATIONS = Asset(catalog.table_asset_uri(catalog.USER_RECOMMENDATIONS))
MARKETING_AUDIENCES = Asset(catalog.table_asset_uri(catalog.MARKETING_AUDIENCES))


@dag(
    schedule=(USER_VALUE | USER_SEGMENTS | USER_PROPENSITY | USER_RECOMMENDATIONS),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["valueflow", "audiences"],
    default_args=DEFAULT_ARGS,
    params={"as_of": Param(None, type=["null", "string"], description="YYYY-MM-DD; default: latest export")},
)
def build_audiences():
    @task(outlets=[MARKETING_AUDIENCES])
    def build_marketing_audiences() -> dict:
        from airflow.sdk import get_current_context

        from ml import orchestration
        from ml.audiences import build as audiences

        context = get_current_context()
        with orchestration.fail_fast():  # a bad config (AudienceConfigError) will not mend itself on retry
            built = audiences.run_build_audiences(orchestration.context_as_of(context), context["run_id"])
        context["outlet_events"][MARKETING_AUDIENCES].extra = {"as_of": built["as_of"]}
        return built

    @task
    def write_marketing_report(built: dict) -> dict:
        from ml.report import page

        return page.run_write_report(built["as_of"])

    write_marketing_report(build_marketing_audiences())


build_audiences()
