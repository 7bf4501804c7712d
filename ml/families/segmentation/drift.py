"""Drift inputs: the segmentation features of the customers active at the champion's as-of date (what
K-means was fitted on, holdout included) and at the scored date, a hash sample of each."""
from __future__ import annotations

import datetime as dt

from ml import catalog
from ml import features as user_features
from ml.drift.compare import hash_sample_sql
from ml.families.base import DriftFrames
from ml.families.segmentation.features import SEGMENT_FEATURES
from ml.sql import date_literal


def _read(wh, day: dt.date):
    table = catalog.USER_FEATURES
    if not wh.table_exists(table) or not wh.row_count(table, f"as_of_date = {date_literal(day)}"):
        user_features.build_user_features(wh, day)  # point in time: the rows training read
    where = f"as_of_date = {date_literal(day)} AND is_active"
    sample = hash_sample_sql("customer_id", wh.row_count(table, where))
    return wh.query(f"SELECT {', '.join(SEGMENT_FEATURES)} FROM {table} WHERE {where} AND {sample}")


def drift_inputs(wh, trained_as_of: dt.date, as_of: dt.date) -> DriftFrames:
    return DriftFrames(_read(wh, trained_as_of), _read(wh, as_of), list(SEGMENT_FEATURES),
                       reference_note=f"customers active at {trained_as_of}")
