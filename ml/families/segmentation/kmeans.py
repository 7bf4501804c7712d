"""K-means on scaled point-in-time features, plain functions on DataFrames.

k is chosen by the best silhouette over a range of k on a sample; segments are named from their
centroid profiles (recency, frequency, spend, tenure), so names follow the data whatever k is.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.families.segmentation.config import SegmentationConfig
from ml.families.segmentation.features import LOG_FEATURES, SEGMENT_FEATURES, check_columns


def transform_features(frame: pd.DataFrame) -> np.ndarray:
    """The unscaled model input: log1p of heavy-tailed columns, negatives clipped to 0."""
    check_columns(frame)
    values = frame[list(SEGMENT_FEATURES)].astype("float64").fillna(0.0).clip(lower=0.0)
    for column in LOG_FEATURES:
        values[column] = np.log1p(values[column])
    return values.to_numpy()


def make_pipeline(k: int, config: SegmentationConfig):
    from sklearn.cluster import KMeans
    from sklearn.pipeline import make_pipeline as sk_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    return sk_pipeline(FunctionTransformer(transform_features), StandardScaler(),
                       KMeans(n_clusters=k, n_init=config.kmeans_n_init, random_state=config.seed))


@dataclass
class KSelection:
    k: int
    silhouette_by_k: dict[int, float]


def choose_k(frame: pd.DataFrame, config: SegmentationConfig) -> KSelection:
    """The k with the best silhouette on a fixed sample (silhouette is O(n^2), so sample)."""
    from sklearn.metrics import silhouette_score

    sample = frame.sample(min(len(frame), config.silhouette_sample), random_state=config.seed)
    scores = {}
    for k in config.k_range:
        if k >= len(sample):
            break
        pipeline = make_pipeline(k, config).fit(sample)
        scaled = pipeline[:-1].transform(sample)
        labels = pipeline[-1].labels_
        if len(set(labels)) < 2:
            continue
        scores[k] = float(silhouette_score(scaled, labels, random_state=config.seed))
    if not scores:
        raise ValueError(f"too few customers ({len(frame)}) to segment")
    return KSelection(max(scores, key=scores.get), scores)


def profile_segments(frame: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """Median feature values and size per segment, in the units a marketer reads."""
    profile = frame[list(SEGMENT_FEATURES)].assign(segment_id=labels).groupby("segment_id").median()
    profile["customers"] = pd.Series(labels).value_counts().sort_index()
    profile["share"] = profile["customers"] / len(labels)
    return profile


def name_segments(profile: pd.DataFrame, overall: pd.Series, config: SegmentationConfig) -> dict[int, str]:
    """Names from centroid profiles relative to the whole customer base, unique whatever k is.

    `overall` holds the base's medians of the same features; the thresholds are the config's
    (by default at risk after 4 months without an order, lapsed after 9).
    """
    names = {}
    for segment_id, row in profile.iterrows():
        if row["recency_days"] > config.lapsed_after_days:
            name = "lapsed"
        elif row["recency_days"] > config.at_risk_after_days:
            name = "at risk"
        elif row["return_rate"] > config.returner_rate:
            name = "frequent returners"
        elif row["tenure_days"] < config.new_tenure_days and row["frequency"] <= config.new_max_frequency:
            name = "new"
        elif (row["monetary"] >= config.high_value_spend_ratio * overall["monetary"]
              and row["frequency"] >= overall["frequency"]):
            name = "high-value loyal"
        elif row["frequency"] >= overall["frequency"]:
            name = "loyal regulars"
        else:
            name = "occasional"
        names[int(segment_id)] = name
    # Segments sharing a label are told apart by spend.
    for name in set(names.values()):
        same = sorted((s for s, n in names.items() if n == name), key=lambda s: -profile.loc[s, "monetary"])
        if len(same) == 2:
            names[same[0]], names[same[1]] = f"{name} (higher spend)", f"{name} (lower spend)"
        elif len(same) > 2:
            for rank, segment_id in enumerate(same, start=1):
                names[segment_id] = f"{name} (spend rank {rank})"
    return names
