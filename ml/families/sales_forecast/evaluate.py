"""Evaluate: challenger, champion and every baseline on the 4 weeks before D's Monday.

The holdout holds what the mart for that origin would: every active product, young ones included, x 4
weeks of net units (returns subtract), as the quality report measures a mart. None of the models has
seen those weeks: the registered LightGBMs were fitted on targets strictly before them, the per-class
choice was made on older weeks, the champion trained on even less. `baseline` is the best of
`baselines.BASELINES` by WAPE on the same rows, named in `baseline_name`.
"""
from __future__ import annotations

import datetime as dt
import math

from ml.families.base import Evaluation, ModelRef
from ml.families.sales_forecast import config as family_config
from ml.families.sales_forecast.backtest import backtest_origins, origin_rows
from ml.families.sales_forecast.baselines import BASELINES, predict_baseline
from ml.families.sales_forecast.calendar import forecast_origin
from ml.families.sales_forecast.features import read_matrix
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


def best_baseline(scores: dict[str, dict[str, float]]) -> str:
    """The baseline with the lowest WAPE (NaN counts as worst; ties go to the first in BASELINES)."""
    return min(scores, key=lambda name: (math.inf if math.isnan(scores[name]["wape"]) else scores[name]["wape"]))


def evaluate(wh: Warehouse, as_of: dt.date, challenger: ModelRef, champion: ModelRef | None) -> Evaluation:
    config = family_config.load()
    m = read_matrix(wh, as_of)
    origin = m.n_weeks - config.horizon
    if origin < 1:
        raise ValueError(f"only {m.n_weeks} weeks of sales before {as_of}: no week before a 4-week holdout")
    holdout = origin_rows(m, origin, config)
    if holdout.empty:
        raise ValueError(f"no active product at the holdout origin {m.week_at(origin).date()}")
    actual = holdout["target"].to_numpy()
    scores = {name: holdout_scores(actual, predict_baseline(name, holdout)) for name in BASELINES}
    best = best_baseline(scores)
    baseline = {**scores[best], **{f"{name}_wape": s["wape"] for name, s in scores.items()}}

    def model_scores(ref: ModelRef) -> dict[str, float]:
        out = load_forecaster(ref.uri).predict(holdout)
        result = holdout_scores(actual, out["predicted_units"], out["lower_80"], out["upper_80"])
        # Bias beyond the best baseline's on the same weeks (the forecast that serves if this one is
        # refused): a demand jump nobody could foresee biases every forecast and is not the model's fault.
        result["abs_bias_excess"] = result["abs_bias"] - baseline["abs_bias"]
        return result

    n_origins = len(backtest_origins(m.n_weeks, config.n_origins, config.horizon, config.min_origin_weeks))
    history = (f"; the history holds {n_origins} backtest origin(s) of {config.n_origins}"
               if n_origins < config.n_origins else "")
    result = Evaluation(
        challenger=model_scores(challenger),
        baseline=baseline,
        baseline_name=best,
        holdout=(
            f"{len(holdout) // config.horizon} active products x {config.horizon} weeks from "
            f"{m.week_at(origin).date()} (the 4 weeks before {forecast_origin(as_of)}); baseline = the best by WAPE "
            f"of {', '.join(BASELINES)}: {best}{history}"
        ),
    )
    if champion is not None:
        result.champion = model_scores(champion)
        result.pairwise = {"wape_gain_vs_champion": result.champion["wape"] - result.challenger["wape"]}
    return result
