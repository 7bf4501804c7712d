"""Train: the three kinds of `model.KINDS` compete on the same examples; one is registered as challenger.

A regularised logistic regression on the static (aggregate) features, LightGBM on the same features,
and a Keras Conv1D network over each customer's weekly activity sequence fused with them; all three
also take BG/NBD's P(alive) and expected orders, fitted on the fitting customers (stacking). Each is
fitted on the older training origins, early-stopped and calibrated on the newest (validation) origin,
and logged as a nested run of one parent run with its validation and holdout metrics and its pyfunc.
The registered version is the kind `selection.choose` picks on validation; the holdout only judges.
Champion and challenger may differ in kind.

The baselines (`baselines.BASELINE_KINDS`: recency, frequency, BG/NBD) are calibrated on the same
validation split and logged as nested runs too, so `evaluate` can judge the challenger against the
best of them and `register_baseline` can serve that one when nothing learnt beats it.
"""
from __future__ import annotations

import datetime as dt
import math
import tempfile
from pathlib import Path

import numpy as np

from ml import registry, tracking
from ml.families.base import ModelRef
from ml.families.propensity import features
from ml.families.propensity.baselines import BASELINE_KINDS, fit_bgnbd_inputs
from ml.families.propensity.config import NAME, PropensityConfig, load
from ml.families.propensity.dataset import Examples, split_by_origin
from ml.families.propensity.inputs import STATIC_FEATURES
from ml.families.propensity.labels import HORIZON_DAYS, plan_origins
from ml.families.propensity.metrics import plot_calibration, plot_roc, score_probabilities
from ml.families.propensity.model import KINDS, train_propensity_model
from ml.families.propensity.selection import SELECTION_METRIC, choose, selection_tolerance
from ml.warehouse import Warehouse

_SPLITS = ("validation", "holdout")


def _defined(metrics: dict[str, float], prefix: str = "") -> dict[str, float]:
    """MLflow metrics of a metric dict; NaN (undefined on one class) is left out."""
    return {f"{prefix}{k}": v for k, v in metrics.items() if not math.isnan(v)}


def _run_params(wh: Warehouse, as_of: dt.date, config: PropensityConfig, fit: Examples, val: Examples,
                holdout: Examples) -> dict:
    """The parent run's params: the layout, the rows used and the settings that shaped them."""
    holdout_origin, train_origins = plan_origins(as_of, config)
    return {"kinds": ",".join(KINDS), "selection_metric": f"validation {SELECTION_METRIC}",
            "selection_rule": "simplest kind within one standard error of the best",
            "horizon_days": HORIZON_DAYS, "weeks": config.weeks, "static_features": ",".join(STATIC_FEATURES),
            "train_origins": ",".join(o.isoformat() for o in train_origins),
            "validation_origin": train_origins[0].isoformat(), "holdout_origin": holdout_origin.isoformat(),
            "fit_rows": len(fit), "validation_rows": len(val), "holdout_rows": len(holdout),
            "train_max_customers_per_origin": config.train_max_customers_per_origin,
            "holdout_max_customers": config.holdout_max_customers,
            "active_customers_per_origin": ",".join(
                str(features.count_customers(wh, as_of, o)) for o in [holdout_origin, *train_origins]),
            "fit_positive_rate": round(float(fit.labels.mean()), 4), "calibration": config.calibration,
            "seed": config.seed}


def _fit_candidate(kind: str, as_of: dt.date, config: PropensityConfig, fit: Examples, val: Examples,
                   holdout: Examples, bgnbd: dict | None) -> dict:
    """One kind fitted, measured and logged as a nested run: its model, run id, metrics and ModelInfo."""
    import mlflow

    from ml.families.propensity.pyfunc import PIP_REQUIREMENTS, log_propensity_pyfunc

    tag = f"{registry.BASELINE_KIND_PREFIX}{kind}" if kind in BASELINE_KINDS else kind
    with tracking.start_run(NAME, as_of, run_name=f"{kind}-{as_of}", tags={registry.KIND_TAG: tag},
                            nested=True) as child:
        model = train_propensity_model(kind, fit, val, config, bgnbd=bgnbd)
        result = {"model": model, "run_id": child.info.run_id,
                  "validation": score_probabilities(val.labels, model.predict_proba(val.inputs)),
                  "holdout_p": model.predict_proba(holdout.inputs)}
        result["holdout"] = score_probabilities(holdout.labels, result["holdout_p"])
        mlflow.log_params({"kind": kind, **model.info, "calibration_slope": round(model.calibrator.slope, 4),
                           **({f"bgnbd_{k}": round(v, 6) for k, v in bgnbd.items()} if bgnbd else {})})
        for split in _SPLITS:
            mlflow.log_metrics(_defined(result[split], f"{split}_"))
        result["info"] = log_propensity_pyfunc(model, holdout.inputs.head(5))
        if kind == "cnn":  # the raw network too, for inspection outside the pyfunc
            mlflow.keras.log_model(model.estimator, name="keras_model", pip_requirements=PIP_REQUIREMENTS)
    return result


def _log_plots(holdout: Examples, candidates: dict[str, dict]) -> None:
    import mlflow

    probs = {kind: (holdout.labels, c["holdout_p"]) for kind, c in candidates.items()}
    scores = dict(probs, recency=(holdout.labels, -holdout.inputs["recency_days"].fillna(1e6).to_numpy()))
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.log_artifact(str(plot_calibration(probs, Path(tmp) / "calibration_holdout.png")))
        mlflow.log_artifact(str(plot_roc(scores, Path(tmp) / "roc_holdout.png")))


def _log_choice(holdout: Examples, candidates: dict[str, dict], winner: str) -> None:
    """The parent run's summary: every kind's metrics, the tolerance, the winner and the plots."""
    import mlflow

    best = max(candidates.values(), key=lambda c: np.nan_to_num(c["validation"][SELECTION_METRIC], nan=-1.0))
    mlflow.log_metric("selection_tolerance", selection_tolerance(best["validation"]))
    for kind, result in candidates.items():
        for split in _SPLITS:
            mlflow.log_metrics(_defined(result[split], f"{kind}_{split}_"))
    mlflow.log_params({"winner": winner, "winner_run_id": candidates[winner]["run_id"]})
    _log_plots(holdout, candidates)


def train(wh: Warehouse, as_of: dt.date) -> ModelRef:
    import mlflow

    config = load()
    # the stacked examples go once split: one copy in memory, not two
    fit, val = split_by_origin(features.read_training(wh, as_of, config), config.seed, config.validation_share)
    holdout = features.read_holdout(wh, as_of, config)
    bgnbd = fit_bgnbd_inputs(fit.inputs, config.seed)
    with tracking.start_run(NAME, as_of, run_name=f"{'-vs-'.join(KINDS)}-{as_of}") as parent:
        mlflow.log_params(_run_params(wh, as_of, config, fit, val, holdout))
        mlflow.log_param("stacked_bgnbd", bgnbd is not None)
        candidates = {kind: _fit_candidate(kind, as_of, config, fit, val, holdout, bgnbd) for kind in KINDS}
        baselines = {kind: _fit_candidate(kind, as_of, config, fit, val, holdout, bgnbd) for kind in BASELINE_KINDS}
        mlflow.log_params({f"baseline_{kind}_run_id": b["run_id"] for kind, b in baselines.items()})
        for kind, result in baselines.items():
            for split in _SPLITS:
                mlflow.log_metrics(_defined(result[split], f"baseline_{kind}_{split}_"))
        winner = choose(candidates)
        _log_choice(holdout, candidates, winner)
        chosen = candidates[winner]
        description = (f"{winner} as of {as_of}: validation {SELECTION_METRIC} "
                       f"{chosen['validation'][SELECTION_METRIC]:.4f} (" + ", ".join(
                           f"{k} {c['validation'][SELECTION_METRIC]:.4f}" for k, c in candidates.items()) + ")")
        parent_id = parent.info.run_id
    ref = registry.register_challenger(chosen["info"].model_uri, NAME, chosen["run_id"], description)
    registry.tag_version(ref, {registry.KIND_TAG: winner, registry.PARENT_RUN_TAG: parent_id})
    return ref
