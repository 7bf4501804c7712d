"""Rolling-origin backtest: every candidate is refit per origin and scored on the next HORIZON weeks.

Origins sit HORIZON weeks apart, counting back from the forecast origin, so their test windows are
disjoint and the newest one ends right before the live origin; a short history gets as many as it
holds. The newest origin is the holdout for champion/challenger: nothing is chosen on it. Per demand
class (`model.demand_class`) the method with the least absolute error on the OLDER origins serves
(summing each class's absolute errors, the choice minimises the overall WAPE), and its 80% intervals
are calibrated on the same older errors. The LightGBMs fitted for the newest origin (targets strictly
before it) are the ones that get registered, so `evaluate` scores them on weeks they never saw.
Every origin scores the products the mart would hold: every active one, young ones included.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml.families.sales_forecast import gbm
from ml.families.sales_forecast.baselines import BASELINES, predict_baseline
from ml.families.sales_forecast.config import SalesForecastConfig
from ml.families.sales_forecast.intervals import fit_intervals
from ml.families.sales_forecast.lags import eligible_products, origin_features, training_frame
from ml.families.sales_forecast.metrics import metrics_by_horizon
from ml.families.sales_forecast.model import CLASSES, LIGHTGBM, SalesForecaster, demand_class
from ml.families.sales_forecast.panel import PanelMatrix

MODELS = (*LIGHTGBM, *BASELINES)
MIN_TRAIN_ROWS = 200  # fewer (origin, horizon) rows than this fit no LightGBM worth backtesting
MIN_CLASS_ROWS = 20  # a class seen on fewer backtest rows takes the overall winner and pooled intervals


def backtest_origins(n_weeks: int, n_origins: int, horizon: int, min_train_weeks: int = 4) -> list[int]:
    """Up to `n_origins` origin indices, newest first (n_weeks - horizon, n_weeks - 2*horizon, ...),
    each leaving at least `min_train_weeks` weeks before it; [] when not even the newest does."""
    if n_origins < 1 or horizon < 1:
        raise ValueError("need at least one origin and a horizon of at least one week")
    return [o for o in (n_weeks - horizon * k for k in range(1, n_origins + 1)) if o >= min_train_weeks]


@dataclass
class BacktestResult:
    predictions: pd.DataFrame  # keys, target, class, pred_<candidate> (NaN where not fitted), origin
    metrics: pd.DataFrame  # origin_week, model, horizon ('all' too), wape, mae, rmse, bias, n
    origins: list[int]  # newest first
    forecaster: SalesForecaster  # models fitted for the newest origin, choice from the older ones
    selection: pd.DataFrame = field(default_factory=pd.DataFrame)  # class x candidate: abs error, rows

    def newest(self, model: str) -> pd.DataFrame:
        """Per-horizon metrics of `model` on the newest origin (the champion/challenger holdout)."""
        newest_week = self.predictions.loc[self.predictions["origin"] == self.origins[0], "origin_week"].iat[0]
        chosen = self.metrics[(self.metrics["model"] == model) & (self.metrics["origin_week"] == newest_week)]
        return chosen.set_index("horizon")


def origin_rows(m: PanelMatrix, t: int, config: SalesForecastConfig) -> pd.DataFrame:
    """Feature rows of every product active at origin t (what the mart for that origin would hold)."""
    model_mask, young_mask = eligible_products(m, t, config.active_weeks, config.min_history_weeks)
    frame = origin_features(m, t, min(config.horizon, max(m.n_weeks - t, 1)), model_mask | young_mask)
    frame["demand_class"] = demand_class(frame, config.min_history_weeks)
    return frame


def fit_models(m: PanelMatrix, t: int, config: SalesForecastConfig) -> dict[str, object]:
    """The LightGBMs for origin t, trained on targets strictly before t ({} where too few rows)."""
    train = training_frame(
        m, range(max(1, t - config.max_train_weeks), t), config.horizon,
        config.active_weeks, config.min_history_weeks, target_before=t,
    )  # fmt: skip
    if len(train) < MIN_TRAIN_ROWS:
        return {}
    return {name: gbm.fit_lightgbm(train, config, objective=name.removeprefix("lightgbm_")) for name in LIGHTGBM}


def predict_candidates(frame: pd.DataFrame, models: dict) -> pd.DataFrame:
    """pred_<candidate> for every candidate; a LightGBM is NaN where it was not fitted or the product is young."""
    out = frame.copy()
    for name in BASELINES:
        out[f"pred_{name}"] = predict_baseline(name, frame)
    established = (frame["demand_class"] != "young").to_numpy()
    for name in LIGHTGBM:
        values = np.full(len(frame), np.nan)
        if name in models and established.any():
            values[established] = gbm.predict_lightgbm(models[name], frame.loc[established])
        out[f"pred_{name}"] = values
    return out


def choose(predictions: pd.DataFrame) -> tuple[dict[str, str], pd.DataFrame]:
    """Per class the candidate with the least absolute error over these rows (a candidate must cover all
    of them); a class with fewer than MIN_CLASS_ROWS rows takes the best candidate overall for it."""
    table = []
    for c, group in predictions.groupby("demand_class"):
        for name in MODELS:
            pred = group[f"pred_{name}"]
            if pred.notna().all():
                table.append({"demand_class": c, "model": name, "abs_error": float((pred - group["target"]).abs().sum()),
                              "rows": len(group)})
    table = pd.DataFrame(table, columns=["demand_class", "model", "abs_error", "rows"])
    choice = {}
    for c in CLASSES:
        scores = table[table["demand_class"] == c]
        if scores.empty or scores["rows"].iat[0] < MIN_CLASS_ROWS:
            continue
        choice[c] = scores.sort_values(["abs_error", "model"])["model"].iat[0]
    return choice, table


def default_choice(models: dict, fitted_choice: dict[str, str]) -> dict[str, str]:
    """Every class gets a method: the backtest's choice, else (a class the older origins never showed,
    or no older origin at all) the L1 LightGBM (WAPE's own loss) where fitted, the 4-week mean if not."""
    fallback = "lightgbm_l1" if "lightgbm_l1" in models else "last_4_weeks_mean"
    return {c: fitted_choice.get(c, "last_4_weeks_mean" if c == "young" else fallback) for c in CLASSES}


def calibrate(predictions: pd.DataFrame, choice: dict[str, str], level: float) -> dict[str, dict]:
    """Per class, the horizon quantiles of the chosen method's scaled residuals on these rows."""
    chosen = _chosen_column(predictions, choice)
    chosen = chosen.dropna(subset=["pred", "target"])
    if chosen.empty:
        return {}
    pooled = fit_intervals(chosen["target"], chosen["pred"], chosen["horizon"], level)
    out = {}
    for c in CLASSES:
        group = chosen[chosen["demand_class"] == c]
        out[c] = fit_intervals(group["target"], group["pred"], group["horizon"], level) \
            if len(group) >= MIN_CLASS_ROWS else pooled
    return out


def _chosen_column(predictions: pd.DataFrame, choice: dict[str, str]) -> pd.DataFrame:
    out = predictions.copy()
    out["pred"] = np.nan
    for c, method in choice.items():
        rows = out["demand_class"] == c
        out.loc[rows, "pred"] = out.loc[rows, f"pred_{method}"]
    return out


def metric_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Long table: origin_week, model, horizon (1..H and 'all'), wape, mae, rmse, bias, n (rows it covers)."""
    tables = []
    names = [c.removeprefix("pred_") for c in predictions if c.startswith("pred_")]
    for origin_week, group in predictions.groupby("origin_week"):
        for name in names:
            scored = group.dropna(subset=[f"pred_{name}"])
            if scored.empty:
                continue
            table = metrics_by_horizon(scored, f"pred_{name}").rename_axis("horizon").reset_index()
            table.insert(0, "origin_week", origin_week)
            table.insert(1, "model", name)
            tables.append(table)
    return pd.concat(tables, ignore_index=True)


def run_backtest(m: PanelMatrix, config: SalesForecastConfig = SalesForecastConfig()) -> BacktestResult:
    """Refit and score every candidate at each origin; choose per class on the older origins."""
    origins = backtest_origins(m.n_weeks, config.n_origins, config.horizon, config.min_origin_weeks)
    if not origins:
        raise ValueError(f"{m.n_weeks} weeks of history hold no backtest origin of {config.horizon} weeks "
                         f"after {config.min_origin_weeks} weeks")
    scored, models = [], {}
    for o in sorted(origins):
        frame = origin_rows(m, o, config)
        if frame.empty:
            continue
        models = fit_models(m, o, config)  # the last one fitted is the newest origin's
        predicted = predict_candidates(frame, models)
        predicted["origin"] = o
        scored.append(predicted)
    if not scored or scored[-1]["origin"].iat[0] != origins[0]:
        raise ValueError(f"no active product at the holdout origin {m.week_at(origins[0]).date()}")
    predictions = pd.concat(scored, ignore_index=True)
    older = predictions[predictions["origin"] < origins[0]]
    fitted_choice, selection = choose(older) if not older.empty else ({}, pd.DataFrame())
    choice = default_choice(models, fitted_choice)
    intervals = calibrate(older, choice, config.interval_level) if not older.empty else {}
    forecaster = SalesForecaster(choice, models, intervals, config.interval_level, config.min_history_weeks)
    newest = predictions["origin"] == origins[0]
    predictions.loc[newest, "pred_selected"] = forecaster.predict(predictions.loc[newest])["predicted_units"].to_numpy()
    return BacktestResult(predictions, metric_table(predictions), origins, forecaster, selection)
