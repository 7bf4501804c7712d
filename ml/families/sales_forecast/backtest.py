"""Rolling-origin backtest: every model is refit per origin and scored on the next HORIZON weeks.

Origins sit HORIZON weeks apart, counting back from the forecast origin, so their test windows are
disjoint and the newest one ends right before the live origin. The newest origin is the holdout for
champion/challenger; the LightGBM fitted for it (targets strictly before it) is the model that gets
registered, with its level scale and intervals calibrated on the older origins' out-of-sample errors
(`pred_lightgbm` is the scaled forecast; `pred_lightgbm_raw` the booster's own).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ml.families.sales_forecast import baselines, gbm
from ml.families.sales_forecast.config import SalesForecastConfig
from ml.families.sales_forecast.intervals import apply_intervals, fit_intervals, fit_level_scale
from ml.families.sales_forecast.lags import eligible_products, origin_features, training_frame
from ml.families.sales_forecast.metrics import interval_coverage, metrics_by_horizon
from ml.families.sales_forecast.panel import PanelMatrix

MODELS = ("lightgbm", "linear", "seasonal_naive", "moving_average")


def backtest_origins(n_weeks: int, n_origins: int, horizon: int, min_train_weeks: int = 8) -> list[int]:
    """Origin indices newest first: n_weeks - horizon, n_weeks - 2*horizon, ...

    Raises when the panel is too short to leave `min_train_weeks` of training weeks before the oldest.
    """
    if n_origins < 1 or horizon < 1:
        raise ValueError("need at least one origin and a horizon of at least one week")
    origins = [n_weeks - horizon * k for k in range(1, n_origins + 1)]
    if origins[-1] < min_train_weeks:
        raise ValueError(
            f"{n_weeks} weeks of history cannot hold {n_origins} backtest origins of {horizon} weeks "
            f"after {min_train_weeks} training weeks"
        )
    return origins


@dataclass
class BacktestResult:
    predictions: pd.DataFrame  # keys, target, pred_<model>, lower_80/upper_80 (where calibrated), origin
    metrics: pd.DataFrame  # origin_week, model, horizon ('all' too), wape, mae, rmse, bias, n
    origins: list[int]  # newest first
    holdout_model: object = None  # LightGBM fitted for the newest origin
    holdout_linear: object = None
    intervals: dict[int, tuple[float, float]] = field(default_factory=dict)  # from origins older than the newest
    level_scale: float = 1.0  # from origins older than the newest
    coverage: dict[str, float] = field(default_factory=dict)  # origin_week -> empirical 80% coverage

    def newest(self, model: str = "lightgbm") -> pd.DataFrame:
        """Per-horizon metrics of `model` on the newest origin (the champion/challenger holdout)."""
        newest_week = self.predictions.loc[self.predictions["origin"] == self.origins[0], "origin_week"].iat[0]
        chosen = self.metrics[(self.metrics["model"] == model) & (self.metrics["origin_week"] == newest_week)]
        return chosen.set_index("horizon")


def predict_all(frame: pd.DataFrame, lgbm, linear, config: SalesForecastConfig) -> pd.DataFrame:
    """Predictions of every model on one feature frame, as pred_<model> columns."""
    out = frame.copy()
    out["pred_lightgbm"] = gbm.predict_lightgbm(lgbm, frame)
    out["pred_linear"] = baselines.predict_linear(linear, frame)
    out["pred_seasonal_naive"] = baselines.predict_seasonal_naive(frame, config.ma_window)
    out["pred_moving_average"] = baselines.predict_moving_average(frame, config.ma_window)
    return out


def metric_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Long table: origin_week, model, horizon (1..H and 'all'), wape, mae, rmse, bias, n."""
    long = predictions.melt(
        id_vars=["origin_week", "horizon", "target"], value_vars=[f"pred_{n}" for n in MODELS],
        var_name="model", value_name="pred",
    )  # fmt: skip
    long["model"] = long["model"].str.removeprefix("pred_")
    tables = []
    for (origin_week, model), group in long.groupby(["origin_week", "model"]):
        table = metrics_by_horizon(group, "pred").rename_axis("horizon").reset_index()
        table.insert(0, "origin_week", origin_week)
        table.insert(1, "model", model)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def run_backtest(m: PanelMatrix, config: SalesForecastConfig = SalesForecastConfig()) -> BacktestResult:
    """Refit and score every model at each origin; calibrate scale and intervals on older origins."""
    origins = backtest_origins(m.n_weeks, config.n_origins, config.horizon, config.min_history_weeks)
    scored, fitted = [], {}
    for o in sorted(origins):  # oldest first, so each origin's intervals come from older errors
        train = training_frame(
            m, range(max(1, o - config.max_train_weeks), o), config.horizon,
            config.active_weeks, config.min_history_weeks, target_before=o,
        )  # fmt: skip
        model_mask, _ = eligible_products(m, o, config.active_weeks, config.min_history_weeks)
        test = origin_features(m, o, config.horizon, model_mask)
        if train.empty or test.empty:
            raise ValueError(f"backtest origin {m.week_at(o).date()} has no training or test rows")
        lgbm, linear = gbm.fit_lightgbm(train, config), baselines.fit_linear(train)
        fitted[o] = (lgbm, linear)
        predicted = predict_all(test, lgbm, linear, config)
        predicted["origin"] = o
        older = [f for f in scored if f["origin"].iat[0] < o]
        predicted["pred_lightgbm_raw"] = predicted["pred_lightgbm"]
        if older:
            history = pd.concat(older, ignore_index=True)
            scale = fit_level_scale(history["target"], history["pred_lightgbm_raw"])
            predicted["pred_lightgbm"] = scale * predicted["pred_lightgbm_raw"]
            quantiles = fit_intervals(
                history["target"], history["pred_lightgbm"], history["horizon"], config.interval_level
            )
            predicted["lower_80"], predicted["upper_80"] = apply_intervals(
                predicted["pred_lightgbm"], predicted["horizon"], quantiles
            )
        scored.append(predicted)
    predictions = pd.concat(scored, ignore_index=True)
    coverage = {
        str(week.date()): interval_coverage(g["target"], g["lower_80"], g["upper_80"])
        for week, g in predictions.dropna(subset=["lower_80"]).groupby("origin_week")
    } if "lower_80" in predictions else {}
    newest = origins[0]
    older = predictions[predictions["origin"] < newest]
    intervals = (
        fit_intervals(older["target"], older["pred_lightgbm"], older["horizon"], config.interval_level)
        if not older.empty else {}
    )
    level_scale = fit_level_scale(older["target"], older["pred_lightgbm_raw"]) if not older.empty else 1.0
    return BacktestResult(
        predictions=predictions,
        metrics=metric_table(predictions),
        origins=origins,
        holdout_model=fitted[newest][0],
        holdout_linear=fitted[newest][1],
        intervals=intervals,
        level_scale=level_scale,
        coverage=coverage,
    )
