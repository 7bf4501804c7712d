"""Sales forecast family: weekly net units per product for the 4 weeks after D, into
marts.product_sales_forecast.

Features: `features.product_weekly_sales` is the product x week panel aggregated by SQL in the
warehouse (guests included, cancellations netted); lags and rolling means come from it in pandas
(`ml.families.sales_forecast.features`). Model: one pooled LightGBM (Poisson) with horizon as a feature (direct
multi-horizon), beside the classic linear regression and seasonal-naive / moving-average floors.

Holdout: the 4 weeks before D (the newest backtest origin). The registered LightGBM is fitted on
targets strictly before them, so challenger, champion (older, trained on even less) and the naive
floors are all scored on weeks none of them has seen. At scoring time it reads lags up to D.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path

import pandas as pd

from ml import catalog, marts, registry, tracking
from ml.data import merchandise_predicate
from ml.families.base import Evaluation, ModelFamily, ModelRef
from ml.families.sales_forecast import models as sales_models
from ml.families.sales_forecast.backtest import MODELS, run_backtest
from ml.families.sales_forecast.calendar import forecast_origin
from ml.families.sales_forecast.config import SalesConfig
from ml.families.sales_forecast.features import FEATURE_COLUMNS, KEY_COLUMNS, eligible_products, origin_features
from ml.families.sales_forecast.forecast import SalesForecaster, iter_forecasts
from ml.families.sales_forecast.metrics import forecast_metrics, interval_coverage
from ml.families.sales_forecast.panel import PANEL_COLUMNS, PanelMatrix, to_matrix, weekly_panel_sql
from ml.families.sales_forecast.plots import save_actual_vs_forecast
from ml.sql import sql_literal
from ml.warehouse import Warehouse

NAME = "sales_forecast"
MART = catalog.PRODUCT_SALES_FORECAST
PANEL = catalog.PRODUCT_WEEKLY_SALES
SCORE_CHUNK_PRODUCTS = 5000


def sales_config() -> SalesConfig:
    """Defaults, with `active = sold in the last N weeks` overridable by VALUEFLOW_SALES_ACTIVE_WEEKS."""
    return SalesConfig(active_weeks=int(os.environ.get("VALUEFLOW_SALES_ACTIVE_WEEKS", SalesConfig.active_weeks)))


# -- features ----------------------------------------------------------------------------------------
def build_features(wh: Warehouse, as_of: dt.date) -> list[str]:
    """Replace the as-of partition of the weekly panel with INSERT ... SELECT in the warehouse."""
    origin = forecast_origin(as_of)
    products = catalog.RAW_PRODUCTS if wh.table_exists(catalog.RAW_PRODUCTS) else None
    select = weekly_panel_sql(origin, products_table=products, line_filter=merchandise_predicate())
    columns = ", ".join(PANEL_COLUMNS)
    ddl = ", ".join(f"{c} {t}" for c, t in PANEL_COLUMNS.items())
    with wh.transaction():
        wh.execute(f"CREATE TABLE IF NOT EXISTS {PANEL} ({ddl}, as_of_date DATE)")
        wh.execute(f"DELETE FROM {PANEL} WHERE as_of_date = {sql_literal(as_of)}")
        wh.execute(
            f"INSERT INTO {PANEL} ({columns}, as_of_date) "
            f"SELECT {columns}, {sql_literal(as_of)} FROM ({select}) AS panel"
        )
    return [PANEL]


def read_matrix(wh: Warehouse, as_of: dt.date) -> PanelMatrix:
    """The as-of partition of the panel as dense matrices."""
    panel = wh.query(
        f"SELECT {', '.join(PANEL_COLUMNS)} FROM {PANEL} WHERE as_of_date = {sql_literal(as_of)} "
        "ORDER BY product_id, week_start"
    )
    if panel.empty:
        raise ValueError(f"{PANEL} has no rows for as_of_date {as_of}; run build_features first")
    return to_matrix(panel)


# -- the registered model ----------------------------------------------------------------------------
def model_input(features: pd.DataFrame) -> pd.DataFrame:
    """The pyfunc's input: FEATURE_COLUMNS with an unknown category as '' (a string column always)."""
    frame = features[FEATURE_COLUMNS].copy()
    frame["category"] = frame["category"].astype(object).where(frame["category"].notna(), "").astype(str)
    return frame.reset_index(drop=True)


def _pyfunc_class():
    import mlflow.pyfunc

    class SalesForecastPyfunc(mlflow.pyfunc.PythonModel):
        """Feature rows in; predicted_units, lower_80, upper_80 out."""

        def __init__(self, forecaster: SalesForecaster):
            self.forecaster = forecaster

        def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
            return self.forecaster.predict(model_input)

    return SalesForecastPyfunc


class _PyfuncForecaster:
    """Adapts a loaded pyfunc to the `predict(features)` that ml.families.sales_forecast.forecast expects."""

    def __init__(self, model):
        self.model = model

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(self.model.predict(model_input(features)))


def _load(ref: ModelRef) -> _PyfuncForecaster:
    import mlflow.pyfunc

    return _PyfuncForecaster(mlflow.pyfunc.load_model(ref.uri))


# -- train -------------------------------------------------------------------------------------------
def _metric_name(model: str, metric: str, horizon) -> str:
    prefix = "" if model == "lightgbm" else f"baseline_{model}_"
    suffix = "" if horizon == "all" else f"_h{horizon}"
    return f"{prefix}{metric}{suffix}"


def train(wh: Warehouse, as_of: dt.date) -> ModelRef:
    import mlflow
    from mlflow.models import infer_signature

    config = sales_config()
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
        example = model_input(result.predictions.head(5))
        signature = infer_signature(example, forecaster.predict(example))
        info = mlflow.pyfunc.log_model(
            name="model", python_model=_pyfunc_class()(forecaster), signature=signature, input_example=example
        )
        lgbm_wape = float(newest.loc[(newest["model"] == "lightgbm") & (newest["horizon"] == "all"), "wape"].iat[0])
        description = f"LightGBM {config.objective}, direct 4-week horizon, holdout WAPE {lgbm_wape:.3f} as of {as_of}"
        return registry.register_challenger(info.model_uri, NAME, run.info.run_id, description)


# -- evaluate ----------------------------------------------------------------------------------------
def _scores(actual, predicted, lower=None, upper=None) -> dict[str, float]:
    scores = forecast_metrics(actual, predicted)
    scores["abs_bias"] = abs(scores["bias"])
    if lower is not None:
        scores["interval_coverage_80"] = interval_coverage(actual, lower, upper)
    return scores


def evaluate(wh: Warehouse, as_of: dt.date, challenger: ModelRef, champion: ModelRef | None) -> Evaluation:
    config = sales_config()
    m = read_matrix(wh, as_of)
    origin = m.n_weeks - config.horizon
    if origin < config.min_history_weeks:
        raise ValueError(f"only {m.n_weeks} weeks of sales before {as_of}; too few for a 4-week holdout")
    model_mask, _ = eligible_products(m, origin, config.active_weeks, config.min_history_weeks)
    holdout = origin_features(m, origin, config.horizon, model_mask)
    if holdout.empty:
        raise ValueError(f"no active products with {config.min_history_weeks}+ weeks of history at the holdout origin")
    actual = holdout["target"].to_numpy()

    # The naive baseline of the policy is seasonal naive (the floor); the moving average rides
    # along in the promotion record so a reviewer sees when even it beats the model.
    floors = {
        "seasonal_naive": _scores(actual, sales_models.predict_seasonal_naive(holdout, config.ma_window)),
        "moving_average": _scores(actual, sales_models.predict_moving_average(holdout, config.ma_window)),
    }
    baseline = {**floors["seasonal_naive"], **{f"moving_average_{k}": v for k, v in floors["moving_average"].items()}}

    def model_scores(ref: ModelRef) -> dict[str, float]:
        out = _load(ref).predict(holdout)
        scores = _scores(actual, out["predicted_units"], out["lower_80"], out["upper_80"])
        # Bias beyond what the naive floor shows on the same weeks: a demand jump nobody could foresee
        # (the first holiday peak with last-year features) biases every forecast and is not the model's fault.
        scores["abs_bias_excess"] = scores["abs_bias"] - baseline["abs_bias"]
        return scores
    result = Evaluation(
        challenger=model_scores(challenger),
        baseline=baseline,
        holdout=(
            f"{len(holdout) // config.horizon} active products x {config.horizon} weeks from "
            f"{m.week_at(origin).date()} (the 4 weeks before {forecast_origin(as_of)}); baseline = seasonal naive"
        ),
    )
    if champion is not None:
        result.champion = model_scores(champion)
        result.pairwise = {"wape_gain_vs_champion": result.champion["wape"] - result.challenger["wape"]}
    return result


# -- score -------------------------------------------------------------------------------------------
def score(wh: Warehouse, as_of: dt.date, champion: ModelRef) -> int:
    """Forecast every active product (sold in the last `active_weeks`) for the 4 weeks from D's Monday."""
    config = sales_config()
    if not wh.table_exists(PANEL) or not wh.row_count(PANEL, f"as_of_date = {sql_literal(as_of)}"):
        build_features(wh, as_of)  # scoring an as-of date that was never trained on
    m = read_matrix(wh, as_of)
    forecaster = _load(champion)

    def chunks():
        for frame in iter_forecasts(m, forecaster, config, chunk_products=SCORE_CHUNK_PRODUCTS):
            frame = frame.copy()
            frame["week_start"] = pd.to_datetime(frame["week_start"]).dt.date
            yield frame

    return marts.write_mart(wh, MART, chunks(), as_of, champion)


FAMILY = ModelFamily(
    name=NAME,
    mart=MART,
    build_features=build_features,
    train=train,
    evaluate=evaluate,
    score=score,
    description="Weekly product demand, 4 weeks ahead (LightGBM Poisson, direct multi-horizon)",
)
