"""Train: the rolling backtest of every candidate, logged to MLflow; its per-class choice is the challenger.

The registered forecaster carries the LightGBMs fitted for the newest backtest origin (targets strictly
before the 4 weeks before D) and the method per demand class chosen on the older origins, so `evaluate`
can score it, the champion and the baselines on weeks none of them saw. A history too short for any
backtest origin registers the 4-week mean, saying so in the run and the version's description.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import tempfile
from pathlib import Path

from ml import registry, tracking
from ml.families.base import ModelRef
from ml.families.sales_forecast import config as family_config
from ml.families.sales_forecast.backtest import MODELS, backtest_origins, origin_rows, run_backtest
from ml.families.sales_forecast.config import NAME
from ml.families.sales_forecast.features import read_matrix
from ml.families.sales_forecast.lags import FEATURE_COLUMNS, KEY_COLUMNS
from ml.families.sales_forecast.model import CLASSES, SalesForecaster
from ml.families.sales_forecast.plots import save_actual_vs_forecast
from ml.families.sales_forecast.pyfunc import log_forecaster
from ml.warehouse import Warehouse

SHORT_HISTORY_BASELINE = "last_4_weeks_mean"


def _metric_name(model: str, metric: str, horizon) -> str:
    prefix = "" if model == "selected" else f"candidate_{model}_"
    suffix = "" if horizon == "all" else f"_h{horizon}"
    return f"{prefix}{metric}{suffix}"


def train(wh: Warehouse, as_of: dt.date) -> ModelRef:
    config = family_config.load()
    m = read_matrix(wh, as_of)
    if not backtest_origins(m.n_weeks, config.n_origins, config.horizon, config.min_origin_weeks):
        return _train_short_history(m, as_of, config)
    return _train_backtested(m, as_of, config)


def _register(info, run_id: str, kind: str, description: str) -> ModelRef:
    ref = registry.register_challenger(info.model_uri, NAME, run_id, description)
    registry.tag_version(ref, {registry.KIND_TAG: kind})
    return dataclasses.replace(ref, kind=kind)


def _train_short_history(m, as_of: dt.date, config) -> ModelRef:
    import mlflow

    why = (f"{m.n_weeks} weeks of history hold no backtest origin ({config.horizon} test weeks after "
           f"{config.min_origin_weeks}): no model can be fitted and checked, so {SHORT_HISTORY_BASELINE} serves")
    forecaster = SalesForecaster(dict.fromkeys(CLASSES, SHORT_HISTORY_BASELINE), level=config.interval_level,
                                 min_history_weeks=config.min_history_weeks)
    kind = f"{registry.BASELINE_KIND_PREFIX}{SHORT_HISTORY_BASELINE}"
    with tracking.start_run(NAME, as_of, run_name=f"short-history-{as_of}", tags={registry.KIND_TAG: kind}) as run:
        mlflow.log_params({**config.as_params(), "panel_weeks": m.n_weeks, "backtest_origins": "",
                           "short_history": why, "as_of_date": as_of.isoformat()})
        info = log_forecaster(forecaster, origin_rows(m, m.n_weeks, config).head(5))
        return _register(info, run.info.run_id, kind, why)


def _train_backtested(m, as_of: dt.date, config) -> ModelRef:
    import mlflow

    result = run_backtest(m, config)
    forecaster = result.forecaster
    newest_week = m.week_at(result.origins[0])
    kind = forecaster.kind
    with tracking.start_run(NAME, as_of, run_name=f"{kind}-{as_of}", tags={registry.KIND_TAG: kind}) as run:
        mlflow.log_params(
            {
                **config.as_params(),
                "strategy": "per demand class, the candidate with the least backtest absolute error "
                            "(LightGBM L1/Poisson direct multi-horizon, or a baseline)",
                "choice": json.dumps(forecaster.choice, sort_keys=True),
                "intervals": "per class and horizon, residual quantiles scaled by sqrt(pred+1), from older origins",
                "features": ",".join(FEATURE_COLUMNS),
                "products": len(m.product_ids),
                "panel_weeks": m.n_weeks,
                "backtest_origins": ",".join(str(m.week_at(o).date()) for o in result.origins),
                "selection_origins": len(result.origins) - 1,
                "holdout_origin": str(newest_week.date()),
                "as_of_date": as_of.isoformat(),
            }
        )
        metrics = result.metrics
        newest = metrics[metrics["origin_week"] == newest_week]
        logged = {
            _metric_name(row.model, metric, row.horizon): float(getattr(row, metric))
            for row in newest.itertuples()
            for metric in ("wape", "mae", "rmse", "bias")
        }
        older = metrics[(metrics["horizon"] == "all") & (metrics["origin_week"] < newest_week)]
        for model in MODELS:
            values = older.loc[older["model"] == model, "wape"]
            if not values.empty:
                logged[_metric_name(model, "backtest_mean_wape", "all")] = float(values.mean())
        mlflow.log_metrics(logged)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            metrics.to_csv(folder / "backtest_metrics.csv", index=False)
            result.selection.to_csv(folder / "class_selection.csv", index=False)
            kept = KEY_COLUMNS + ["target", "demand_class", "pred_selected"] + [f"pred_{n}" for n in MODELS]
            result.predictions[[c for c in kept if c in result.predictions]].to_csv(
                folder / "backtest_predictions.csv", index=False
            )
            quantiles = {c: {str(h): q for h, q in by_h.items()} for c, by_h in forecaster.intervals.items()}
            (folder / "interval_quantiles.json").write_text(json.dumps(quantiles))
            save_actual_vs_forecast(m, result.predictions, folder / "actual_vs_forecast.png")
            mlflow.log_artifacts(str(folder))
        info = log_forecaster(forecaster, result.predictions.head(5))
        wape = logged.get("wape", float("nan"))
        description = (f"per demand class {json.dumps(forecaster.choice, sort_keys=True)}, chosen on "
                       f"{len(result.origins) - 1} backtest origin(s); holdout WAPE {wape:.3f} as of {as_of}")
        return _register(info, run.info.run_id, kind, description)
