"""Segmentation functions on small frames: k selection, naming from profiles, baseline, errors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.families.segmentation import kmeans as segmentation


def customers(profiles: list[dict], per_group: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for profile in profiles:
        for _ in range(per_group):
            rows.append({k: v * rng.uniform(0.9, 1.1) for k, v in profile.items()})
    return pd.DataFrame(rows)


LOYAL = dict(recency_days=7, frequency=40, monetary=9000, avg_order_value=220, tenure_days=600, distinct_products=80, return_rate=0.01)
LAPSED = dict(recency_days=400, frequency=2, monetary=60, avg_order_value=30, tenure_days=500, distinct_products=3, return_rate=0.2)
NEW = dict(recency_days=10, frequency=1, monetary=45, avg_order_value=45, tenure_days=20, distinct_products=2, return_rate=0.0)
AT_RISK = dict(recency_days=170, frequency=8, monetary=700, avg_order_value=90, tenure_days=400, distinct_products=15, return_rate=0.05)


def test_choose_k_finds_well_separated_groups():
    frame = customers([LOYAL, LAPSED, NEW, AT_RISK])
    selection = segmentation.choose_k(frame, range(2, 7))
    assert selection.k == 4
    assert selection.silhouette_by_k[4] == max(selection.silhouette_by_k.values())


def test_names_follow_the_profiles_not_the_cluster_numbers():
    frame = customers([LOYAL, LAPSED, NEW, AT_RISK])
    pipeline = segmentation.make_pipeline(4).fit(frame)
    names = segmentation.name_segments(segmentation.profile_segments(frame, pipeline[-1].labels_),
                                       frame.median())
    labelled = pd.Series(pipeline[-1].labels_).map(names)
    assert labelled.iloc[0] == "high-value loyal"
    assert labelled.iloc[60] == "lapsed"
    assert labelled.iloc[120] == "new"
    assert labelled.iloc[180] == "at risk"


def test_heavy_returners_get_their_own_name():
    profile = pd.DataFrame([dict(LOYAL), dict(LOYAL, return_rate=0.6)])
    assert segmentation.name_segments(profile, profile.median())[1] == "frequent returners"


def test_duplicate_names_are_told_apart_by_spend():
    profile = pd.DataFrame([dict(LAPSED, monetary=500), dict(LAPSED, monetary=50)]).assign(share=0.5)
    names = segmentation.name_segments(profile, profile.median())
    assert names == {0: "lapsed (higher spend)", 1: "lapsed (lower spend)"}


def test_rfm_baseline_ranks_best_customers_highest():
    frame = customers([LOYAL, LAPSED], per_group=30)
    labels = segmentation.rfm_baseline_labels(frame)
    assert labels[:30].mean() > labels[30:].mean()


def test_holdout_is_stable_and_about_the_requested_share():
    ids = pd.Series([str(i) for i in range(5000)])
    mask = segmentation.holdout_mask(ids)
    assert 0.17 < mask.mean() < 0.23
    assert (segmentation.holdout_mask(ids.iloc[::-1]) == mask[::-1]).all()


def test_missing_feature_and_empty_input_are_clear_errors():
    with pytest.raises(KeyError, match="return_rate"):
        segmentation.transform_features(pd.DataFrame([{k: 1 for k in LOYAL if k != "return_rate"}]))
    with pytest.raises(ValueError, match="no customers"):
        segmentation.transform_features(pd.DataFrame(columns=list(LOYAL)))
