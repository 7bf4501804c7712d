"""`register_baseline`: one of `baselines.BASELINES` as a model version, for when nothing learnt beats it.

It is a `SalesForecaster` with that baseline for every demand class and no models, so it has the
family's pyfunc signature and scores through the normal `score`. Its 80% intervals are calibrated on
its own errors over the last 4 weeks of the history before D (per class and horizon), and those
errors are logged as the run's metrics.
"""
from __future__ import annotations

import datetime as dt

from ml import registry, tracking
from ml.families.base import ModelRef
from ml.families.sales_forecast import config as family_config
from ml.families.sales_forecast.backtest import calibrate, origin_rows, predict_candidates
from ml.families.sales_forecast.baselines import BASELINES
from ml.families.sales_forecast.config import NAME
from ml.families.sales_forecast.features import read_matrix
from ml.families.sales_forecast.metrics import forecast_metrics
from ml.families.sales_forecast.model import CLASSES, SalesForecaster
from ml.families.sales_forecast.pyfunc import log_forecaster
from ml.warehouse import Warehouse


def baseline_forecaster(m, name: str, config) -> tuple[SalesForecaster, dict[str, float]]:
    """The baseline as a forecaster, calibrated on the newest 4 weeks of the panel, and its errors there."""
    if name not in BASELINES:
        raise ValueError(f"unknown sales baseline {name!r}; known: {sorted(BASELINES)}")
    choice = dict.fromkeys(CLASSES, name)
    origin = m.n_weeks - config.horizon
    intervals, scores = {}, {}
    if origin >= 1:
        rows = predict_candidates(origin_rows(m, origin, config), {})
        if not rows.empty:
            intervals = calibrate(rows, choice, config.interval_level)
            scores = {k: v for k, v in forecast_metrics(rows["target"], rows[f"pred_{name}"]).items()
                      if v == v}  # MLflow refuses NaN
    return SalesForecaster(choice, {}, intervals, config.interval_level, config.min_history_weeks), scores


def register_baseline(wh: Warehouse, as_of: dt.date, name: str) -> ModelRef:
    import mlflow

    config = family_config.load()
    m = read_matrix(wh, as_of)
    forecaster, scores = baseline_forecaster(m, name, config)
    kind = f"{registry.BASELINE_KIND_PREFIX}{name}"
    with tracking.start_run(NAME, as_of, run_name=f"baseline-{name}-{as_of}",
                            tags={registry.KIND_TAG: kind, registry.ROLE_TAG: registry.BASELINE_ROLE}) as run:
        mlflow.log_params({"baseline": name, "as_of_date": as_of.isoformat(), "panel_weeks": m.n_weeks,
                           "intervals": "per class and horizon, residual quantiles of the last 4 weeks before D"})
        mlflow.log_metrics({f"last_4_weeks_{k}": v for k, v in scores.items()})
        info = log_forecaster(forecaster, origin_rows(m, m.n_weeks, config).head(5))
        description = (f"baseline {name} for every product (nothing learnt beat it on the holdout as of {as_of}); "
                       f"WAPE over the last 4 weeks before D {scores.get('wape', float('nan')):.3f}")
        return registry.register_baseline(info.model_uri, NAME, run.info.run_id, name, description)
