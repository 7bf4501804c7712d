"""The live forecast: the registered forecaster for every active product, in chunks."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from ml.families.sales_forecast.config import SalesForecastConfig
from ml.families.sales_forecast.lags import FEATURE_COLUMNS, eligible_products, origin_features
from ml.families.sales_forecast.panel import PanelMatrix

FORECAST_COLUMNS = ["product_id", "week_start", "horizon", "predicted_units", "lower_80", "upper_80", "forecast_basis"]


def forecast_products(
    m: PanelMatrix, forecaster, config: SalesForecastConfig = SalesForecastConfig(), t: int | None = None
) -> pd.DataFrame:
    """Forecast rows for every active product at origin t (default: the week after the panel).

    `forecaster` is anything with `predict(features) -> frame` (a SalesForecaster or an MLflow pyfunc).
    """
    frames = list(iter_forecasts(m, forecaster, config, t))
    if not frames:
        return pd.DataFrame(columns=FORECAST_COLUMNS)
    return pd.concat(frames, ignore_index=True).sort_values(["product_id", "horizon"], ignore_index=True)


def iter_forecasts(
    m: PanelMatrix, forecaster, config: SalesForecastConfig = SalesForecastConfig(), t: int | None = None,
    chunk_products: int | None = None,
) -> Iterator[pd.DataFrame]:
    """Forecast rows in chunks of at most `chunk_products` (default: the config's) products each.

    Every active product, young ones included, goes to the forecaster: it serves each demand class
    with its own method, and `forecast_basis` says which (e.g. lightgbm_l1, zero, last_4_weeks_mean).
    """
    t = m.n_weeks if t is None else t
    chunk_products = config.score_chunk_products if chunk_products is None else chunk_products
    model_mask, young_mask = eligible_products(m, t, config.active_weeks, config.min_history_weeks)
    active = np.flatnonzero(model_mask | young_mask)
    for start in range(0, len(active), chunk_products):
        features = origin_features(m, t, config.horizon, active[start : start + chunk_products])
        predicted = pd.DataFrame(forecaster.predict(features[FEATURE_COLUMNS]))
        out = pd.DataFrame(
            {
                "product_id": features["product_id"].to_numpy(),
                "week_start": features["target_week"].to_numpy(),
                "horizon": features["horizon"].to_numpy().astype("int64"),
                "predicted_units": predicted["predicted_units"].to_numpy(dtype=float),
                "lower_80": predicted["lower_80"].to_numpy(dtype=float),
                "upper_80": predicted["upper_80"].to_numpy(dtype=float),
                "forecast_basis": predicted["method"].astype(str).to_numpy(),
            }
        )
        yield out.sort_values(["product_id", "horizon"], ignore_index=True)
