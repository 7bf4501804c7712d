"""The registered forecaster as an MLflow pyfunc: feature rows in; predicted_units, lower_80, upper_80 out.

The `SalesForecaster` travels pickled inside the shared `ml.pyfunc.PredictorPyfunc`. Loaded back, it
is wrapped in `PyfuncForecaster`, which gives the signature what it expects (a string category).
"""
from __future__ import annotations

import pandas as pd

from ml.families.sales_forecast.lags import FEATURE_COLUMNS
from ml.families.sales_forecast.model import SalesForecaster
from ml.pyfunc import load_pyfunc, log_pyfunc


def model_input(features: pd.DataFrame) -> pd.DataFrame:
    """The pyfunc's input: FEATURE_COLUMNS with an unknown category as '' (a string column always)."""
    frame = features[FEATURE_COLUMNS].copy()
    frame["category"] = frame["category"].astype(object).where(frame["category"].notna(), "").astype(str)
    return frame.reset_index(drop=True)


class PyfuncForecaster:
    """Adapts a loaded pyfunc to the `predict(features)` that `forecast.iter_forecasts` expects."""

    def __init__(self, model):
        self.model = model

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(self.model.predict(model_input(features)))


def log_forecaster(forecaster: SalesForecaster, features: pd.DataFrame):
    """Log the forecaster as the active run's model, its signature inferred on a few feature rows."""
    return log_pyfunc(forecaster, model_input(features))


def load_forecaster(model_uri: str) -> PyfuncForecaster:
    return PyfuncForecaster(load_pyfunc(model_uri))
