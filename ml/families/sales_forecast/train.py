"""Train: the rolling backtest of every model, logged to MLflow; its holdout LightGBM is the challenger.

The registered LightGBM is the one fitted for the newest backtest origin (targets strictly before
the 4 weeks before D), so `evaluate` can score it, the champion and the floors on unseen weeks.
"""
from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path

from ml import registry, tracking
from ml.families.base import ModelRef
from ml.families.sales_forecast import config as family_config
from ml.families.sales_forecast.backtest import MODELS, run_backtest
from ml.families.sales_forecast.config import NAME
from ml.families.sales_forecast.features import read_matrix
from ml.families.sales_forecast.lags import FEATURE_COLUMNS, KEY_COLUMNS
from ml.families.sales_forecast.model import SalesForecaster
from ml.families.sales_forecast.plots import save_actual_vs_forecast
from ml.families.sales_forecast.pyfunc import log_forecaster
from ml.warehouse import Warehouse


def _metric_name(model: str, metric: str, horizon) -> str:
    prefix = "" if model == "lightgbm" else f"baseline_{model}_"
    suffix = "" if horizon == "all" else f"_h{horizon}"
    return f"{prefix}{metric}{suffix}"


def train(wh: Warehouse, as_of: dt.date) -> ModelRef:
    import mlflow

    config = family_config.load()
    m = read_matrix(wh, as_of)
    result = run_backtest(m, config)
    forecaster = SalesForecaster(result.holdout_model, result.intervals, config.interval_level, result.level_scale)
    newest_week = m.week_at(result.origins[0])
    with tracking.start_run(NAME, as_of, run_name=f"lightgbm-{config.objective}-{as_of}") as run:
        mlflow.log_params(
            {
                **config.as_params(),
                "strategy": "direct multi-horizon (one pooled model, horizon as a feature)",
                "intervals": "residual quantiles per horizon, scaled by sqrt(pred+1), from older origins",
                "level_scale": round(result.level_scale, 4),
                "features": ",".join(FEATURE_COLUMNS),
                "products": len(m.product_ids),
                "panel_weeks": m.n_weeks,
                "backtest_origins": ",".join(str(m.week_at(o).date()) for o in result.origins),
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
        overall = metrics[metrics["horizon"] == "all"]
        for model in MODELS:
            mean_wape = float(overall.loc[overall["model"] == model, "wape"].mean())
            logged[_metric_name(model, "backtest_mean_wape", "all")] = mean_wape
        if str(newest_week.date()) in result.coverage:
            logged["interval_coverage_80"] = result.coverage[str(newest_week.date())]
        mlflow.log_metrics(logged)
        for step, (_, coverage) in enumerate(sorted(result.coverage.items())):
            mlflow.log_metric("interval_coverage_80_by_origin", coverage, step=step)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            metrics.to_csv(folder / "backtest_metrics.csv", index=False)
            kept = KEY_COLUMNS + ["target", "pred_lightgbm_raw"] + [f"pred_{n}" for n in MODELS]
            kept += ["lower_80", "upper_80"]
            result.predictions[[c for c in kept if c in result.predictions]].to_csv(
                folder / "backtest_predictions.csv", index=False
            )
            quantiles = {str(h): q for h, q in result.intervals.items()}
            (folder / "interval_quantiles.json").write_text(json.dumps(quantiles))
            save_actual_vs_forecast(m, result.predictions, folder / "actual_vs_forecast.png")
            mlflow.log_artifacts(str(folder))
        info = log_forecaster(forecaster, result.predictions.head(5))
        lgbm_wape = float(newest.loc[(newest["model"] == "lightgbm") & (newest["horizon"] == "all"), "wape"].iat[0])
        description = f"LightGBM {config.objective}, direct 4-week horizon, holdout WAPE {lgbm_wape:.3f} as of {as_of}"
        return registry.register_challenger(info.model_uri, NAME, run.info.run_id, description)
