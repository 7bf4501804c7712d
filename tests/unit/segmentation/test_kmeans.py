"""K-means functions on small frames: k selection, naming from profiles, input errors."""
from __future__ import annotations

import pandas as pd
import pytest

from ml.families.segmentation import kmeans
from ml.families.segmentation.config import SegmentationConfig
from ml.sql import MissingColumns
from tests.unit.segmentation.customers import AT_RISK, LAPSED, LOYAL, NEW, customers

CONFIG = SegmentationConfig()


def test_choose_k_finds_well_separated_groups():
    frame = customers([LOYAL, LAPSED, NEW, AT_RISK])
    selection = kmeans.choose_k(frame, SegmentationConfig(k_min=2, k_max=6))
    assert selection.k == 4
    assert selection.silhouette_by_k[4] == max(selection.silhouette_by_k.values())


def test_names_follow_the_profiles_not_the_cluster_numbers():
    frame = customers([LOYAL, LAPSED, NEW, AT_RISK])
    pipeline = kmeans.make_pipeline(4, CONFIG).fit(frame)
    names = kmeans.name_segments(kmeans.profile_segments(frame, pipeline[-1].labels_), frame.median(), CONFIG)
    labelled = pd.Series(pipeline[-1].labels_).map(names)
    assert labelled.iloc[0] == "high-value loyal"
    assert labelled.iloc[60] == "lapsed"
    assert labelled.iloc[120] == "new"
    assert labelled.iloc[180] == "at risk"


def test_heavy_returners_get_their_own_name():
    profile = pd.DataFrame([dict(LOYAL), dict(LOYAL, return_rate=0.6)])
    assert kmeans.name_segments(profile, profile.median(), CONFIG)[1] == "frequent returners"


def test_duplicate_names_are_told_apart_by_spend():
    profile = pd.DataFrame([dict(LAPSED, monetary=500), dict(LAPSED, monetary=50)]).assign(share=0.5)
    names = kmeans.name_segments(profile, profile.median(), CONFIG)
    assert names == {0: "lapsed (higher spend)", 1: "lapsed (lower spend)"}


def test_missing_feature_and_empty_input_are_clear_errors():
    with pytest.raises(MissingColumns, match="return_rate"):
        kmeans.transform_features(pd.DataFrame([{k: 1 for k in LOYAL if k != "return_rate"}]))
    with pytest.raises(ValueError, match="no customers"):
        kmeans.transform_features(pd.DataFrame(columns=list(LOYAL)))
