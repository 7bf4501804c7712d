"""Segmentation's reading of the shared user features: the columns it needs, its stable holdout.

The table itself (features.user_features) is written by `ml.features`, shared with other families.
"""
from __future__ import annotations

import datetime as dt
import zlib

import numpy as np
import pandas as pd

from ml import catalog
from ml import features as user_features
from ml.families.segmentation.config import SegmentationConfig
from ml.sql import date_literal, require_columns
from ml.warehouse import Warehouse

SEGMENT_FEATURES = ("recency_days", "frequency", "monetary", "avg_order_value", "tenure_days",
                    "distinct_products", "return_rate")
# Counts and money are heavy-tailed: log1p keeps a few big spenders from owning the distance.
LOG_FEATURES = ("recency_days", "frequency", "monetary", "avg_order_value", "tenure_days", "distinct_products")


def build_features(wh: Warehouse, as_of: dt.date) -> list[str]:
    user_features.build_user_features(wh, as_of)
    return [catalog.USER_FEATURES]


def check_columns(frame: pd.DataFrame, required=SEGMENT_FEATURES) -> None:
    require_columns(frame, required, "segmentation input")
    if frame.empty:
        raise ValueError("segmentation got no customers to work on")


def holdout_mask(customer_ids: pd.Series, share: float) -> np.ndarray:
    """A stable customer holdout: the same customers are held out on every run (hash of the id)."""
    buckets = customer_ids.astype(str).map(lambda c: zlib.crc32(c.encode()) % 1000)
    return (buckets < share * 1000).to_numpy()


def train_and_holdout(wh: Warehouse, as_of: dt.date, config: SegmentationConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Active customers as of `as_of`, split into the fitting rows and the stable holdout."""
    frame = user_features.read_user_features(wh, as_of, active_only=True)
    check_columns(frame)
    held_out = holdout_mask(frame["customer_id"], config.holdout_share)
    return frame[~held_out].reset_index(drop=True), frame[held_out].reset_index(drop=True)


def scoring_sql(as_of: dt.date) -> str:
    """Every active customer as of `as_of` with the model's inputs, in customer order."""
    return (f"SELECT customer_id, {', '.join(SEGMENT_FEATURES)} FROM {catalog.USER_FEATURES} "
            f"WHERE as_of_date = {date_literal(as_of)} AND is_active ORDER BY customer_id")
