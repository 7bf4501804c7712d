"""sales_forecast on a short history: training does not raise, and when nothing learnt beats the best
baseline, that baseline is registered, made champion and fills the mart (lineage says so)."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

pytestmark = pytest.mark.integration


def test_ten_weeks_of_history_serve_the_best_baseline(warehouse, mlflow_store, small_shop):
    from ml import catalog, ingest, orchestration, promotion, registry
    from ml.families.sales_forecast import FAMILY as family
    from ml.families.sales_forecast.baselines import BASELINES
    from ml.families.sales_forecast.calendar import forecast_origin, week_start

    ingest.stage_source(warehouse, small_shop)
    orchestration.publish_export(str(small_shop), "2000-01-01", "fixture")  # the as-of date is set below
    first = pd.Timestamp(warehouse.scalar(f"SELECT MIN(invoice_ts) FROM {catalog.RAW_ORDER_LINES}")).date()
    as_of = week_start(first) + dt.timedelta(weeks=10)  # a Monday: 10 complete weeks of history
    family.build_features(warehouse, as_of)

    challenger = family.train(warehouse, as_of)  # once raised "cannot hold 3 backtest origins"
    decision = promotion.promote_challenger(warehouse, family, as_of)
    record = warehouse.query(f"SELECT * FROM {catalog.MODEL_PROMOTIONS} WHERE model_name = '{family.name}' "
                             "ORDER BY decided_at")
    served = record[record["decision"] == registry.BASELINE_SERVED]
    assert len(served) == 1, record[["decision", "reason"]]
    champion = registry.get_alias(family.name, registry.CHAMPION)
    name = champion.kind.removeprefix(registry.BASELINE_KIND_PREFIX)
    assert champion.kind.startswith(registry.BASELINE_KIND_PREFIX) and name in BASELINES
    assert champion.version != challenger.version and decision.promote
    assert "1 backtest origin(s) of 3" in served["holdout"].iat[0]  # the record says what the history held
    assert name in served["reason"].iat[0]

    written = family.score(warehouse, as_of, champion)
    mart = warehouse.query(f"SELECT * FROM {family.mart}")
    assert len(mart) == written > 0
    assert (mart["model_kind"] == f"baseline:{name}").all() and (mart["model_version"] == champion.version).all()
    assert set(mart["forecast_basis"]) == {name}
    origin = pd.Timestamp(forecast_origin(as_of))
    assert set(pd.to_datetime(mart["week_start"])) == {origin + pd.Timedelta(weeks=k) for k in range(4)}
    assert ((mart["lower_80"] <= mart["predicted_units"]) & (mart["predicted_units"] <= mart["upper_80"])).all()
