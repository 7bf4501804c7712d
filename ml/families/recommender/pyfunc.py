"""The MLflow face of a `Recommender`: the shared `ml.pyfunc` wrapper mapping customer_id -> top-N
products with scores (param `k`, default the config's top_n).

The fitted state travels as one pickle artifact, read back by `load_recommender`; scoring and
evaluation get the full object (batched scoring, active-product filter, refit recipe) with
`ml.pyfunc.load_predictor`.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from ml.families.recommender.model import Recommender

LOADER = "ml.families.recommender.pyfunc:load_recommender"


def log_recommender(recommender: Recommender) -> str:
    """Log the recommender as the active run's model, with a signature and an input example of two
    known customers (stored as placeholders); return the logged model's URI."""
    from ml.pyfunc import log_pyfunc

    example = pd.DataFrame({"customer_id": [str(c) for c in recommender.train.users[:2]] or ["unknown"]})
    with tempfile.TemporaryDirectory() as folder:
        path = recommender.save(Path(folder) / "recommender.pkl")
        info = log_pyfunc(recommender, example, artifact=path, loader=LOADER,
                          params={"k": int(recommender.config.top_n)})
    return info.model_uri


def load_recommender(path: str) -> Recommender:
    """The loader MLflow calls with the artifact's local path."""
    return Recommender.load(path)
