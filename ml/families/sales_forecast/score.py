"""Score: 4 weekly forecasts from D's Monday for every active product, into marts.product_sales_forecast."""
from __future__ import annotations

import datetime as dt

import pandas as pd

from ml import catalog, marts
from ml.families.base import ModelRef
from ml.families.sales_forecast import config as family_config
from ml.families.sales_forecast.features import build_features, has_partition, read_matrix
from ml.families.sales_forecast.forecast import iter_forecasts
from ml.families.sales_forecast.pyfunc import load_forecaster
from ml.warehouse import Warehouse


def score(wh: Warehouse, as_of: dt.date, champion: ModelRef) -> int:
    """Forecast every active product (sold in the last `active_weeks`) for the 4 weeks from D's Monday."""
    config = family_config.load()
    if not has_partition(wh, as_of):
        build_features(wh, as_of)  # scoring an as-of date that was never trained on
    m = read_matrix(wh, as_of)
    forecaster = load_forecaster(champion.uri)

    def chunks():
        for frame in iter_forecasts(m, forecaster, config):
            frame = frame.copy()
            frame["week_start"] = pd.to_datetime(frame["week_start"]).dt.date
            yield frame

    return marts.write_mart(wh, catalog.PRODUCT_SALES_FORECAST, chunks(), as_of, champion)
