"""Segmentation's reading of the user features: the stable id-hash holdout."""
from __future__ import annotations

import pandas as pd

from ml.families.segmentation.config import SegmentationConfig
from ml.families.segmentation.features import holdout_mask

SHARE = SegmentationConfig().holdout_share


def test_holdout_is_stable_and_about_the_requested_share():
    ids = pd.Series([str(i) for i in range(5000)])
    mask = holdout_mask(ids, SHARE)
    assert 0.17 < mask.mean() < 0.23
    assert (holdout_mask(ids.iloc[::-1], SHARE) == mask[::-1]).all()
