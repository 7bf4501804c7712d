"""The MLflow face of a `Recommender`: a pyfunc that maps customer_id -> top-N products with scores.

The fitted state travels as one pickle artifact; `unwrap_python_model().recommender` gives scoring
and evaluation the full object (batched scoring, active-product filter, refit recipe).
"""
from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import pandas as pd
from mlflow.models import infer_signature

from ml.families.recommender.recommender import Recommender

ARTIFACT_KEY = "recommender"


class RecommenderModel(mlflow.pyfunc.PythonModel):
    """Input: a frame with `customer_id`. Params: `k` (default: the config's top_n).
    Output: customer_id, rank, product_id, score, source (`model` or `fallback_popular`)."""

    def __init__(self) -> None:
        self.recommender: Recommender | None = None

    def load_context(self, context) -> None:
        self.recommender = Recommender.load(context.artifacts[ARTIFACT_KEY])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        if "customer_id" not in model_input.columns:
            raise ValueError("input needs a customer_id column")
        k = int((params or {}).get("k") or self.recommender.config.top_n)
        return self.recommender.recommend(model_input["customer_id"], k=k)


def pyfunc_arguments(recommender: Recommender, folder: str | Path) -> dict:
    """Keyword arguments for `mlflow.pyfunc.log_model`/`save_model`: the wrapper, the pickled
    recommender saved under `folder`, and a signature with a `k` parameter and an input example."""
    path = recommender.save(Path(folder) / "recommender.pkl")
    example = pd.DataFrame({"customer_id": [str(c) for c in recommender.train.users[:2]] or ["unknown"]})
    output = recommender.recommend(example["customer_id"])
    return {
        "python_model": RecommenderModel(),
        "artifacts": {ARTIFACT_KEY: str(path)},
        "signature": infer_signature(example, output, params={"k": int(recommender.config.top_n)}),
        "input_example": example,
    }
