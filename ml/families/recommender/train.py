"""Training: tune ALS, then the hybrid's content weight, on [D-2h, D-h); compare ALS and the hybrid
with popularity, recent popularity, item-item cosine, repeat purchase and complete-the-basket on
[D-h, D) (all in one MLflow parent run, one nested run each), refit the winner on all history before
D and register it as challenger.

`train_recommender` is the run on prepared inputs (no warehouse, no MLflow); `train` is the family's
step around it.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ml.families.base import ModelRef
from ml.families.recommender import config as family_config
from ml.families.recommender import features
from ml.families.recommender.associations import read_rules
from ml.families.recommender.candidates import CATALOGUE_KINDS, RULE_KINDS
from ml.families.recommender.config import NAME, RecommenderConfig
from ml.families.recommender.content import read_catalogue
from ml.families.recommender.evaluate import Split, compare_candidates, read_split, tune_als, tune_blend
from ml.families.recommender.interactions import InteractionMatrix, among, widen
from ml.families.recommender.model import Recommender
from ml.warehouse import Warehouse

# Run params: every config field but the I/O chunk sizes (they bound memory, not the model);
# als_grid is logged apart, as one string; the association thresholds by the mining's own run.
_NOT_LOGGED = ("als_grid", "read_batch_rows", "score_chunk_customers", "associations")


@dataclass
class TrainingOutcome:
    als_params: dict  # chosen on the validation split
    trials: pd.DataFrame  # one row per validation trial
    results: dict[str, dict[str, float]]  # test-split metrics of ALS and every baseline
    winner: str  # kind with the best test NDCG (coverage permitting): the one registered
    recommender: Recommender  # the winner refitted on all history before as_of
    hybrid_params: dict | None = None  # ALS's plus the content weight chosen on the validation split
    blend_trials: pd.DataFrame | None = None  # one row per content weight tried


@dataclass(frozen=True)
class TrainingData:
    """Where one training run's three inputs come from, each read only when its step starts.

    The run needs the validation split (tuning), the test split (choosing the winner) and the final
    matrix (refit); holding all three at 1M customers was most of its 7.7 GiB peak. Called one
    after the other, each is released before the next is read.
    """

    validation: Callable[[], Split]
    test: Callable[[], Split]
    final: Callable[[], tuple[InteractionMatrix, np.ndarray]]  # matrix, still-sold flag per item
    final_rules: Callable[[], pd.DataFrame | None] = lambda: None  # D's association rules, if a rule kind won
    catalogue: Callable[[], pd.DataFrame | None] = lambda: None  # raw.products, if a catalogue kind won

    @classmethod
    def held(cls, validation: Split, test: Split, final: InteractionMatrix, final_allowed: np.ndarray):
        """Inputs already in memory (small shops, tests)."""
        return cls(lambda: validation, lambda: test, lambda: (final, final_allowed))


def train_recommender(
    data: TrainingData,
    as_of: dt.date,
    config: RecommenderConfig,
    min_coverage: float = 0.0,
) -> TrainingOutcome:
    """Tune ALS on the validation split, pick the winner on the test split (see
    `compare_candidates` for the role of `min_coverage`), refit it on the final matrix."""
    # Each input is passed straight into its steps and held by nothing else, so it is freed when
    # they return: at most one matrix is alive at a time.
    validation = data.validation()
    als_params, trials = tune_als(validation, config)
    hybrid_params, blend_trials = tune_blend(validation, als_params, config)
    del validation
    winner, results = compare_candidates(data.test(), als_params, config, min_coverage, hybrid_params)
    params = {"als": als_params, "hybrid": hybrid_params}.get(winner)
    rules = data.final_rules() if winner in RULE_KINDS else None
    catalogue = data.catalogue() if winner in CATALOGUE_KINDS else None
    recommender = Recommender.fit(winner, *data.final(), config, as_of, params, rules, catalogue)
    return TrainingOutcome(als_params, trials, results, winner, recommender, hybrid_params, blend_trials)


def training_data(wh: Warehouse, as_of: dt.date, config: RecommenderConfig) -> TrainingData:
    """Where one training run reads its inputs: the validation split (a hash sample of at most
    `tuning_max_users` customers), the test split and the final matrix with its still-sold items,
    each read from the warehouse when its step starts."""
    cuts = config.cutoffs(as_of)

    def final() -> tuple[InteractionMatrix, np.ndarray]:
        active = features.active_products(wh, as_of, config)
        matrix = widen(features.read_interactions(wh, as_of, config), active)  # as the splits are
        return matrix, among(matrix.items, active)

    return TrainingData(
        # tuning fits ALS alone, so the validation split needs no rules
        validation=lambda: read_split(wh, cuts["validation"], cuts["test"], config, config.tuning_max_users,
                                      with_rules=False),
        test=lambda: read_split(wh, cuts["test"], as_of, config),
        final=final,
        final_rules=lambda: read_rules(wh, as_of),
        catalogue=lambda: read_catalogue(wh),
    )


def coverage_guardrail(config: RecommenderConfig) -> float:
    """The minimum coverage@N of the promotion policy (0 when it sets none), so that training never
    registers a model the policy must reject."""
    from ml.promotion import load_policy

    wanted = f"coverage_at_{config.top_n}"
    limits = [g.min for g in load_policy(NAME).guardrails
              if g.metric == wanted and g.source == "challenger" and g.min is not None]
    return float(max(limits, default=0.0))


def train(wh: Warehouse, as_of: dt.date) -> ModelRef:
    import mlflow

    from ml import registry, tracking

    config = family_config.load()
    min_coverage = coverage_guardrail(config)
    outcome = train_recommender(training_data(wh, as_of, config), as_of, config, min_coverage)
    with tracking.start_run(NAME, as_of, run_name=f"{NAME}-{as_of}") as run:
        mlflow.log_param("min_coverage", min_coverage)
        model_uri = _log_outcome(outcome, config, as_of)
    metric = f"ndcg_at_{config.top_n}"
    description = (f"{outcome.winner} as of {as_of}: test {metric} {outcome.results[outcome.winner][metric]:.4f} "
                   f"(global popularity {outcome.results['popularity'][metric]:.4f})")
    ref = registry.register_challenger(model_uri, NAME, run.info.run_id, description)
    # rules, nothing learnt
    simple = outcome.winner in ("popularity", "recent_popularity", "repeat_purchase", "complete_the_basket")
    registry.tag_version(ref, {registry.KIND_TAG: f"{registry.BASELINE_KIND_PREFIX if simple else ''}{outcome.winner}"})
    return ref


def _log_outcome(outcome: TrainingOutcome, config: RecommenderConfig, as_of: dt.date) -> str:
    """Log one training run into the active MLflow run; return the logged model's URI."""
    import mlflow

    from ml import registry, tracking
    from ml.families.recommender.pyfunc import log_recommender

    final, k = outcome.recommender.train, config.top_n
    settings = {key: value for key, value in asdict(config).items() if key not in _NOT_LOGGED}
    mlflow.log_params({**settings, "als_grid": str(config.als_grid), "winner": outcome.winner})
    mlflow.log_params({f"als_{key}": value for key, value in outcome.als_params.items()})
    mlflow.log_params({"n_users": final.shape[0], "n_items": final.shape[1], "n_interactions": final.weights.nnz,
                       "n_active_items": int(outcome.recommender.allowed.sum())})
    # Side by side in one run: every candidate under its prefix, the registered winner unprefixed.
    mlflow.log_metrics({key: float(value) for key, value in outcome.results[outcome.winner].items()})
    if outcome.hybrid_params is not None:
        mlflow.log_params({f"hybrid_{key}": outcome.hybrid_params[key] for key in ("content_weight", "content_prior")})
    learnt = {"als": outcome.als_params, "hybrid": outcome.hybrid_params}
    for kind, metrics in outcome.results.items():
        prefix = f"{kind}_" if kind in learnt else f"baseline_{kind}_"
        mlflow.log_metrics({f"{prefix}{key}": float(value) for key, value in metrics.items()})
        with tracking.start_run(NAME, as_of, run_name=kind, nested=True, tags={registry.CANDIDATE_TAG: kind}):
            mlflow.log_params(learnt.get(kind) or {"kind": kind})
            mlflow.log_metrics({key: float(value) for key, value in metrics.items()})
    mlflow.log_metric(f"validation_best_ndcg_at_{k}", float(outcome.trials[f"ndcg_at_{k}"].max()))
    mlflow.log_table(outcome.trials, artifact_file="als_validation_trials.json")
    if outcome.blend_trials is not None:
        mlflow.log_table(outcome.blend_trials, artifact_file="hybrid_validation_trials.json")
    mlflow.log_dict(outcome.results, "test_split_metrics.json")
    return log_recommender(outcome.recommender)


def register_baseline(wh: Warehouse, as_of: dt.date, name: str) -> ModelRef:
    """Fit the baseline `name` on all history before D, log it and register it as a version."""
    import mlflow

    from ml import registry, tracking
    from ml.families.recommender.candidates import fit_model
    from ml.families.recommender.evaluate import evaluate_model
    from ml.families.recommender.pyfunc import log_recommender

    config = family_config.load()
    data = training_data(wh, as_of, config)
    test = data.test()  # what evaluate judged it on: fitted before D - h, graded on [D - h, D)
    measured = evaluate_model(fit_model(name, test.train, config), test, config)
    del test
    matrix, allowed = data.final()
    recommender = Recommender.fit(name, matrix, allowed, config, as_of, None)
    kind = f"{registry.BASELINE_KIND_PREFIX}{name}"
    with tracking.start_run(NAME, as_of, run_name=f"{name}-{as_of}", tags={registry.KIND_TAG: kind}) as run:
        mlflow.log_params({"kind": name, "n_users": matrix.shape[0], "n_items": matrix.shape[1]})
        mlflow.log_metrics({k: float(v) for k, v in measured.items()})
        model_uri = log_recommender(recommender)
    return registry.register_baseline(model_uri, NAME, run.info.run_id, name,
                                      f"{name} as of {as_of}: served because no learnt recommender beat it")
