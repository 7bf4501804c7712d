"""The propensity model as an MLflow pyfunc: it takes at scoring the same wide per-customer frame it
was trained on (`inputs.assemble_model_input`) and returns calibrated P(order in 30 days) and churn risk.

The predictor is the fitted `PropensityModel` itself (`PropensityModel.predict`). It travels as a plain
folder artifact (meta.json + the estimator's native file) that `model.load_propensity_model` reads
back, so loading never unpickles Keras objects and every kind shares one loader. Read it back with
`ml.pyfunc.load_pyfunc` (signature enforced) or `ml.pyfunc.load_predictor` (the plain model).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from ml import pyfunc
from ml.families.propensity.model import PropensityModel, save_propensity_model

ARTIFACT = "propensity_model"  # the folder's name inside the logged model's artifacts
LOADER = "ml.families.propensity.model:load_propensity_model"
# Explicit requirements: MLflow's inference would load the model in a subprocess (slow, and TF twice).
PIP_REQUIREMENTS = ["mlflow", "pandas", "numpy", "scikit-learn", "lightgbm", "tensorflow-cpu", "keras"]


def log_propensity_pyfunc(model: PropensityModel, example: pd.DataFrame, name: str = "model"):
    """Log the pyfunc (with signature and input example) into the active run; returns ModelInfo."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_propensity_model(model, Path(tmp) / ARTIFACT)
        return pyfunc.log_pyfunc(model, example, artifact=folder, loader=LOADER,
                                 pip_requirements=PIP_REQUIREMENTS, name=name)

