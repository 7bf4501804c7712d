"""The forecasting model: one pooled LightGBM with a count objective, offset by the product's level.

LightGBM is *direct multi-horizon*: one pooled model with `horizon` as a feature, trained on rows
whose features stop at the origin and whose target is 1..4 weeks later. Recursive forecasting would
feed predictions back as lags (errors compound over the horizon) and would need future prices and
buyer counts we do not know; four separate models would quadruple training time for little gain.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ml.families.sales_forecast.config import SalesForecastConfig
from ml.families.sales_forecast.lags import CATEGORICAL_FEATURES, FEATURE_COLUMNS
from ml.sql import require_columns


def training_target(frame: pd.DataFrame) -> np.ndarray:
    """Net units clipped at 0: count objectives need non-negative labels (a week of net returns is rare)."""
    return np.clip(frame["target"].to_numpy(dtype=float), 0.0, None)


def lightgbm_design(frame: pd.DataFrame, categories: list[str]) -> pd.DataFrame:
    """FEATURE_COLUMNS as floats, `category` as a pandas categorical over the training categories.

    Categories unseen in training (and unknown ones) become missing, which LightGBM routes like NA.
    """
    require_columns(frame, FEATURE_COLUMNS, "feature frame", non_empty=True)
    design = frame[FEATURE_COLUMNS].copy()
    for column in FEATURE_COLUMNS:
        if column not in CATEGORICAL_FEATURES:
            design[column] = design[column].astype(float)
    for column in CATEGORICAL_FEATURES:
        design[column] = pd.Categorical(design[column].astype(object), categories=categories)
    return design


# Units/week added to the 8-week mean before the log. It must be about one unit, not a token 0.1: with the
# Poisson log link the booster's Newton step is sum(y - mu) / sum(mu), so rows whose offset says ~0.1
# unit (intermittent products idle for 8 weeks, most of a real export) give near-zero hessians, and
# their rare spikes (a 7,000-unit wholesale order after weeks of nothing) get leaf values of +100 in
# log space. The trees then shift every other row down to compensate: on the real sample the
# model forecast ~3% of the units (WAPE 1.0, bias -0.93). Adding one unit (add-one smoothing of the
# rate) keeps every hessian near 1 and bounds how far one spike can pull a leaf.
LEVEL_FLOOR = 1.0


def level_offset(frame: pd.DataFrame) -> np.ndarray:
    """log of the product's recent level (8-week mean): the starting point the trees correct.

    With this offset the boosted trees learn multiplicative adjustments (season, horizon, price,
    trend) to where the product is now, instead of absolute volumes tied to the level of the training
    years — which kept a pooled model forecasting last year's level after a shop's growth flattened.
    """
    return np.log(np.clip(frame["roll_mean_8"].to_numpy(dtype=float), 0.0, None) + LEVEL_FLOOR)


OBJECTIVES = ("poisson", "tweedie", "l1")
# Log-link objectives: the trees correct the product's level (see level_offset). L1 is fitted on the
# units themselves: it estimates the median, which is what minimises WAPE (an absolute error), and on
# intermittent demand the median of most product-weeks is 0, which a mean (Poisson) never forecasts.
LOG_LINK = ("poisson", "tweedie")


def fit_lightgbm(frame: pd.DataFrame, config: SalesForecastConfig = SalesForecastConfig(), objective: str | None = None):
    """LightGBM with a Poisson, Tweedie or L1 objective on FEATURE_COLUMNS -> `target`.

    The training categories are kept on the model (`sales_categories_`) so scoring encodes alike, and
    the objective (`sales_objective_`) so prediction applies its link.
    """
    import lightgbm as lgb

    objective = objective or "poisson"
    require_columns(frame, FEATURE_COLUMNS + ["target"], "feature frame", non_empty=True)
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, not {objective!r}")
    extra = {"tweedie_variance_power": 1.2} if objective == "tweedie" else {}
    model = lgb.LGBMRegressor(
        objective=objective,
        num_threads=2,
        random_state=config.seed,
        deterministic=True,
        force_row_wise=True,
        verbose=-1,
        **config.lgbm_params,
        **extra,
    )
    categories = sorted({c for c in frame["category"] if c is not None and not pd.isna(c)})
    init = level_offset(frame) if objective in LOG_LINK else None
    model.fit(lightgbm_design(frame, categories), training_target(frame), init_score=init)
    model.sales_categories_ = categories
    model.sales_objective_ = objective
    return model


def volume_cap(frame: pd.DataFrame) -> np.ndarray:
    """The most a product can be forecast to sell in one week: all it sold in the last 52 weeks, + 1.

    On the Online Retail sample (as of 2011-09-01) the Poisson booster forecast 7e7 units a week for
    products selling 1.5 a week: in log space one leaf, fitted on a handful of rows with a tiny level
    and a wholesale order (7,128 units, cancelled weeks later: the cancellation's negative week is
    clipped out of a count target, the order stays), got a value near +17, and rows of small products
    that fell into it were forecast e^17 times their level (holdout WAPE 8,844). No week's demand of a
    product is more than its whole past year's, so the forecast is bounded by it.
    """
    require_columns(frame, ["roll_mean_52", "age_weeks"], "feature frame")
    weeks = np.clip(np.minimum(frame["age_weeks"].to_numpy(dtype=float), 52), 1, None)
    return np.clip(frame["roll_mean_52"].to_numpy(dtype=float) * weeks, 0.0, None) + 1.0


def predict_lightgbm(model, frame: pd.DataFrame) -> np.ndarray:
    """exp(trees + level offset) for the log-link objectives, the trees' value for L1; within volume_cap."""
    raw = model.predict(lightgbm_design(frame, model.sales_categories_), raw_score=True)
    if getattr(model, "sales_objective_", "poisson") in LOG_LINK:
        raw = np.exp(np.clip(raw + level_offset(frame), None, 50.0))
    return np.clip(raw, 0.0, volume_cap(frame))
