"""The registered customer_value model in MLflow: a pickled `ValuePredictor` in the shared `PredictorPyfunc`.

Evaluation and scoring load it back as a pyfunc (`load_model`), which enforces the signature logged
here on every `predict`.
"""
from __future__ import annotations

import pandas as pd

from ml import pyfunc
from ml.families.base import ModelRef
from ml.families.customer_value.features import MODEL_INPUT_COLUMNS
from ml.families.customer_value.model import ValuePredictor


def input_columns(frame: pd.DataFrame) -> list[str]:
    """The model inputs `frame` carries (frames built in pandas from transactions lack the line features)."""
    return [c for c in MODEL_INPUT_COLUMNS if c in frame.columns]


def log_value_model(predictor: ValuePredictor, fit_rows: pd.DataFrame):
    """Log `predictor` as the active run's model, its signature inferred on five of the fitting rows."""
    return pyfunc.log_pyfunc(predictor, fit_rows[input_columns(fit_rows)].head(5))


def load_model(ref: ModelRef):
    return pyfunc.load_pyfunc(ref.uri)


def predict_frame(model, features: pd.DataFrame) -> pd.DataFrame:
    """The model's predictions for `features`, indexed like it."""
    schema = model.metadata.get_input_schema() if hasattr(model, "metadata") else None
    columns = schema.input_names() if schema is not None else input_columns(features)
    # pyfunc enforces the signature and may drop the index; rows keep their order.
    return pd.DataFrame(model.predict(features[list(columns)])).set_axis(features.index)
