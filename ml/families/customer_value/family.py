"""Customer-value family: expected orders, P(alive) and 365-day value per customer into marts.user_value.

Features: `features.customer_value` holds, for as-of date D, the RFM summary of every customer at
cutoffs D - 4h, ..., D - h, D (h = 90 days), all computed in the warehouse strictly before each
cutoff. Holdout: what customers known at D - h did in [D - h, D). Training fits both kinds on what
was known at D - h — BG/NBD + Gamma-Gamma on the summary there, LightGBM on the earlier windows —
and registers the one with the lower holdout MAE of spend as the challenger (both are logged).
Promotion then re-scores challenger, champion and the naive baseline (each customer repeats their
historical spend rate) on that same holdout; `config/policies/customer_value.yaml` decides.
"""
from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from ml import catalog, marts, registry, tracking
from ml.families.base import Evaluation, ModelFamily, ModelRef
from ml.families.customer_value import evaluate as value_eval
from ml.families.customer_value.sql import MODEL_INPUT_COLUMNS, customer_features_sql
from ml.families.customer_value.tiers import apply_value_tiers, load_tiers, value_tier_thresholds
from ml.families.customer_value.training import (
    build_cutoffs,
    evaluate_on_holdout,
    fit_value_models,
    purchasers,
    targets_between,
)
from ml.sql import sql_literal
from ml.warehouse import Warehouse

NAME = "customer_value"
MART = catalog.USER_VALUE
FEATURES = catalog.CUSTOMER_VALUE_FEATURES
HORIZON_DAYS = 90  # holdout length and the horizon of expected_orders_90d
CLV_DAYS = 365
ANNUAL_DISCOUNT_RATE = 0.10
TRAINING_WINDOWS = 3  # LightGBM learns from this many past horizons before the holdout
PENALIZER = 0.001  # keeps BG/NBD's a, b off their bounds on a few hundred customers
SEED = 0
SELECTION_METRIC = "mae_spend"
SCORE_BATCH_ROWS = 50_000

FEATURE_TABLE_COLUMNS = {
    "customer_id": "TEXT", "as_of_date": "DATE", "cutoff_date": "DATE",
    **dict.fromkeys(MODEL_INPUT_COLUMNS, "DOUBLE PRECISION"), "historical_value": "DOUBLE PRECISION",
}


def cutoffs(as_of: dt.date) -> list[dt.date]:
    return build_cutoffs(as_of, HORIZON_DAYS, TRAINING_WINDOWS)


def build_features(wh: Warehouse, as_of: dt.date) -> list[str]:
    """Replace the as-of partition of features.customer_value: one block of rows per cutoff."""
    columns = ", ".join(f"{name} {kind}" for name, kind in FEATURE_TABLE_COLUMNS.items())
    selected = ", ".join(c if c != "as_of_date" else f"{sql_literal(as_of)} AS as_of_date" for c in FEATURE_TABLE_COLUMNS)
    with wh.transaction():
        wh.execute(f"CREATE TABLE IF NOT EXISTS {FEATURES} ({columns})")
        wh.execute(f"DELETE FROM {FEATURES} WHERE as_of_date = {sql_literal(as_of)}")
        for cutoff in cutoffs(as_of):
            wh.execute(f"INSERT INTO {FEATURES} ({', '.join(FEATURE_TABLE_COLUMNS)}) "
                       f"SELECT {selected} FROM ({customer_features_sql(cutoff, horizon_days=HORIZON_DAYS)}) f")
    return [FEATURES]


def _ensure_features(wh: Warehouse, as_of: dt.date) -> None:
    if not wh.table_exists(FEATURES) or not wh.row_count(FEATURES, f"as_of_date = {sql_literal(as_of)}"):
        build_features(wh, as_of)


def _where(as_of: dt.date, cutoff: dt.date) -> str:
    return f"as_of_date = {sql_literal(as_of)} AND cutoff_date = {sql_literal(cutoff)}"


def read_features(wh: Warehouse, as_of: dt.date, cutoff: dt.date) -> pd.DataFrame:
    """Features of every customer at one cutoff of the as-of partition, indexed by customer_id."""
    frame = wh.query(f"SELECT customer_id, {', '.join(MODEL_INPUT_COLUMNS)}, historical_value FROM {FEATURES} "
                     f"WHERE {_where(as_of, cutoff)} ORDER BY customer_id")
    return frame.assign(customer_id=frame["customer_id"].astype(str)).set_index("customer_id")


def _read_all(wh: Warehouse, as_of: dt.date) -> list[pd.DataFrame]:
    _ensure_features(wh, as_of)
    return [read_features(wh, as_of, c) for c in cutoffs(as_of)]


def _log_holdout_artifacts(metrics: dict, deciles: dict, chosen: str) -> None:
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        chart = value_eval.plot_deciles(deciles, Path(tmp) / "holdout_spend_deciles.png")
        mlflow.log_artifact(str(chart))
        tables = {name: table.to_dict(orient="records") for name, table in deciles.items()}
        (Path(tmp) / "holdout_spend_deciles.json").write_text(json.dumps(tables, indent=1))
        (Path(tmp) / "holdout_metrics.json").write_text(json.dumps({"chosen": chosen, **metrics}, indent=1))
        mlflow.log_artifact(str(Path(tmp) / "holdout_spend_deciles.json"))
        mlflow.log_artifact(str(Path(tmp) / "holdout_metrics.json"))


def train(wh: Warehouse, as_of: dt.date) -> ModelRef:
    import mlflow
    from mlflow.models import infer_signature

    from ml.families.customer_value.model import CustomerValuePyfunc

    frames = _read_all(wh, as_of)
    holdout_start = cutoffs(as_of)[-2]
    models = fit_value_models(frames[:-1], horizon_days=HORIZON_DAYS, clv_days=CLV_DAYS,
                              annual_discount_rate=ANNUAL_DISCOUNT_RATE, penalizer=PENALIZER, seed=SEED)
    metrics, deciles = evaluate_on_holdout(models, frames[-2], frames[-1], horizon_days=HORIZON_DAYS)
    chosen = min(models, key=lambda kind: metrics[kind][SELECTION_METRIC])
    predictor = models[chosen]
    fit_rows = purchasers(frames[-2])
    with tracking.start_run(NAME, as_of, run_name=f"{chosen}-{as_of}", tags={registry.KIND_TAG: chosen}) as run:
        mlflow.log_params({
            "kind": chosen, "selection_metric": SELECTION_METRIC, "horizon_days": HORIZON_DAYS,
            "clv_days": CLV_DAYS, "annual_discount_rate": ANNUAL_DISCOUNT_RATE, "training_windows": TRAINING_WINDOWS,
            "penalizer": PENALIZER, "seed": SEED, "fit_cutoff": holdout_start.isoformat(),
            "as_of_date": as_of.isoformat(), "fit_customers": len(fit_rows),
            **{k: round(v, 6) for k, v in predictor.clv.to_dict().items()},
            **({f"lgbm_{k}": v for k, v in models["gbm"].gbm.params.items()} if "gbm" in models else {}),
        })
        mlflow.log_metrics(metrics[chosen])
        for kind, values in metrics.items():  # both kinds and the baseline side by side
            mlflow.log_metrics({f"{kind}_{k}": v for k, v in values.items()})
        mlflow.log_input(mlflow.data.from_pandas(fit_rows.reset_index(), name=f"customer_value@{holdout_start}"),
                         context="training")
        _log_holdout_artifacts(metrics, deciles, chosen)
        example = fit_rows[list(MODEL_INPUT_COLUMNS)].head(5)
        signature = infer_signature(example, predictor.predict(example))
        info = mlflow.pyfunc.log_model(name="model", python_model=CustomerValuePyfunc(predictor),
                                       signature=signature, input_example=example)
        others = ", ".join(f"{kind} {values[SELECTION_METRIC]:.2f}" for kind, values in metrics.items())
        description = (f"{chosen} fitted on history before {holdout_start}; holdout {SELECTION_METRIC} "
                       f"{metrics[chosen][SELECTION_METRIC]:.2f} ({others})")
        ref = registry.register_challenger(info.model_uri, NAME, run.info.run_id, description)
        registry.tag_version(ref, {registry.KIND_TAG: chosen})
        return ref


def _load(ref: ModelRef):
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(ref.uri)


def _predict(model, features: pd.DataFrame) -> pd.DataFrame:
    # pyfunc enforces the signature and may drop the index; rows keep their order.
    return pd.DataFrame(model.predict(features[list(MODEL_INPUT_COLUMNS)])).set_axis(features.index)


def evaluate(wh: Warehouse, as_of: dt.date, challenger: ModelRef, champion: ModelRef | None) -> Evaluation:
    frames = _read_all(wh, as_of)
    start, end = purchasers(frames[-2]), frames[-1]
    if len(start) < 10:
        raise ValueError(f"only {len(start)} customers before {cutoffs(as_of)[-2]}; too few to judge value models")
    actuals = targets_between(start, end)
    challenger_pred = _predict(_load(challenger), start)
    result = Evaluation(
        challenger=value_eval.score_predictions(challenger_pred, actuals),
        baseline=value_eval.score_predictions(
            value_eval.predict_naive_baseline(start.rename(columns={"tenure_days": "T"}), horizon_days=HORIZON_DAYS),
            actuals),
        holdout=f"orders and spend in [{cutoffs(as_of)[-2]}, {as_of}) of the {len(start)} customers with a purchase before it",
    )
    if champion is not None:
        champion_pred = _predict(_load(champion), start)
        result.champion = value_eval.score_predictions(champion_pred, actuals)
        rank = challenger_pred["predicted_clv"].corr(champion_pred["predicted_clv"], method="spearman")
        result.pairwise = {"spearman_clv_vs_champion": float(rank)}
    return result


def score(wh: Warehouse, as_of: dt.date, champion: ModelRef) -> int:
    """Score every customer with history into marts.user_value, value tiers over the whole base.

    Two passes over the features in chunks: the first only collects predicted values to fix the
    tier thresholds, the second writes the mart, so memory holds one float per customer, not rows.
    """
    _ensure_features(wh, as_of)
    model = _load(champion)
    tiers = load_tiers()
    select = (f"SELECT customer_id, {', '.join(MODEL_INPUT_COLUMNS)}, historical_value FROM {FEATURES} "
              f"WHERE {_where(as_of, as_of)} ORDER BY customer_id")

    def batches():
        for batch in wh.query_batches(select, SCORE_BATCH_ROWS):
            yield batch, _predict(model, batch)

    values = [scored["predicted_clv"].to_numpy() for _, scored in batches()]
    if not values:
        raise ValueError(f"no customer has history before {as_of}; nothing to score")
    thresholds = value_tier_thresholds(np.concatenate(values), tiers)

    def chunks():
        for batch, scored in batches():
            yield pd.DataFrame({
                "customer_id": batch["customer_id"].astype(str).to_numpy(),
                "expected_orders_90d": scored["expected_orders"].to_numpy(),
                "p_alive": scored["p_alive"].to_numpy(),
                "predicted_clv_365d": scored["predicted_clv"].to_numpy(),
                "value_tier": apply_value_tiers(scored["predicted_clv"].to_numpy(), tiers, thresholds),
                "historical_value": batch["historical_value"].astype(float).to_numpy(),
            })

    return marts.write_mart(wh, MART, chunks(), as_of, champion)


FAMILY = ModelFamily(name=NAME, mart=MART, build_features=build_features, train=train, evaluate=evaluate,
                     score=score, description="BG/NBD + Gamma-Gamma or LightGBM customer value, with value tiers")
