"""Customer segmentation: K-means on scaled point-in-time features, plain functions on DataFrames.

k is chosen by the best silhouette over a range of k on a sample; segments are named from their
centroid profiles (recency, frequency, spend, tenure), so names follow the data whatever k is.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SEGMENT_FEATURES = ("recency_days", "frequency", "monetary", "avg_order_value", "tenure_days",
                    "distinct_products", "return_rate")
# Counts and money are heavy-tailed: log1p keeps a few big spenders from owning the distance.
LOG_FEATURES = ("recency_days", "frequency", "monetary", "avg_order_value", "tenure_days", "distinct_products")
K_RANGE = range(3, 9)
SILHOUETTE_SAMPLE = 4000
SEED = 42


def check_columns(frame: pd.DataFrame, required=SEGMENT_FEATURES) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise KeyError(f"segmentation needs feature column(s) {missing}; got {list(frame.columns)}")
    if frame.empty:
        raise ValueError("segmentation got no customers to work on")


def transform_features(frame: pd.DataFrame) -> np.ndarray:
    """The unscaled model input: log1p of heavy-tailed columns, negatives clipped to 0."""
    check_columns(frame)
    values = frame[list(SEGMENT_FEATURES)].astype("float64").fillna(0.0).clip(lower=0.0)
    for column in LOG_FEATURES:
        values[column] = np.log1p(values[column])
    return values.to_numpy()


def make_pipeline(k: int):
    from sklearn.cluster import KMeans
    from sklearn.pipeline import make_pipeline as sk_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    return sk_pipeline(FunctionTransformer(transform_features), StandardScaler(),
                       KMeans(n_clusters=k, n_init=10, random_state=SEED))


@dataclass
class KSelection:
    k: int
    silhouette_by_k: dict[int, float]


def choose_k(frame: pd.DataFrame, k_range=K_RANGE) -> KSelection:
    """The k with the best silhouette on a fixed sample (silhouette is O(n^2), so sample)."""
    from sklearn.metrics import silhouette_score

    sample = frame.sample(min(len(frame), SILHOUETTE_SAMPLE), random_state=SEED)
    scores = {}
    for k in k_range:
        if k >= len(sample):
            break
        pipeline = make_pipeline(k).fit(sample)
        scaled = pipeline[:-1].transform(sample)
        labels = pipeline[-1].labels_
        if len(set(labels)) < 2:
            continue
        scores[k] = float(silhouette_score(scaled, labels, random_state=SEED))
    if not scores:
        raise ValueError(f"too few customers ({len(frame)}) to segment")
    return KSelection(max(scores, key=scores.get), scores)


def profile_segments(frame: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """Median feature values and size per segment, in the units a marketer reads."""
    profile = frame[list(SEGMENT_FEATURES)].assign(segment_id=labels).groupby("segment_id").median()
    profile["customers"] = pd.Series(labels).value_counts().sort_index()
    profile["share"] = profile["customers"] / len(labels)
    return profile


def name_segments(profile: pd.DataFrame, overall: pd.Series) -> dict[int, str]:
    """Names from centroid profiles relative to the whole customer base, unique whatever k is.

    `overall` holds the base's medians of the same features; thresholds are stated in days where
    marketers think in days (at risk after 4 months without an order, lapsed after 9).
    """
    names = {}
    for segment_id, row in profile.iterrows():
        if row["recency_days"] > 270:
            name = "lapsed"
        elif row["recency_days"] > 120:
            name = "at risk"
        elif row["return_rate"] > 0.3:
            name = "frequent returners"
        elif row["tenure_days"] < 120 and row["frequency"] <= 3:
            name = "new"
        elif row["monetary"] >= 2 * overall["monetary"] and row["frequency"] >= overall["frequency"]:
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


def rfm_baseline_labels(frame: pd.DataFrame) -> np.ndarray:
    """The naive segmentation marketers use without ML: RFM score terciles summed into 4 groups."""
    check_columns(frame, ("recency_days", "frequency", "monetary"))

    def tercile(series: pd.Series, ascending: bool) -> pd.Series:
        ranked = series.rank(method="first", ascending=ascending, pct=True)
        return np.ceil(ranked * 3).clip(1, 3)

    score = (tercile(frame["recency_days"], ascending=False) + tercile(frame["frequency"], True)
             + tercile(frame["monetary"], True))
    return pd.cut(score, bins=[0, 4, 6, 8, 9], labels=False).to_numpy()


def evaluation_space(frame: pd.DataFrame) -> np.ndarray:
    """One common space in which every candidate segmentation is scored: standardised transforms."""
    values = transform_features(frame)
    std = values.std(axis=0)
    return (values - values.mean(axis=0)) / np.where(std > 0, std, 1.0)


def clustering_metrics(space: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import davies_bouldin_score, silhouette_score

    if len(set(labels)) < 2:
        return {"silhouette": -1.0, "davies_bouldin": float("inf"), "smallest_segment_share": 1.0}
    sample = min(len(labels), SILHOUETTE_SAMPLE)
    shares = pd.Series(labels).value_counts(normalize=True)
    return {
        "silhouette": float(silhouette_score(space, labels, sample_size=sample, random_state=SEED)),
        "davies_bouldin": float(davies_bouldin_score(space, labels)),
        "smallest_segment_share": float(shares.min()),
        "segments": float(len(shares)),
    }


def holdout_mask(customer_ids: pd.Series, share: float = 0.2) -> np.ndarray:
    """A stable customer holdout: the same customers are held out on every run (hash of the id)."""
    import zlib

    buckets = customer_ids.astype(str).map(lambda c: zlib.crc32(c.encode()) % 1000)
    return (buckets < share * 1000).to_numpy()
