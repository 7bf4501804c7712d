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


def fit_lightgbm(frame: pd.DataFrame, config: SalesForecastConfig = SalesForecastConfig()):
    """LightGBM with a Poisson (or Tweedie) objective on FEATURE_COLUMNS -> `target`, offset by the level.

    The training categories are kept on the model (`sales_categories_`) so scoring encodes alike.
    """
    import lightgbm as lgb

    require_columns(frame, FEATURE_COLUMNS + ["target"], "feature frame", non_empty=True)
    if config.objective not in ("poisson", "tweedie"):
        raise ValueError(f"objective must be poisson or tweedie, not {config.objective!r}")
    extra = {"tweedie_variance_power": 1.2} if config.objective == "tweedie" else {}
    model = lgb.LGBMRegressor(
        objective=config.objective,
        num_threads=2,
        random_state=config.seed,
        deterministic=True,
        force_row_wise=True,
        verbose=-1,
        **config.lgbm_params,
        **extra,
    )
    categories = sorted({c for c in frame["category"] if c is not None and not pd.isna(c)})
    model.fit(lightgbm_design(frame, categories), training_target(frame), init_score=level_offset(frame))
    model.sales_categories_ = categories
    return model


def predict_lightgbm(model, frame: pd.DataFrame) -> np.ndarray:
    """exp(trees + level offset): both count objectives use a log link."""
    raw = model.predict(lightgbm_design(frame, model.sales_categories_), raw_score=True)
    return np.exp(raw + level_offset(frame))
