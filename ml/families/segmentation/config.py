"""Segmentation's hyper-parameters: defaults here, overrides in config/families/segmentation.yaml."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ml.families.config import load_config

NAME = "segmentation"


@dataclass(frozen=True)
class SegmentationConfig:
    k_min: int = 3  # smallest k tried
    k_max: int = 8  # largest k tried (inclusive); k is the best silhouette in between
    kmeans_n_init: int = 10  # K-means restarts per fit; the best inertia is kept
    silhouette_sample: int = 4000  # customers the silhouette is computed on (it is O(n^2))
    seed: int = 42  # K-means, the silhouette sample and the metrics
    holdout_share: float = 0.2  # share of customers (stable hash of the id) never fitted on
    min_holdout_customers: int = 10  # fewer held-out customers than this and evaluate refuses
    score_batch_rows: int = 50_000  # customers read and scored per batch
    # Naming from the segment medians (days where marketers think in days):
    lapsed_after_days: int = 270  # recency above this: "lapsed" (9 months without an order)
    at_risk_after_days: int = 120  # recency above this: "at risk" (4 months)
    returner_rate: float = 0.3  # return rate above this: "frequent returners"
    new_tenure_days: int = 120  # tenure below this, with at most new_max_frequency orders: "new"
    new_max_frequency: int = 3
    high_value_spend_ratio: float = 2.0  # spend at least this times the base's median: "high-value loyal"
    # The plain rule per segment (rules.py): a tree this deep, one segment against the rest; a leaf
    # holds at least this share of the segment's size; thresholds at most this many significant digits.
    rule_max_depth: int = 3
    rule_min_leaf_share: float = 0.05
    rule_significant_digits: int = 2

    @property
    def k_range(self) -> range:
        return range(self.k_min, self.k_max + 1)


def load(path: Path | None = None) -> SegmentationConfig:
    return load_config(NAME, SegmentationConfig, path)
