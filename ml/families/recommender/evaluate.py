"""Time-based evaluation: fit on history before a cut-off, rank, compare with purchases after it.

A `Split` is what one backtest needs: the training matrix (history before the cut-off), the holdout
purchases aligned with it, and which items were still sold at the cut-off. Hyper-parameters are
chosen on the validation split (cut-off D-2h) and judged on the test split (cut-off D-h), so the
number reported for the winner was not used to pick it.

The family's `evaluate` refits challenger's and champion's recipes on history before D-h and grades
both on purchases in [D-h, D), next to the global-popularity baseline.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ml.families.base import Evaluation, ModelRef
from ml.families.recommender import config as family_config
from ml.families.recommender import features
from ml.families.recommender.candidates import BASELINE_KINDS, FittedModel, fit_hybrid, fit_model, recommend_rows
from ml.families.recommender.config import RecommenderConfig
from ml.families.recommender.content import content_vectors, read_catalogue
from ml.families.recommender.interactions import InteractionMatrix, among, build_matrix, build_relevance, widen
from ml.families.recommender.metrics import (
    catalogue_coverage,
    intra_list_diversity,
    new_product_share,
    novelty,
    ranking_metrics,
)
from ml.families.recommender.model import Recommender
from ml.warehouse import Warehouse


@dataclass(frozen=True)
class Split:
    cutoff: dt.date
    train: InteractionMatrix  # widened to every product on sale at the cut-off (interactions.widen)
    relevance: sp.csr_matrix  # holdout purchases, rows/columns as in `train`
    allowed: np.ndarray  # bool per item of `train`: still sold at the cut-off
    rules: pd.DataFrame | None = None  # association rules mined before the cut-off (complete_the_basket)
    catalogue: pd.DataFrame | None = None  # raw.products (the hybrid; diversity's item vectors)
    new_items: np.ndarray | None = None  # bool per item: first sold within new_product_days of the cut-off

    @functools.cached_property
    def content(self) -> sp.csr_matrix:
        """Item content vectors (`content.content_vectors`), computed once per split."""
        return content_vectors(self.train.items, self.catalogue)


def make_split(
    interactions: pd.DataFrame,
    holdout: pd.DataFrame,
    active_products,
    cutoff: dt.date,
    config: RecommenderConfig,
    catalogue: pd.DataFrame | None = None,
    first_sold: pd.DataFrame | None = None,
) -> Split:
    """Assemble one backtest from the interaction rows at `cutoff` and the purchases after it."""
    return split_from_matrix(build_matrix(interactions, cutoff, config), holdout, active_products, cutoff,
                             config, catalogue, first_sold)


def split_from_matrix(train: InteractionMatrix, holdout: pd.DataFrame, active_products, cutoff: dt.date,
                      config: RecommenderConfig | None = None, catalogue: pd.DataFrame | None = None,
                      first_sold: pd.DataFrame | None = None) -> Split:
    """One backtest from a training matrix already built (e.g. streamed from the warehouse), widened to
    the products on sale. `first_sold` (product_id, first_sold) dates the new products; without it the
    products nobody interacted with before the cut-off count as new."""
    active_products = list(active_products)
    train = widen(train, active_products)
    return Split(cutoff, train, build_relevance(holdout, train), among(train.items, active_products),
                 catalogue=catalogue, new_items=new_items(train, cutoff, config or RecommenderConfig(), first_sold))


def new_items(train: InteractionMatrix, cutoff: dt.date, config: RecommenderConfig,
              first_sold: pd.DataFrame | None) -> np.ndarray:
    """Bool per item: first sold on or after cutoff - new_product_days (or never sold before it)."""
    if first_sold is None:
        return np.diff(train.weights.tocsc().indptr) == 0
    dates = pd.Series(pd.to_datetime(first_sold["first_sold"]).to_numpy(),
                      index=first_sold["product_id"].astype(str))
    first = pd.Series(train.items, dtype=object).map(dates)
    since = pd.Timestamp(cutoff - dt.timedelta(days=config.new_product_days))
    return (first.isna() | (first >= since)).to_numpy(dtype=bool)


def read_split(wh: Warehouse, cutoff: dt.date, end: dt.date, config: RecommenderConfig,
               max_users: int | None = None, with_rules: bool = True) -> Split:
    """The backtest at `cutoff` from the warehouse: its interaction partition (a hash sample of
    `max_users` customers, if given), graded on purchases in [cutoff, end), with the catalogue, the
    products' first sales and the association rules of the baskets before `cutoff` (mined here, not
    stored: the mart holds D's)."""
    from dataclasses import replace

    from ml.families.recommender.associations import pair_rules_sql

    split = split_from_matrix(
        features.read_interactions(wh, cutoff, config, max_users),
        wh.query(features.holdout_sql(cutoff, end)),
        features.active_products(wh, cutoff, config),
        cutoff,
        config,
        read_catalogue(wh),
        wh.query(features.first_sales_sql(cutoff)),
    )
    if not with_rules:
        return split
    sellable = features.active_items_query(wh, cutoff, config)
    return replace(split, rules=wh.query(pair_rules_sql(cutoff, config.associations, sellable)))


def evaluate_model(model: FittedModel, split: Split, config: RecommenderConfig) -> dict[str, float]:
    """Ranking metrics at `top_n`, catalogue coverage, novelty, the new products' share and (with a
    catalogue) intra-list diversity, over customers with holdout purchases (see `metrics`).

    When repurchases are not allowed, items the customer already had are neither recommended nor
    counted as relevant, so customers who only rebought drop out of the average.
    """
    relevance = split.relevance
    if not config.allow_repurchase:
        relevance = (relevance - relevance.multiply(split.train.weights > 0)).tocsr()
        relevance.eliminate_zeros()
    rows = np.flatnonzero(np.diff(relevance.indptr) > 0)
    k = config.top_n
    recommended = np.full((len(rows), k), -1, dtype=np.int64)
    done = 0
    for batch, items, _ in recommend_rows(model, split.train, rows, config, allowed=split.allowed):
        recommended[done : done + len(batch)] = items
        done += len(batch)
    metrics = ranking_metrics(recommended, relevance[rows], k)
    metrics[f"coverage_at_{k}"] = catalogue_coverage(recommended, int(split.allowed.sum()))
    metrics[f"novelty_at_{k}"] = novelty(recommended, split.train.weights)
    if split.new_items is not None:
        metrics[f"new_product_share_at_{k}"] = new_product_share(recommended, split.new_items)
    if split.content.shape[1]:  # no catalogue data, no item vectors to compare
        metrics[f"diversity_at_{k}"] = intra_list_diversity(recommended, split.content)
    return metrics


def candidate_params(config: RecommenderConfig, n_items: int | None = None) -> list[dict]:
    """The ALS grid, sampled down to `max_trials` points with the config's seed.

    With `n_items`, factor counts above n_items / 4 are dropped (the smallest always stays): a
    factorisation nearly as wide as the catalogue just memorises it, and costs more to fit.
    """
    grid_values = dict(config.als_grid)
    if n_items is not None and "factors" in grid_values:
        factors = sorted(grid_values["factors"])
        grid_values["factors"] = tuple(f for f in factors if f <= max(n_items // 4, factors[0]))
    keys = sorted(grid_values)
    grid = [dict(zip(keys, values)) for values in itertools.product(*(grid_values[k] for k in keys))]
    if len(grid) <= config.max_trials:
        return grid
    picked = np.random.default_rng(config.seed).choice(len(grid), size=config.max_trials, replace=False)
    return [grid[i] for i in sorted(picked)]


def tune_als(validation: Split, config: RecommenderConfig) -> tuple[dict, pd.DataFrame]:
    """Pick ALS hyper-parameters by NDCG on the validation split.

    Returns the best parameters and one row per trial (parameters + metrics) for logging.
    """
    trials = []
    for params in candidate_params(config, validation.train.shape[1]):
        model = fit_model("als", validation.train, config, params)
        trials.append((model.params, evaluate_model(model, validation, config)))
    metric = f"ndcg_at_{config.top_n}"
    # Highest NDCG; on a tie the earlier grid point (fewer factors), i.e. the cheaper model.
    best_index = int(np.argmax([metrics[metric] for _, metrics in trials]))
    table = pd.DataFrame([{**params, **metrics} for params, metrics in trials])
    return _plain(trials[best_index][0]), table


def tune_blend(validation: Split, als_params: dict, config: RecommenderConfig) -> tuple[dict, pd.DataFrame]:
    """Pick the hybrid's content weight and prior by NDCG on the validation split, on one ALS fit
    with the tuned parameters (the holdout never sees the choice). Ties: the earlier grid point
    (smaller prior, smaller weight: closer to ALS).

    Returns the hybrid's parameters (ALS's plus `content_weight`, `content_prior`) and one row per
    point tried.
    """
    base = fit_hybrid(fit_model("als", validation.train, config, als_params), validation.train, {},
                      validation.catalogue)
    trials = []
    for prior, weight in itertools.product(config.content_prior_grid, config.content_weight_grid):
        model = dataclasses.replace(base, params={**base.params, "content_weight": float(weight),
                                                  "content_prior": float(prior)})
        trials.append((model.params, evaluate_model(model, validation, config)))
    metric = f"ndcg_at_{config.top_n}"
    best_index = int(np.argmax([metrics[metric] for _, metrics in trials]))
    table = pd.DataFrame([{**params, **metrics} for params, metrics in trials])
    return _plain(trials[best_index][0]), table


def compare_candidates(
    test: Split, als_params: dict, config: RecommenderConfig, min_coverage: float = 0.0,
    hybrid_params: dict | None = None,
) -> tuple[str, dict[str, dict[str, float]]]:
    """Fit ALS, the hybrid (with the blend of `hybrid_params`, when given) and the baselines on the test split;
    return the winner and every candidate's metrics.

    The winner has the best NDCG among candidates whose catalogue coverage reaches `min_coverage`
    (the promotion guardrail: registering a model that must fail it would leave no champion), or
    among all of them if none does. On equal NDCG the earlier of ("als", "hybrid", *BASELINE_KINDS) wins.
    """
    results = {}
    als = fit_model("als", test.train, config, als_params)
    results["als"] = evaluate_model(als, test, config)
    if hybrid_params is not None:  # the same ALS fit underneath: the blend is all that differs
        hybrid = fit_hybrid(als, test.train, hybrid_params, test.catalogue)
        results["hybrid"] = evaluate_model(hybrid, test, config)
    del als
    for kind in BASELINE_KINDS:
        results[kind] = evaluate_model(fit_model(kind, test.train, config, None, test.rules), test, config)
    metric, coverage = f"ndcg_at_{config.top_n}", f"coverage_at_{config.top_n}"
    eligible = [kind for kind in results if results[kind][coverage] >= min_coverage] or list(results)
    winner = max(eligible, key=lambda kind: (results[kind][metric], -list(results).index(kind)))
    return winner, results


def _plain(params: dict) -> dict:
    """numpy scalars -> Python numbers, so parameters log and pickle cleanly."""
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in params.items()}


# -- champion / challenger -------------------------------------------------------------------------
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
        refitted = recommender.refit(split.train, split.allowed, split.cutoff, split.rules, split.catalogue)
        metrics[name] = evaluate_model(refitted.model, split, config)
        batches = recommend_rows(refitted.model, split.train, rows, config, allowed=split.allowed)
        lists[name] = [items for _, items, _ in batches]
    pairwise = {}
    if len(lists) == 2 and len(rows):
        a, b = (np.concatenate(batches) for batches in lists.values())
        overlap = [len(set(x[x >= 0]) & set(y[y >= 0])) / max(1, (x >= 0).sum()) for x, y in zip(a, b)]
        pairwise["list_overlap"] = float(np.mean(overlap))
    return metrics, pairwise


def evaluate(wh: Warehouse, as_of: dt.date, challenger: ModelRef, champion: ModelRef | None) -> Evaluation:
    from ml.pyfunc import load_predictor

    config = family_config.load()
    split = read_split(wh, config.cutoffs(as_of)["test"], as_of, config)
    holdout_customers = int((np.diff(split.relevance.indptr) > 0).sum())
    if holdout_customers < 10:
        raise ValueError(f"only {holdout_customers} customers with purchases in [{split.cutoff}, {as_of}); "
                         "too few to compare recommenders")
    models = {"challenger": load_predictor(challenger.uri)}
    if champion is not None:
        models["champion"] = load_predictor(champion.uri)
    metrics, pairwise = evaluate_recommenders(models, split, config)
    # The rules an analyst writes in SQL; item cosine is a learnt candidate of `train`, not one of them.
    simple = {kind: evaluate_model(fit_model(kind, split.train, config), split, config)
              for kind in ("popularity", "recent_popularity", "repeat_purchase")}
    metric = f"ndcg_at_{config.top_n}"
    best = max(simple, key=lambda kind: simple[kind][metric])
    holdout = (f"purchases in [{split.cutoff}, {as_of}) by {holdout_customers} customers with history before "
               f"{split.cutoff}; every model refitted on that history; best baseline {best} ("
               + ", ".join(f"{kind} {m[metric]:.4f}" for kind, m in simple.items()) + ")")
    return Evaluation(challenger=metrics["challenger"], champion=metrics.get("champion"), baseline=simple[best],
                      pairwise=pairwise, holdout=holdout, baseline_name=best)
