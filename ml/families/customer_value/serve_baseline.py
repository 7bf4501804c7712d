"""A simple baseline as a version of the customer_value model, to serve when nothing learnt beats it.

`register_baseline(wh, D, name)` fits the named baseline (`model.BASELINES`) on the history before D
— BG/NBD + Gamma-Gamma on the summary at D, for `bgnbd_gg` and for every baseline's P(alive) — logs
it in an MLflow run of the family's experiment with its holdout metrics (the same baseline fitted at
the holdout start and judged on [D - step, D), as `evaluate` judged it) and registers it with kind
"baseline:<name>". The name is one baseline, or, where different baselines were best at spend,
orders and the value ranking, their mix (`model.baseline_name`: "spend=bgnbd_gg,orders=last_90d_repeat,
clv=bgnbd_gg"), so a served baseline is the best simple forecast for each output. Scoring it goes through the family's normal `score`.
"""
from __future__ import annotations

import datetime as dt

from ml import registry, tracking
from ml.families.base import ModelRef
from ml.families.customer_value import pyfunc
from ml.families.customer_value.config import NAME, load
from ml.families.customer_value.evaluate import holdout, score_predictions
from ml.families.customer_value.features import purchasers, read_features, targets_between
from ml.families.customer_value.model import ValuePredictor, baseline_outputs
from ml.families.customer_value.train import fit_clv
from ml.warehouse import Warehouse


def baseline_predictor(name: str, features, config, horizon_days: int) -> ValuePredictor:
    """The named baseline (one of `model.BASELINES`, or a spend=,orders=,clv= mix of them)."""
    outputs = baseline_outputs(name)
    clv = fit_clv(features, config.penalizer, with_uncertainty=True)
    if clv is None and "bgnbd_gg" in outputs.values():
        raise ValueError(f"{name} cannot serve: the history before D fits no BG/NBD + Gamma-Gamma")
    return ValuePredictor(name, clv, horizon_days=horizon_days, clv_days=config.clv_days,
                          annual_discount_rate=config.annual_discount_rate, **outputs)


def register_baseline(wh: Warehouse, as_of: dt.date, name: str) -> ModelRef:
    import mlflow

    config = load()
    latest = purchasers(read_features(wh, as_of, as_of))
    if latest.empty:
        raise ValueError(f"no customer has a purchase before {as_of}: no baseline to fit")
    predictor = baseline_predictor(name, latest, config, config.horizon_days)
    start, end, holdout_start, days = holdout(wh, as_of)
    judged = baseline_predictor(name, start, config, days).predict(start)
    metrics = score_predictions(judged, targets_between(start, end))
    kind = f"{registry.BASELINE_KIND_PREFIX}{name}"
    with tracking.start_run(NAME, as_of, run_name=f"{kind}-{as_of}",
                            tags={registry.KIND_TAG: kind, registry.ROLE_TAG: registry.BASELINE_ROLE}) as run:
        mlflow.log_params({"kind": kind, "baseline": name, **baseline_outputs(name), "as_of_date": as_of.isoformat(),
                           "horizon_days": config.horizon_days, "holdout_days": days,
                           "holdout_start": holdout_start.isoformat(), "fit_customers": len(latest),
                           **({k: round(v, 6) for k, v in predictor.clv.to_dict().items()} if predictor.clv else {})})
        mlflow.log_metrics(metrics)
        info = pyfunc.log_value_model(predictor, latest)
        description = (f"baseline {name}, from the history before {as_of}; holdout [{holdout_start}, {as_of}) "
                       f"{config.selection_metric} {metrics[config.selection_metric]:.2f}")
        return registry.register_baseline(info.model_uri, NAME, run.info.run_id, name, description)
