"""One training run end to end, on prepared splits: tune ALS on validation, compare ALS with the
baselines on test, refit the winner on all history; and the fair comparison of registered models.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.families.recommender.config import RecommenderConfig
from ml.families.recommender.evaluation import Split, compare_candidates, evaluate_model, recommend_rows, tune_als
from ml.families.recommender.interactions import InteractionMatrix
from ml.families.recommender.recommender import Recommender


@dataclass
class TrainingOutcome:
    als_params: dict  # chosen on the validation split
    trials: pd.DataFrame  # one row per validation trial
    results: dict[str, dict[str, float]]  # test-split metrics of ALS and every baseline
    winner: str  # kind with the best test NDCG (coverage permitting): the one registered
    recommender: Recommender  # the winner refitted on all history before as_of


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
    # Each input is passed straight into its step and held by nothing else, so it is freed when
    # the step returns: at most one matrix is alive at a time.
    als_params, trials = tune_als(data.validation(), config)
    winner, results = compare_candidates(data.test(), als_params, config, min_coverage)
    params = als_params if winner == "als" else None
    recommender = Recommender.fit(winner, *data.final(), config, as_of, params)
    return TrainingOutcome(als_params, trials, results, winner, recommender)


def evaluate_recommenders(
    recommenders: dict[str, Recommender], split: Split, config: RecommenderConfig
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Refit each registered recommender's recipe on `split.train` and score the same holdout,
    under one evaluation setting (`config`: top_n, allow_repurchase) for all of them.

    Refitting is what makes the comparison fair: the newest model was fitted on history that
    includes the holdout, so its stored factors would be graded on answers it has seen.
    Returns metrics per name and, for exactly two recommenders, their mean top-k list overlap.
    """
    metrics, lists = {}, {}
    rows = np.flatnonzero(np.diff(split.relevance.indptr) > 0)
    for name, recommender in recommenders.items():
        refitted = recommender.refit(split.train, split.allowed, split.cutoff)
        metrics[name] = evaluate_model(refitted.model, split, config)
        batches = recommend_rows(refitted.model, split.train, rows, config, allowed=split.allowed)
        lists[name] = [items for _, items, _ in batches]
    pairwise = {}
    if len(lists) == 2 and len(rows):
        a, b = (np.concatenate(batches) for batches in lists.values())
        overlap = [len(set(x[x >= 0]) & set(y[y >= 0])) / max(1, (x >= 0).sum()) for x, y in zip(a, b)]
        pairwise["list_overlap"] = float(np.mean(overlap))
    return metrics, pairwise
