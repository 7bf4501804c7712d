"""Evaluate: challenger, champion and ranking by recency re-scored on the fresh holdout.

The holdout is the customers active at D-30, labelled by orders in [D-30, D), inputs before D-30,
never fitted on; `features.read_holdout` reads the very hash sample `train` measured.
"""
from __future__ import annotations

import datetime as dt

import numpy as np

from ml.families.base import Evaluation, ModelRef
from ml.families.propensity import features
from ml.families.propensity.config import load
from ml.families.propensity.labels import plan_origins
from ml.families.propensity.metrics import score_probabilities, score_recency_baseline
from ml.warehouse import Warehouse


def holdout_probabilities(ref: ModelRef, model_input) -> np.ndarray:
    """p_purchase_30d of a registered version, through its pyfunc (the signature is enforced)."""
    from ml import pyfunc  # MLflow only when a model is scored, not when the family is imported

    return pyfunc.load_pyfunc(ref.uri).predict(model_input)["p_purchase_30d"].to_numpy()


def evaluate(wh: Warehouse, as_of: dt.date, challenger: ModelRef, champion: ModelRef | None) -> Evaluation:
    from scipy.stats import spearmanr

    config = load()
    holdout = features.read_holdout(wh, as_of, config)
    holdout_origin, _ = plan_origins(as_of, config)
    p_challenger = holdout_probabilities(challenger, holdout.inputs)
    result = Evaluation(
        challenger=score_probabilities(holdout.labels, p_challenger),
        baseline=score_recency_baseline(holdout.labels, holdout.inputs["recency_days"]),
        holdout=(f"{len(holdout)} customers active at {holdout_origin} (a hash sample of at most "
                 f"{config.holdout_max_customers:,}), labelled by orders in "
                 f"[{holdout_origin}, {as_of}); inputs before {holdout_origin}; no model fitted on it"),
    )
    if champion is not None:
        p_champion = holdout_probabilities(champion, holdout.inputs)
        result.champion = score_probabilities(holdout.labels, p_champion)
        result.pairwise = {"rank_correlation_vs_champion": float(spearmanr(p_challenger, p_champion).statistic)}
    return result
