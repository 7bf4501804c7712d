"""Evaluate: challenger, champion and the naive floors on the newest backtest origin's 4 weeks.

None of them has seen those weeks: the registered LightGBM was fitted on targets strictly before
them, the champion on even less.
"""
from __future__ import annotations

import datetime as dt

from ml.families.base import Evaluation, ModelRef
from ml.families.sales_forecast import baselines
from ml.families.sales_forecast import config as family_config
from ml.families.sales_forecast.calendar import forecast_origin
from ml.families.sales_forecast.features import read_matrix
from ml.families.sales_forecast.lags import eligible_products, origin_features
from ml.families.sales_forecast.metrics import forecast_metrics, interval_coverage
from ml.families.sales_forecast.pyfunc import load_forecaster
from ml.warehouse import Warehouse


def holdout_scores(actual, predicted, lower=None, upper=None) -> dict[str, float]:
    """forecast_metrics plus |bias|, and the interval coverage where bounds are given."""
    scores = forecast_metrics(actual, predicted)
    scores["abs_bias"] = abs(scores["bias"])
    if lower is not None:
        scores["interval_coverage_80"] = interval_coverage(actual, lower, upper)
    return scores


def evaluate(wh: Warehouse, as_of: dt.date, challenger: ModelRef, champion: ModelRef | None) -> Evaluation:
    config = family_config.load()
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
        "seasonal_naive": holdout_scores(actual, baselines.predict_seasonal_naive(holdout, config.ma_window)),
        "moving_average": holdout_scores(actual, baselines.predict_moving_average(holdout, config.ma_window)),
    }
    baseline = {**floors["seasonal_naive"], **{f"moving_average_{k}": v for k, v in floors["moving_average"].items()}}

    def model_scores(ref: ModelRef) -> dict[str, float]:
        out = load_forecaster(ref.uri).predict(holdout)
        scores = holdout_scores(actual, out["predicted_units"], out["lower_80"], out["upper_80"])
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
