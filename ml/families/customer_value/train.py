"""Fitting the value candidates on features taken at cutoffs one step apart, and registering the best mix.

With features at cutoffs c_0 < c_1 < ... < c_k = as_of (one step apart: the horizon, or less on a
short history, see `features.step_for_history`), the last interval [c_{k-1}, as_of) is the holdout:
every candidate is fitted on what was known at c_{k-1} — BG/NBD + Gamma-Gamma on the summary there,
LightGBM on the earlier windows with the BG/NBD outputs of each window's own cutoff stacked in
(point in time) — and judged on what customers did afterwards. Each output takes the candidate
that did best on it there (orders: RMSE, spend: MAE, value ranking: Spearman), the simple baselines
included; LightGBM's hyper-parameters are chosen on the last training window, before the holdout.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import math
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from ml import registry, tracking
from ml.families.base import ModelRef
from ml.families.customer_value import pyfunc
from ml.families.customer_value.clv import CLVModel, fit_clv_model
from ml.families.customer_value.config import NAME, CustomerValueConfig, load
from ml.families.customer_value.evaluate import plot_deciles, score_candidates
from ml.families.customer_value.features import (
    FEATURE_COLUMNS,
    LINE_COLUMNS,
    first_purchases,
    purchasers,
    read_all_cutoffs,
    table_cutoffs,
    targets_between,
)
from ml.families.customer_value.gbm import choose_params, fit_gbm_value_model, grid
from ml.families.customer_value.holdout_checks import interval_metrics, next_order_metrics
from ml.families.customer_value.model import (
    CANDIDATES,
    LEARNED,
    NEEDS_CLV,
    STACK_COLUMNS,
    ValuePredictor,
    stack_features,
    to_summary,
)
from ml.families.customer_value.timing import predict_timing
from ml.sql import MissingColumns
from ml.warehouse import Warehouse

log = logging.getLogger(__name__)
GBM_INPUTS = (*FEATURE_COLUMNS, *LINE_COLUMNS, *STACK_COLUMNS)


def fit_clv(frame: pd.DataFrame, penalizer: float, *, with_uncertainty: bool = False) -> CLVModel | None:
    """BG/NBD + Gamma-Gamma on the purchasers of one cutoff; None where the history cannot fit one
    (no repeat purchase, too few repeat buyers, no convergence)."""
    rows = purchasers(frame)
    if rows.empty:
        return None
    try:
        return fit_clv_model(to_summary(rows), penalizer=penalizer, with_uncertainty=with_uncertainty)
    except (ValueError, RuntimeError) as error:
        log.warning("BG/NBD + Gamma-Gamma not fitted (%s)", error)
        return None


def training_pairs(features: list[pd.DataFrame], *, step_days: int = 90,
                   penalizer: float = 0.001) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """(inputs at c_i, targets in [c_i, c_{i+1})) over consecutive cutoffs, oldest first. The inputs
    stack the outputs of a BG/NBD fitted at c_i itself, so nothing on or after c_i feeds them."""
    if len(features) < 2:
        raise ValueError("need features at two or more cutoffs to build targets")
    pairs = []
    for start, end in zip(features[:-1], features[1:]):
        start = purchasers(start)
        if start.empty:
            continue
        stacked = stack_features(fit_clv(start, penalizer), start, step_days)
        columns = [c for c in GBM_INPUTS if c in stacked.columns]
        pairs.append((stacked[columns], targets_between(start, end)))
    if not pairs:
        raise ValueError("no customers at any training cutoff")
    return pairs


def build_gbm_training_set(features: list[pd.DataFrame], *, step_days: int = 90,
                           penalizer: float = 0.001) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training pairs stacked into one frame of inputs and one of targets, oldest first."""
    pairs = training_pairs(features, step_days=step_days, penalizer=penalizer)
    return (pd.concat([x for x, _ in pairs], ignore_index=True), pd.concat([y for _, y in pairs], ignore_index=True))


@dataclass
class Fitted:
    clv: CLVModel | None
    gbm: object | None
    gbm_validation: dict  # the chosen grid points and their errors on the last training window


def fit_candidates(features: list[pd.DataFrame], config: CustomerValueConfig, step_days: int) -> Fitted:
    """BG/NBD + Gamma-Gamma on the last frame (the fitting cutoff), LightGBM on the earlier pairs."""
    latest = purchasers(features[-1])
    if latest.empty:
        raise ValueError("no customers with history at the fitting cutoff")
    clv = fit_clv(latest, config.penalizer, with_uncertainty=True)
    try:
        pairs = training_pairs(features, step_days=step_days, penalizer=config.penalizer)
    except MissingColumns:
        raise  # a malformed frame is a bug, not a young shop
    except ValueError as error:
        # A young shop has no past window with known outcomes yet; BG/NBD and the baselines need none.
        log.warning("LightGBM not fitted (%s); BG/NBD and the baselines compete", error)
        return Fitted(clv, None, {})
    common = dict(horizon_days=step_days, seed=config.seed, small_data_rows=config.gbm_small_data_rows)
    target_params, validation = {}, {}
    if len(pairs) >= 2:
        train_x = pd.concat([x for x, _ in pairs[:-1]], ignore_index=True)
        train_y = pd.concat([y for _, y in pairs[:-1]], ignore_index=True)
        target_params, errors = choose_params(
            train_x, train_y, *pairs[-1], grid(config.gbm_grid_num_leaves, config.gbm_grid_min_child_samples),
            params=config.gbm_params, **common)
        validation = {"params": target_params, "errors": errors}
    x = pd.concat([x for x, _ in pairs], ignore_index=True)
    y = pd.concat([y for _, y in pairs], ignore_index=True)
    gbm = fit_gbm_value_model(x, y, params=config.gbm_params, target_params=target_params, **common)
    return Fitted(clv, gbm, validation)


def available(fitted: Fitted) -> list[str]:
    return [c for c in CANDIDATES if not (c in NEEDS_CLV and fitted.clv is None)
            and not (c in ("gbm", "blend") and fitted.gbm is None)]


def choose(metrics: dict[str, dict[str, float]], config: CustomerValueConfig) -> dict[str, str]:
    """Which candidate each output comes from, by its holdout metric (first in CANDIDATES on ties).

    The spend, which promotion judges against the best baseline, is always a learned candidate
    where one was fitted (a baseline's spend could only tie it); orders and the value ranking take
    whichever candidate is best, a baseline included."""
    learned = [c for c in metrics if c in LEARNED] or list(metrics)
    return {"orders_from": min(metrics, key=lambda c: metrics[c][config.orders_selection_metric]),
            "spend_from": min(learned, key=lambda c: metrics[c][config.selection_metric]),
            "clv_from": max(metrics, key=lambda c: metrics[c]["spearman_clv"])}


def kind_of(chosen: dict[str, str]) -> str:
    """The lineage tag: the candidate's name when one gives every output, else the mix."""
    parts = list(dict.fromkeys(chosen.values()))
    if len(parts) == 1:
        return parts[0]
    return ",".join(f"{k.removesuffix('_from')}={v}" for k, v in chosen.items())


def holdout_checks(wh: Warehouse, validating: ValuePredictor, start: pd.DataFrame, end: pd.DataFrame,
                   holdout_start: dt.date, as_of: dt.date) -> dict[str, float]:
    """Next-order dates and value intervals of the models fitted at the holdout start, judged on it."""
    if validating.clv is None or start.empty:
        return {}
    days = (as_of - holdout_start).days
    timing = predict_timing(validating.clv.purchases, to_summary(start), time_unit_days=validating.clv.time_unit_days)
    first = first_purchases(wh, holdout_start, as_of)
    spend = targets_between(start, end)["spend"]
    return next_order_metrics(timing, start, first, days) | interval_metrics(validating, start, spend, days)


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
    frames = [f for f in read_all_cutoffs(wh, as_of, config)]
    dates = table_cutoffs(wh, as_of)
    if len(dates) < 2:
        raise ValueError(f"no customer has a purchase before {as_of} and a day of history before it: nothing to fit")
    holdout_start, step = dates[-2], (dates[-1] - dates[-2]).days
    fitted = fit_candidates(frames[:-1], config, step)
    settings = dict(horizon_days=step, clv_days=config.clv_days, annual_discount_rate=config.annual_discount_rate)
    validating = ValuePredictor("rate", fitted.clv, fitted.gbm, **settings)
    metrics, deciles = score_candidates(validating, available(fitted), frames[-2], frames[-1])
    chosen = choose(metrics, config)
    kind = kind_of(chosen)
    # Validated over `step` days; it serves the configured horizon (the same model, a longer window).
    predictor = replace(validating, kind=kind, horizon_days=config.horizon_days, **chosen)
    fit_rows = purchasers(frames[-2])
    checks = holdout_checks(wh, replace(validating, **chosen), fit_rows, frames[-1], holdout_start, as_of)
    short = step < config.horizon_days
    with tracking.start_run(NAME, as_of, run_name=f"{kind}-{as_of}", tags={registry.KIND_TAG: kind}) as run:
        mlflow.log_params({
            "kind": kind, **chosen, "selection_metric": config.selection_metric,
            "orders_selection_metric": config.orders_selection_metric, "horizon_days": config.horizon_days,
            "holdout_days": step, "clv_days": config.clv_days, "annual_discount_rate": config.annual_discount_rate,
            "training_windows": config.training_windows, "penalizer": config.penalizer, "seed": config.seed,
            "fit_cutoff": holdout_start.isoformat(), "as_of_date": as_of.isoformat(), "fit_customers": len(fit_rows),
            **({k: round(v, 6) for k, v in fitted.clv.to_dict().items()} if fitted.clv else {}),
            **({f"lgbm_{k}": v for k, v in fitted.gbm.params.items()} if fitted.gbm else {}),
        })
        for kind_name, values in metrics.items():  # every candidate side by side
            mlflow.log_metrics({f"{kind_name}_{k}": v for k, v in values.items()})
        # the registered mix: each output's metrics from the candidate it takes
        mlflow.log_metrics({k: v for k, v in metrics[chosen["orders_from"]].items() if k.endswith("_orders")}
                           | {k: v for k, v in metrics[chosen["spend_from"]].items() if k.endswith("_spend")}
                           | {"spearman_clv": metrics[chosen["clv_from"]]["spearman_clv"]})
        mlflow.log_metrics({k: v for k, v in checks.items() if math.isfinite(v)})
        for target, error in fitted.gbm_validation.get("errors", {}).items():
            mlflow.log_metric(f"gbm_validation_{target}_error", error)
        mlflow.log_input(mlflow.data.from_pandas(fit_rows.reset_index(), name=f"customer_value@{holdout_start}"),
                         context="training")
        _log_holdout_artifacts(metrics, deciles, kind)
        info = pyfunc.log_value_model(predictor, fit_rows)
        others = ", ".join(f"{name} {values[config.selection_metric]:.2f}" for name, values in metrics.items())
        description = (f"{kind} fitted on history before {holdout_start}; holdout {config.selection_metric} "
                       f"{metrics[chosen['spend_from']][config.selection_metric]:.2f} ({others})"
                       + (f"; the history holds only {step}-day windows, so its {config.horizon_days}-day and "
                          f"{config.clv_days}-day forecasts are extrapolated from a {step}-day holdout" if short else ""))
        ref = registry.register_challenger(info.model_uri, NAME, run.info.run_id, description)
        registry.tag_version(ref, {registry.KIND_TAG: kind})
        return replace(ref, kind=kind)
