"""Fitting the value models on features taken at cutoffs one horizon apart, and registering the better.

With features at cutoffs c_0 < c_1 < ... < c_k = as_of (one `horizon_days` apart), the last
interval [c_{k-1}, as_of) is the holdout: both models are fitted on what was known at c_{k-1} —
BG/NBD + Gamma-Gamma on the summary there, LightGBM on the earlier windows — and judged on what
customers did afterwards. The kind with the lower holdout `selection_metric` is registered as the
challenger; both kinds and the naive baseline are logged side by side.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
from pathlib import Path

import pandas as pd

from ml import registry, tracking
from ml.families.base import ModelRef
from ml.families.customer_value import pyfunc
from ml.families.customer_value.clv import fit_clv_model
from ml.families.customer_value.config import NAME, CustomerValueConfig, load
from ml.families.customer_value.evaluate import evaluate_on_holdout, plot_deciles
from ml.families.customer_value.features import (
    FEATURE_COLUMNS,
    cutoffs,
    purchasers,
    read_all_cutoffs,
    targets_between,
)
from ml.families.customer_value.gbm import fit_gbm_value_model
from ml.families.customer_value.model import ValuePredictor, to_summary
from ml.sql import MissingColumns
from ml.warehouse import Warehouse

log = logging.getLogger(__name__)


def build_gbm_training_set(features: list[pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stack (features at c_i, targets in [c_i, c_{i+1})) over consecutive cutoffs, oldest first."""
    if len(features) < 2:
        raise ValueError("need features at two or more cutoffs to build targets")
    starts = [purchasers(f) for f in features[:-1]]
    pairs = [(f, targets_between(f, g)) for f, g in zip(starts, features[1:]) if not f.empty]
    if not pairs:
        raise ValueError("no customers at any training cutoff")
    x = pd.concat([f[list(FEATURE_COLUMNS)] for f, _ in pairs], ignore_index=True)
    y = pd.concat([t for _, t in pairs], ignore_index=True)
    return x, y


def fit_value_models(features: list[pd.DataFrame], config: CustomerValueConfig) -> dict[str, ValuePredictor]:
    """Fit both kinds on features at cutoffs oldest first; the last frame is the fitting cutoff.

    BG/NBD + Gamma-Gamma use the summary at the last cutoff; LightGBM learns from the earlier pairs.
    """
    latest = purchasers(features[-1])
    if latest.empty:
        raise ValueError("no customers with history at the fitting cutoff")
    clv = fit_clv_model(to_summary(latest), penalizer=config.penalizer)
    settings = dict(horizon_days=config.horizon_days, clv_days=config.clv_days,
                    annual_discount_rate=config.annual_discount_rate)
    models = {"bgnbd": ValuePredictor("bgnbd", clv, **settings)}
    try:
        x, y = build_gbm_training_set(features)
    except MissingColumns:
        raise  # a malformed frame is a bug, not a young shop
    except ValueError as error:
        # A young shop has no past window with known outcomes yet; BG/NBD needs none.
        log.warning("LightGBM not fitted (%s); only BG/NBD + Gamma-Gamma competes", error)
        return models
    gbm = fit_gbm_value_model(x, y, horizon_days=config.horizon_days, seed=config.seed, params=config.gbm_params,
                              small_data_rows=config.gbm_small_data_rows)
    return models | {"gbm": ValuePredictor("gbm", clv, gbm, **settings)}


def _log_holdout_artifacts(metrics: dict, deciles: dict, chosen: str) -> None:
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        chart = plot_deciles(deciles, Path(tmp) / "holdout_spend_deciles.png")
        mlflow.log_artifact(str(chart))
        tables = {name: table.to_dict(orient="records") for name, table in deciles.items()}
        (Path(tmp) / "holdout_spend_deciles.json").write_text(json.dumps(tables, indent=1))
        (Path(tmp) / "holdout_metrics.json").write_text(json.dumps({"chosen": chosen, **metrics}, indent=1))
        mlflow.log_artifact(str(Path(tmp) / "holdout_spend_deciles.json"))
        mlflow.log_artifact(str(Path(tmp) / "holdout_metrics.json"))


def train(wh: Warehouse, as_of: dt.date) -> ModelRef:
    import mlflow

    config = load()
    selection = config.selection_metric
    frames = read_all_cutoffs(wh, as_of, config)
    holdout_start = cutoffs(as_of, config)[-2]
    models = fit_value_models(frames[:-1], config)
    metrics, deciles = evaluate_on_holdout(models, frames[-2], frames[-1], horizon_days=config.horizon_days)
    chosen = min(models, key=lambda kind: metrics[kind][selection])
    predictor = models[chosen]
    fit_rows = purchasers(frames[-2])
    with tracking.start_run(NAME, as_of, run_name=f"{chosen}-{as_of}", tags={registry.KIND_TAG: chosen}) as run:
        mlflow.log_params({
            "kind": chosen, "selection_metric": selection, "horizon_days": config.horizon_days,
            "clv_days": config.clv_days, "annual_discount_rate": config.annual_discount_rate,
            "training_windows": config.training_windows, "penalizer": config.penalizer, "seed": config.seed,
            "fit_cutoff": holdout_start.isoformat(), "as_of_date": as_of.isoformat(), "fit_customers": len(fit_rows),
            **{k: round(v, 6) for k, v in predictor.clv.to_dict().items()},
            **({f"lgbm_{k}": v for k, v in models["gbm"].gbm.params.items()} if "gbm" in models else {}),
        })
        mlflow.log_metrics(metrics[chosen])
        for kind, values in metrics.items():  # both kinds and the baseline side by side
            mlflow.log_metrics({f"{kind}_{k}": v for k, v in values.items()})
        mlflow.log_input(mlflow.data.from_pandas(fit_rows.reset_index(), name=f"customer_value@{holdout_start}"),
                         context="training")
        _log_holdout_artifacts(metrics, deciles, chosen)
        info = pyfunc.log_value_model(predictor, fit_rows)
        others = ", ".join(f"{kind} {values[selection]:.2f}" for kind, values in metrics.items())
        description = (f"{chosen} fitted on history before {holdout_start}; holdout {selection} "
                       f"{metrics[chosen][selection]:.2f} ({others})")
        ref = registry.register_challenger(info.model_uri, NAME, run.info.run_id, description)
        registry.tag_version(ref, {registry.KIND_TAG: chosen})
        return ref
