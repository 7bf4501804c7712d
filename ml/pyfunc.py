"""One MLflow pyfunc for every family: a plain predictor behind `predict(frame) -> frame`.

A family's predictor is a small object of its own (unit-tested without MLflow). It travels either
pickled inside the wrapper, or, where pickling would drag in what should not be pickled (Keras
objects, big matrices), as a folder artifact that a named loader reads back: `loader` is
"module:function", called with the artifact's local path when MLflow loads the model.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

ARTIFACT = "predictor"

try:
    from mlflow.pyfunc import PythonModel
except ImportError:  # pragma: no cover - mlflow is pinned; this keeps the module importable without it
    PythonModel = object


class Predictor(Protocol):
    def predict(self, frame: pd.DataFrame, **params: Any) -> pd.DataFrame: ...


class PredictorPyfunc(PythonModel):
    """The wrapper MLflow stores. `unwrap_python_model().predictor` gives the plain predictor back."""

    def __init__(self, predictor: Predictor | None = None, loader: str | None = None):
        self.predictor = predictor
        self.loader = loader

    def __getstate__(self) -> dict:
        # With a loader the predictor lives in the artifact folder, not in the pickle.
        return {"predictor": None if self.loader else self.predictor, "loader": self.loader}

    def load_context(self, context) -> None:
        if self.loader:
            module, function = self.loader.split(":")
            self.predictor = getattr(importlib.import_module(module), function)(context.artifacts[ARTIFACT])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return self.predictor.predict(frame, **(params or {}))


def log_pyfunc(predictor: Predictor, example: pd.DataFrame, *, artifact: str | Path | None = None,
               loader: str | None = None, params: dict | None = None,
               pip_requirements: list[str] | None = None, name: str = "model"):
    """Log the predictor as the active run's model, with a signature inferred on `example`.

    `artifact` (a file or folder the predictor was saved to) and `loader` go together. Explicit
    `pip_requirements` spare MLflow inferring them in a subprocess that would import everything.
    """
    import mlflow
    from mlflow.models import infer_signature

    if (artifact is None) != (loader is None):
        raise ValueError("an artifact needs the loader that reads it back, and a loader needs its artifact")
    output = predictor.predict(example, **(params or {}))
    return mlflow.pyfunc.log_model(
        name=name, python_model=PredictorPyfunc(predictor, loader),
        artifacts={ARTIFACT: str(artifact)} if artifact is not None else None,
        signature=infer_signature(example, output, params=params), input_example=anonymised_example(example),
        pip_requirements=pip_requirements)


def anonymised_example(example: pd.DataFrame) -> pd.DataFrame:
    """The input example MLflow stores beside a model, with no customer's data in it: identifier
    columns (`*_id`) become placeholders and every number its column's median over the example,
    so the artifact shows the input's shape and typical values, not a person's. Types are kept, so
    the example still matches the signature inferred on the real rows."""
    out = example.copy()
    for column in out.columns:
        series = out[column]
        if pd.api.types.is_bool_dtype(series):
            continue
        if pd.api.types.is_numeric_dtype(series):
            median = series.median()
            if not pd.isna(median):
                out[column] = series.where(series.isna(), median).astype(series.dtype)
        elif str(column).endswith("_id"):
            out[column] = pd.Series([f"example-{i + 1}" for i in range(len(out))], index=out.index,
                                    dtype=series.dtype if series.dtype != object else object)
    return out


def load_predictor(model_uri: str) -> Predictor:
    """The plain predictor of a registered version (`models:/<family>/<version>`)."""
    return load_pyfunc(model_uri).unwrap_python_model().predictor


def load_pyfunc(model_uri: str):
    """The MLflow model itself, which enforces the signature on every `predict`.

    Downloaded once and checked against the digest recorded at registration before anything in it
    is unpickled (`ml.model_digest.ModelDigestMismatch` if a file changed since)."""
    import mlflow.pyfunc

    from ml.model_digest import verified_download

    return mlflow.pyfunc.load_model(str(verified_download(model_uri)))
