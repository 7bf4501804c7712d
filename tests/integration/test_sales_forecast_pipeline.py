"""build_features -> train -> evaluate -> promote -> score for sales_forecast on a small generated shop."""
from __future__ import annotations

import json

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

    # Every candidate is scored on the holdout beside the per-class choice.
    run = MlflowClient(mlflow_store).get_run(ref.run_id)
    metrics = run.data.metrics
    baseline_wape = {name: metrics[f"candidate_{name}_wape"]
                     for name in ("zero", "last_4_weeks_mean", "moving_average_8w", "seasonal_naive", "tsb")}
    assert {"candidate_lightgbm_l1_wape", "candidate_lightgbm_poisson_wape", "wape_h4"} <= set(metrics)
    artifacts = {a.path for a in MlflowClient(mlflow_store).list_artifacts(ref.run_id)}
    assert {"actual_vs_forecast.png", "backtest_metrics.csv", "class_selection.csv",
            "interval_quantiles.json"} <= artifacts

    # Something always serves: the challenger where it beats the best baseline (same holdout rows as the
    # run's metrics), else that baseline.
    decision = promotion.promote_challenger(wh, family, as_of)
    assert decision.promote, decision.reason
    print("sales_forecast decision:", decision.reason)
    champion = registry.get_alias(family.name, registry.CHAMPION)
    best = min(baseline_wape, key=baseline_wape.get)
    if champion.version == ref.version:
        assert metrics["wape"] < baseline_wape[best]
    else:
        assert champion.kind == f"baseline:{best}" and baseline_wape[best] <= metrics["wape"]

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
    served = json.loads(run.data.params["choice"]).values() if champion.version == ref.version else [best]
    assert set(mart["forecast_basis"]) <= set(served)
    assert (mart["model_kind"] == champion.kind).all()
    assert (mart["model_version"] == champion.version).all() and (mart["run_id"] == champion.run_id).all()
    assert family.score(wh, as_of, champion) == written  # idempotent per as-of date
    assert wh.row_count(family.mart) == written
