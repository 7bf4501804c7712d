"""Evaluate: challenger, champion and the baselines re-scored on the fresh holdout.

The holdout is the customers active at D-30, labelled by orders in [D-30, D), inputs before D-30,
never fitted on; `features.read_holdout` reads the very hash sample `train` measured. The baselines
are the ones `train` calibrated beside the challenger (recency, frequency, BG/NBD); the challenger is
judged against the best of them by ROC AUC, and `register_baseline` registers that one to serve when
nothing learnt beats it.
"""
from __future__ import annotations

import datetime as dt

import numpy as np

from ml.families.base import Evaluation, ModelRef
from ml.families.propensity import features
from ml.families.propensity.baselines import BASELINE_KINDS
from ml.families.propensity.config import NAME, load
from ml.families.propensity.labels import plan_origins
from ml.families.propensity.metrics import score_probabilities, score_recency_baseline
from ml.warehouse import Warehouse


def holdout_probabilities(ref: ModelRef, model_input) -> np.ndarray:
    """p_purchase_30d of a registered version, through its pyfunc (the signature is enforced)."""
    from ml import pyfunc  # MLflow only when a model is scored, not when the family is imported

    return pyfunc.load_pyfunc(ref.uri).predict(model_input)["p_purchase_30d"].to_numpy()


def baseline_runs(challenger: ModelRef) -> dict[str, str]:
    """{baseline kind: run id} of the baselines trained beside `challenger` (its parent run's params)."""
    from ml import registry

    params = registry.parent_run_params(challenger)
    return {kind: params[f"baseline_{kind}_run_id"] for kind in BASELINE_KINDS if f"baseline_{kind}_run_id" in params}


def best_baseline(labels, model_input, runs: dict[str, str]) -> tuple[str, dict[str, float], dict]:
    """(name, holdout metrics) of the baseline with the highest holdout ROC AUC, and every baseline's AUC.
    Without logged baselines (a version trained before they existed): recency, computed directly."""
    from ml import pyfunc

    scored = {}
    for kind, run_id in runs.items():
        p = pyfunc.load_pyfunc(f"runs:/{run_id}/model").predict(model_input)["p_purchase_30d"].to_numpy()
        scored[kind] = score_probabilities(labels, p)
    if not scored:
        return "recency", score_recency_baseline(labels, model_input["recency_days"]), {}
    name = max(scored, key=lambda k: np.nan_to_num(scored[k]["roc_auc"], nan=-1.0))
    return name, scored[name], {k: v["roc_auc"] for k, v in scored.items()}


def evaluate(wh: Warehouse, as_of: dt.date, challenger: ModelRef, champion: ModelRef | None) -> Evaluation:
    from scipy.stats import spearmanr

    config = load()
    holdout = features.read_holdout(wh, as_of, config)
    holdout_origin, _ = plan_origins(as_of, config)
    p_challenger = holdout_probabilities(challenger, holdout.inputs)
    name, baseline, aucs = best_baseline(holdout.labels, holdout.inputs, baseline_runs(challenger))
    result = Evaluation(
        challenger=score_probabilities(holdout.labels, p_challenger),
        baseline=baseline, baseline_name=name,
        holdout=(f"{len(holdout)} customers active at {holdout_origin} (a hash sample of at most "
                 f"{config.holdout_max_customers:,}), labelled by orders in "
                 f"[{holdout_origin}, {as_of}); inputs before {holdout_origin}; no model fitted on it; "
                 f"best baseline {name}" + (" (ROC AUC " + ", ".join(f"{k} {v:.4f}" for k, v in aucs.items()) + ")"
                                            if aucs else "")),
    )
    if champion is not None:
        p_champion = holdout_probabilities(champion, holdout.inputs)
        result.champion = score_probabilities(holdout.labels, p_champion)
        result.pairwise = {"rank_correlation_vs_champion": float(spearmanr(p_challenger, p_champion).statistic)}
    return result


def register_baseline(wh: Warehouse, as_of: dt.date, name: str) -> ModelRef:
    """Register the baseline `name` that `train` calibrated beside the current challenger."""
    from ml import registry

    challenger = registry.get_alias(NAME, registry.CHALLENGER)
    runs = baseline_runs(challenger) if challenger else {}
    if name not in runs:
        raise LookupError(f"no {name!r} baseline was trained beside the {NAME} challenger; baselines: {sorted(runs)}")
    return registry.register_baseline(f"runs:/{runs[name]}/model", NAME, runs[name], name,
                                      f"baseline {name} as of {as_of}: served because no learned model beat it")
