"""build_features -> train -> evaluate -> promote -> score for sales_forecast on a small generated shop."""
from __future__ import annotations

import pandas as pd
import pytest

pytestmark = pytest.mark.integration


def test_sales_forecast_pipeline(loaded_warehouse, mlflow_store, small_shop_as_of):
    from mlflow.tracking import MlflowClient

    from ml import promotion, registry
    from ml.families.sales_forecast import FAMILY as family
    from ml.families.sales_forecast.calendar import forecast_origin

    wh, as_of = loaded_warehouse, small_shop_as_of
    family.build_features(wh, as_of)
    ref = family.train(wh, as_of)
    assert registry.get_alias(family.name, registry.CHALLENGER) == ref

    # The metric relation: LightGBM beats seasonal naive on WAPE on the newest origin.
    run = MlflowClient(mlflow_store).get_run(ref.run_id)
    metrics = run.data.metrics
    assert metrics["wape"] < metrics["baseline_seasonal_naive_wape"]
    assert {"baseline_linear_wape", "baseline_moving_average_wape", "wape_h4", "interval_coverage_80"} <= set(metrics)
    artifacts = {a.path for a in MlflowClient(mlflow_store).list_artifacts(ref.run_id)}
    assert {"actual_vs_forecast.png", "backtest_metrics.csv", "interval_quantiles.json"} <= artifacts

    decision = promotion.promote_challenger(wh, family, as_of)
    assert decision.promote, decision.reason
    print("sales_forecast decision:", decision.reason)
    champion = registry.get_alias(family.name, registry.CHAMPION)
    assert champion.version == ref.version

    written = family.score(wh, as_of, champion)
    mart = wh.query(f"SELECT * FROM {family.mart}")
    assert len(mart) == written > 0
    origin = pd.Timestamp(forecast_origin(as_of))
    assert set(pd.to_datetime(mart["week_start"])) == {origin + pd.Timedelta(weeks=k) for k in range(4)}
    assert (mart.groupby("product_id")["horizon"].nunique() == 4).all()
    active = wh.scalar(
        "SELECT COUNT(DISTINCT product_id) FROM features.product_weekly_sales "
        f"WHERE as_of_date = DATE '{as_of}' AND units > 0 AND week_start >= DATE '{(origin - pd.Timedelta(weeks=13)).date()}'"
    )
    assert mart["product_id"].nunique() == active
    assert ((mart["lower_80"] <= mart["predicted_units"]) & (mart["predicted_units"] <= mart["upper_80"])).all()
    assert set(mart["forecast_basis"]) <= {"model", "category_rate", "overall_rate"}
    assert (mart["model_version"] == champion.version).all() and (mart["run_id"] == champion.run_id).all()
    assert family.score(wh, as_of, champion) == written  # idempotent per as-of date
    assert wh.row_count(family.mart) == written
