"""The propensity model as an MLflow pyfunc: it takes at scoring the same wide per-customer frame it
was trained on (`inputs.assemble_model_input`) and returns calibrated P(order in 30 days) and churn risk.

The fitted `PropensityModel` travels as a plain folder artifact (meta.json + the estimator's native
file), so loading never unpickles Keras objects and both model kinds share one loader.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from ml.families.propensity.model import PropensityModel, load_propensity_model, save_propensity_model

ARTIFACT = "propensity_model"
# Explicit requirements: MLflow's inference would load the model in a subprocess (slow, and TF twice).
PIP_REQUIREMENTS = ["mlflow", "pandas", "numpy", "scikit-learn", "lightgbm", "tensorflow-cpu", "keras"]

try:
    from mlflow.pyfunc import PythonModel
except ImportError:  # pragma: no cover - mlflow is pinned, this only keeps `import` cheap to reason about
    PythonModel = object


class PropensityPyfunc(PythonModel):
    def load_context(self, context):
        self.model = load_propensity_model(context.artifacts[ARTIFACT])

    def predict(self, context, model_input, params=None):
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        p = self.model.predict_proba(frame)
        return pd.DataFrame({"p_purchase_30d": p, "churn_risk": 1.0 - p})


def _signature(model: PropensityModel, example: pd.DataFrame):
    from mlflow.models import infer_signature

    output = pd.DataFrame({"p_purchase_30d": model.predict_proba(example)})
    output["churn_risk"] = 1.0 - output["p_purchase_30d"]
    return infer_signature(example, output)


def log_propensity_pyfunc(model: PropensityModel, example: pd.DataFrame, name: str = "model"):
    """Log the pyfunc (with signature and input example) into the active run; returns ModelInfo."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        folder = save_propensity_model(model, Path(tmp) / ARTIFACT)
        return mlflow.pyfunc.log_model(name=name, python_model=PropensityPyfunc(), artifacts={ARTIFACT: str(folder)},
                                       signature=_signature(model, example), input_example=example,
                                       pip_requirements=PIP_REQUIREMENTS)


def save_propensity_pyfunc(model: PropensityModel, path: str | Path, example: pd.DataFrame) -> Path:
    """Same as `log_propensity_pyfunc` but to a local folder (tests, offline use)."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        folder = save_propensity_model(model, Path(tmp) / ARTIFACT)
        mlflow.pyfunc.save_model(str(path), python_model=PropensityPyfunc(), artifacts={ARTIFACT: str(folder)},
                                 signature=_signature(model, example), input_example=example,
                                 pip_requirements=PIP_REQUIREMENTS)
    return Path(path)
