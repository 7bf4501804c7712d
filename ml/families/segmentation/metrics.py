"""Clustering metrics in one common space, so every candidate segmentation is scored alike."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ml.families.segmentation.config import SegmentationConfig
from ml.families.segmentation.kmeans import transform_features


def evaluation_space(frame: pd.DataFrame) -> np.ndarray:
    """One common space in which every candidate segmentation is scored: standardised transforms."""
    values = transform_features(frame)
    std = values.std(axis=0)
    return (values - values.mean(axis=0)) / np.where(std > 0, std, 1.0)


def clustering_metrics(space: np.ndarray, labels: np.ndarray, config: SegmentationConfig) -> dict[str, float]:
    from sklearn.metrics import davies_bouldin_score, silhouette_score

    if len(set(labels)) < 2:
        return {"silhouette": -1.0, "davies_bouldin": float("inf"), "smallest_segment_share": 1.0}
    sample = min(len(labels), config.silhouette_sample)
    shares = pd.Series(labels).value_counts(normalize=True)
    return {
        "silhouette": float(silhouette_score(space, labels, sample_size=sample, random_state=config.seed)),
        "davies_bouldin": float(davies_bouldin_score(space, labels)),
        "smallest_segment_share": float(shares.min()),
        "segments": float(len(shares)),
    }
