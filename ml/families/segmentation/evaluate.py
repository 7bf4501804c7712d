"""Challenger, champion and the RFM baseline on the stable holdout, in one common feature space.

The holdout is a stable share of customers (hash of the id) as of D, never used for fitting; the
adjusted Rand index between challenger and champion on those customers is the stability guardrail.
"""
from __future__ import annotations

import datetime as dt

from ml.families.base import Evaluation, ModelRef
from ml.families.segmentation import config
from ml.families.segmentation.features import SEGMENT_FEATURES, train_and_holdout
from ml.families.segmentation.metrics import clustering_metrics, evaluation_space
from ml.families.segmentation.pyfunc import load
from ml.families.segmentation.rfm import rfm_baseline_labels
from ml.warehouse import Warehouse


def evaluate(wh: Warehouse, as_of: dt.date, challenger: ModelRef, champion: ModelRef | None) -> Evaluation:
    cfg = config.load()
    train, holdout = train_and_holdout(wh, as_of, cfg)
    if len(holdout) < cfg.min_holdout_customers:
        raise ValueError(f"only {len(holdout)} holdout customers as of {as_of}; too few to compare segmentations")
    inputs = holdout[list(SEGMENT_FEATURES)]
    space = evaluation_space(holdout)
    challenger_labels = load(challenger).predict(inputs)["segment_id"].to_numpy()
    result = Evaluation(
        challenger=clustering_metrics(space, challenger_labels, cfg),
        baseline=clustering_metrics(space, rfm_baseline_labels(holdout, fitted_on=train), cfg),
        baseline_name="rfm",
        holdout=f"{len(holdout)} held-out active customers (stable {cfg.holdout_share:.0%} by id hash) as of {as_of}",
    )
    if champion is not None:
        from sklearn.metrics import adjusted_rand_score

        champion_labels = load(champion).predict(inputs)["segment_id"].to_numpy()
        result.champion = clustering_metrics(space, champion_labels, cfg)
        result.pairwise = {"adjusted_rand_vs_champion": float(adjusted_rand_score(champion_labels, challenger_labels))}
    return result


def register_baseline(wh: Warehouse, as_of: dt.date, name: str) -> ModelRef:
    """Fit the RFM terciles on the training customers as of D, log and register them as a version."""
    import mlflow

    from ml import registry, tracking
    from ml.families.segmentation.config import NAME
    from ml.families.segmentation.pyfunc import log_model
    from ml.families.segmentation.rfm import GROUP_NAMES, RFM_COLUMNS, RfmSegmenter
    from ml.families.segmentation.rules import fit_rules, log_rules

    if name != "rfm":
        raise ValueError(f"segmentation has one baseline, 'rfm', not {name!r}")
    cfg = config.load()
    train, holdout = train_and_holdout(wh, as_of, cfg)
    segmenter = RfmSegmenter.fit(train)
    # RFM groups are cut on recency, frequency and spend alone, so their rules use only those
    segmenter.rules = fit_rules(train, segmenter.labels(train), GROUP_NAMES, cfg, RFM_COLUMNS)
    measured = clustering_metrics(evaluation_space(holdout), segmenter.labels(holdout), cfg) if len(holdout) else {}
    kind = f"{registry.BASELINE_KIND_PREFIX}rfm"
    with tracking.start_run(NAME, as_of, run_name=f"rfm-{as_of}", tags={registry.KIND_TAG: kind}) as run:
        mlflow.log_params({"algorithm": "rfm_terciles", "features": ",".join(RFM_COLUMNS),
                           "training_customers": len(train), "as_of_date": as_of.isoformat(),
                           **{f"cut_{c}": ",".join(f"{q:.4g}" for q in v) for c, v in segmenter.cuts.items()}})
        # on the same held-out customers; inf (one segment only) is no metric MLflow can plot
        mlflow.log_metrics({k: float(v) for k, v in measured.items() if abs(float(v)) != float("inf")})
        mlflow.log_param("rule_max_depth", cfg.rule_max_depth)
        log_rules(segmenter.rules)
        info = log_model(segmenter, train[list(SEGMENT_FEATURES)].head(5))
    return registry.register_baseline(info.model_uri, NAME, run.info.run_id, "rfm",
                                      f"RFM terciles as of {as_of}: served because K-means did not beat them")
