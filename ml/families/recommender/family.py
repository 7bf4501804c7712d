"""Recommender family: "what to offer each customer", by implicit-feedback collaborative filtering.

build_features  features.user_item_interactions at D, D-h and D-2h (SQL in the warehouse)
train           tune ALS on [D-2h, D-h), compare ALS with popularity, recent popularity and
                item-item cosine on [D-h, D) (all in one MLflow parent run, one nested run each),
                refit the winner on all history before D and register it as challenger
evaluate        refit challenger's and champion's recipes on history before D-h and grade both on
                purchases in [D-h, D), next to the global-popularity baseline
score           top-N per active customer into marts.user_recommendations; customers the model
                never saw get popular products of their segment (marts.user_segments), else overall
"""
from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from dataclasses import asdict

import numpy as np
import pandas as pd

from ml import catalog
from ml.data import has_events
from ml.families.base import Evaluation, ModelFamily, ModelRef
from ml.families.recommender.config import RecommenderConfig
from ml.families.recommender.evaluation import Split, evaluate_model, split_from_matrix
from ml.families.recommender.fallback import fallback_recommendations
from ml.families.recommender.interactions import (
    INTERACTION_COLUMNS,
    InteractionMatrix,
    active_items_sql,
    among,
    holdout_sql,
    interactions_sql,
    read_matrix,
)
from ml.families.recommender.models import fit_model
from ml.families.recommender.recommender import Recommender
from ml.families.recommender.scoring_sql import active_customers_sql, popularity_sql, segment_popularity_sql
from ml.families.recommender.train import TrainingData
from ml.warehouse import Warehouse

NAME = "recommender"
MART = catalog.USER_RECOMMENDATIONS
INTERACTIONS = catalog.USER_ITEM_INTERACTIONS
SEGMENTS = catalog.USER_SEGMENTS
SEGMENT_COLUMN = "segment_name"
SCORE_CHUNK_CUSTOMERS = 20_000

_INTERACTIONS_DDL = f"""
CREATE TABLE IF NOT EXISTS {INTERACTIONS} (
    as_of_date DATE, customer_id TEXT, product_id TEXT, purchase_qty BIGINT, return_qty BIGINT,
    cart_events BIGINT, view_events BIGINT, last_purchase_date DATE, weight DOUBLE PRECISION
)"""


def recommender_config() -> RecommenderConfig:
    """The settings of this family (defaults of RecommenderConfig; one place to change them)."""
    return RecommenderConfig()


def _date(value: dt.date) -> str:
    return f"DATE '{value.isoformat()}'"


def _has_rows(wh: Warehouse, table: str) -> bool:
    return wh.table_exists(table) and wh.scalar(f"SELECT COUNT(*) FROM {table}") > 0


# -- build_features ------------------------------------------------------------------------------
def build_features(wh: Warehouse, as_of: dt.date) -> list[str]:
    """Write the interaction partitions every step of this as-of date reads: D, D-h and D-2h.

    Each partition holds what was known before its own date, so rewriting an older one (also
    written by an earlier run) gives the same rows: the step is idempotent.
    """
    config = recommender_config()
    with_events = has_events(wh)
    columns = ", ".join(INTERACTION_COLUMNS)
    # all three partitions or none; read back by key (read_matrix), so row order does not matter
    with wh.transaction(), wh.unordered_inserts():
        wh.execute(_INTERACTIONS_DDL)
        for cutoff in sorted(set(config.cutoffs(as_of).values())):
            wh.execute(f"DELETE FROM {INTERACTIONS} WHERE as_of_date = {_date(cutoff)}")
            wh.execute(
                f"INSERT INTO {INTERACTIONS} (as_of_date, {columns}) "
                f"SELECT {_date(cutoff)}, {columns} FROM ({interactions_sql(cutoff, config, with_events)}) AS i"
            )
    return [INTERACTIONS]


# -- reading splits ------------------------------------------------------------------------------
def _interaction_matrix(wh: Warehouse, cutoff: dt.date, config: RecommenderConfig,
                        max_users: int | None = None) -> InteractionMatrix:
    matrix = read_matrix(wh, INTERACTIONS, f"as_of_date = {_date(cutoff)}", cutoff, config, max_users=max_users)
    if matrix.shape[0] == 0:
        raise RuntimeError(
            f"{INTERACTIONS} has no rows for as_of_date {cutoff}: either build_features has not run for "
            f"this as-of date, or the shop has no customer purchases before {cutoff} (training needs "
            f"history before D - 2 x horizon_days)"
        )
    return matrix


def _active_products(wh: Warehouse, as_of: dt.date, config: RecommenderConfig) -> list[str]:
    sql = active_items_sql(as_of, config, has_catalogue=_has_rows(wh, catalog.RAW_PRODUCTS))
    return wh.query(sql)["product_id"].astype(str).tolist()


def _split(wh: Warehouse, cutoff: dt.date, end: dt.date, config: RecommenderConfig,
           max_users: int | None = None) -> Split:
    return split_from_matrix(
        _interaction_matrix(wh, cutoff, config, max_users),
        wh.query(holdout_sql(cutoff, end)),
        _active_products(wh, cutoff, config),
        cutoff,
    )


def _holdout_words(split: Split, end: dt.date) -> str:
    return (
        f"purchases in [{split.cutoff}, {end}) by {int((np.diff(split.relevance.indptr) > 0).sum())} "
        f"customers with history before {split.cutoff}; every model refitted on that history"
    )


# -- train ---------------------------------------------------------------------------------------
def coverage_guardrail(config: RecommenderConfig) -> float:
    """The minimum coverage@N of the promotion policy (0 when it sets none), so that training never
    registers a model the policy must reject."""
    from ml.promotion import load_policy

    wanted = f"coverage_at_{config.top_n}"
    limits = [g.min for g in load_policy(NAME).guardrails
              if g.metric == wanted and g.source == "challenger" and g.min is not None]
    return float(max(limits, default=0.0))


def training_data(wh: Warehouse, as_of: dt.date, config: RecommenderConfig) -> TrainingData:
    """Where one training run reads its inputs: the validation split (a hash sample of at most
    `tuning_max_users` customers), the test split and the final matrix with its still-sold items,
    each read from the warehouse when its step starts."""
    cuts = config.cutoffs(as_of)

    def final() -> tuple[InteractionMatrix, np.ndarray]:
        matrix = _interaction_matrix(wh, as_of, config)
        return matrix, among(matrix.items, _active_products(wh, as_of, config))

    return TrainingData(
        validation=lambda: _split(wh, cuts["validation"], cuts["test"], config, config.tuning_max_users),
        test=lambda: _split(wh, cuts["test"], as_of, config),
        final=final,
    )


def train(wh: Warehouse, as_of: dt.date) -> ModelRef:
    import mlflow

    from ml import registry, tracking
    from ml.families.recommender.train import train_recommender

    config = recommender_config()
    min_coverage = coverage_guardrail(config)
    outcome = train_recommender(training_data(wh, as_of, config), as_of, config, min_coverage)
    with tracking.start_run(NAME, as_of, run_name=f"{NAME}-{as_of}") as run:
        mlflow.log_param("min_coverage", min_coverage)
        model_uri = _log_outcome(outcome, config, as_of)
    metric = f"ndcg_at_{config.top_n}"
    description = (f"{outcome.winner} as of {as_of}: test {metric} {outcome.results[outcome.winner][metric]:.4f} "
                   f"(global popularity {outcome.results['popularity'][metric]:.4f})")
    return registry.register_challenger(model_uri, NAME, run.info.run_id, description)


def _log_outcome(outcome, config: RecommenderConfig, as_of: dt.date) -> str:
    """Log one training run into the active MLflow run; return the logged model's URI."""
    import mlflow

    from ml import registry, tracking
    from ml.families.recommender.pyfunc import pyfunc_arguments

    final, k = outcome.recommender.train, config.top_n
    settings = {key: value for key, value in asdict(config).items() if key != "als_grid"}
    mlflow.log_params({**settings, "als_grid": str(config.als_grid), "winner": outcome.winner})
    mlflow.log_params({f"als_{key}": value for key, value in outcome.als_params.items()})
    mlflow.log_params({"n_users": final.shape[0], "n_items": final.shape[1], "n_interactions": final.weights.nnz,
                       "n_active_items": int(outcome.recommender.allowed.sum())})
    # Side by side in one run: every candidate under its prefix, the registered winner unprefixed.
    mlflow.log_metrics({key: float(value) for key, value in outcome.results[outcome.winner].items()})
    for kind, metrics in outcome.results.items():
        prefix = "als_" if kind == "als" else f"baseline_{kind}_"
        mlflow.log_metrics({f"{prefix}{key}": float(value) for key, value in metrics.items()})
        with tracking.start_run(NAME, as_of, run_name=kind, nested=True, tags={registry.CANDIDATE_TAG: kind}):
            mlflow.log_params(outcome.als_params if kind == "als" else {"kind": kind})
            mlflow.log_metrics({key: float(value) for key, value in metrics.items()})
    mlflow.log_metric(f"validation_best_ndcg_at_{k}", float(outcome.trials[f"ndcg_at_{k}"].max()))
    mlflow.log_table(outcome.trials, artifact_file="als_validation_trials.json")
    mlflow.log_dict(outcome.results, "test_split_metrics.json")
    with tempfile.TemporaryDirectory() as folder:
        info = mlflow.pyfunc.log_model(name="model", **pyfunc_arguments(outcome.recommender, folder))
    return info.model_uri


# -- evaluate ------------------------------------------------------------------------------------
def _load(ref: ModelRef) -> Recommender:
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(ref.uri).unwrap_python_model().recommender


def evaluate(wh: Warehouse, as_of: dt.date, challenger: ModelRef, champion: ModelRef | None) -> Evaluation:
    from ml.families.recommender.train import evaluate_recommenders

    config = recommender_config()
    split = _split(wh, config.cutoffs(as_of)["test"], as_of, config)
    holdout_customers = int((np.diff(split.relevance.indptr) > 0).sum())
    if holdout_customers < 10:
        raise ValueError(f"only {holdout_customers} customers with purchases in [{split.cutoff}, {as_of}); "
                         "too few to compare recommenders")
    models = {"challenger": _load(challenger)}
    if champion is not None:
        models["champion"] = _load(champion)
    metrics, pairwise = evaluate_recommenders(models, split, config)
    baseline = evaluate_model(fit_model("popularity", split.train, config), split, config)
    return Evaluation(
        challenger=metrics["challenger"],
        champion=metrics.get("champion"),
        baseline=baseline,
        pairwise=pairwise,
        holdout=_holdout_words(split, as_of),
    )


# -- score ---------------------------------------------------------------------------------------
def _segments(wh: Warehouse, as_of: dt.date) -> pd.DataFrame | None:
    if not wh.table_exists(SEGMENTS) or SEGMENT_COLUMN not in wh.columns(SEGMENTS):
        return None
    frame = wh.query(
        f"SELECT customer_id, CAST({SEGMENT_COLUMN} AS TEXT) AS segment FROM {SEGMENTS} "
        f"WHERE as_of_date = {_date(as_of)}"
    )
    return None if frame.empty else frame


def recommendation_chunks(
    recommender: Recommender,
    customers: list[str],
    active_products: list[str],
    overall: pd.DataFrame,
    by_segment: pd.DataFrame | None,
    segments: pd.DataFrame | None,
    chunk: int = SCORE_CHUNK_CUSTOMERS,
) -> Iterator[pd.DataFrame]:
    """Top-N rows per customer, chunk by chunk: the model for customers it knows, the fallback
    for the others. Memory stays flat whatever the number of customers."""
    k = recommender.config.top_n
    empty = pd.DataFrame({"customer_id": pd.Series(dtype=object), "rank": pd.Series(dtype="int64"),
                          "product_id": pd.Series(dtype=object), "score": pd.Series(dtype="float64"),
                          "source": pd.Series(dtype=object)})
    if not customers:
        yield empty  # an empty partition is still a result: no active customer on this date
        return
    for start in range(0, len(customers), chunk):
        batch = pd.Series(customers[start : start + chunk], dtype=object).astype(str)
        known = recommender.train.user_index(batch) >= 0
        parts = [empty, recommender.recommend(batch[known], k=k, active_products=active_products)]
        if (~known).any():
            unseen = pd.DataFrame({"customer_id": batch[~known].to_numpy()})
            if segments is not None:
                unseen = unseen.merge(segments, on="customer_id", how="left")
            parts.append(fallback_recommendations(unseen, overall, k, by_segment))
        frame = pd.concat([p for p in parts if not p.empty] or [empty], ignore_index=True)
        yield frame.astype({"rank": "int64", "score": "float64"})


def _active_customers(wh: Warehouse, as_of: dt.date, active_days: int) -> list[str]:
    """Active customers as the rest of the platform counts them (features.user_features.is_active);
    the same rule straight from the order lines when that partition has not been built."""
    from ml.features import USER_FEATURES

    where = f"as_of_date = {_date(as_of)}"
    if wh.table_exists(USER_FEATURES) and wh.row_count(USER_FEATURES, where) > 0:
        sql = f"SELECT customer_id FROM {USER_FEATURES} WHERE {where} AND is_active ORDER BY customer_id"
    else:
        sql = active_customers_sql(as_of, active_days)
    return wh.query(sql)["customer_id"].astype(str).tolist()


def score(wh: Warehouse, as_of: dt.date, champion: ModelRef) -> int:
    from ml import marts
    from ml.features import ACTIVE_DAYS

    config = recommender_config()
    recommender = _load(champion)
    active_sql = active_items_sql(as_of, config, has_catalogue=_has_rows(wh, catalog.RAW_PRODUCTS))
    active_products = wh.query(active_sql)["product_id"].astype(str).tolist()
    customers = _active_customers(wh, as_of, ACTIVE_DAYS)
    overall = wh.query(popularity_sql(as_of, config.recent_days, active_sql))
    segments = _segments(wh, as_of)
    by_segment = None
    if segments is not None:
        by_segment = wh.query(
            segment_popularity_sql(as_of, config.recent_days, active_sql, SEGMENTS, SEGMENT_COLUMN)
        )
    chunks = recommendation_chunks(recommender, customers, active_products, overall, by_segment, segments)
    return marts.write_mart(wh, MART, chunks, as_of, champion)


FAMILY = ModelFamily(
    name=NAME,
    mart=MART,
    build_features=build_features,
    train=train,
    evaluate=evaluate,
    score=score,
    description="Top-N products per active customer by implicit-feedback ALS or the best baseline.",
)
