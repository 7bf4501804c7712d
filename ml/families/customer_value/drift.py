"""Drift inputs: customers' model inputs at the cutoff the champion was fitted on (the one before its
as-of date, see `train`) and at the scored date, a hash sample of each."""
from __future__ import annotations

import datetime as dt

from ml.drift.compare import hash_sample_sql
from ml.families.base import DriftFrames
from ml.families.customer_value.features import FEATURES, MODEL_INPUT_COLUMNS, table_cutoffs
from ml.sql import date_literal


def _read(wh, as_of: dt.date, cutoff: dt.date):
    where = f"as_of_date = {date_literal(as_of)} AND cutoff_date = {date_literal(cutoff)}"
    sample = hash_sample_sql("customer_id", wh.row_count(FEATURES, where))
    return wh.query(f"SELECT {', '.join(MODEL_INPUT_COLUMNS)} FROM {FEATURES} WHERE {where} AND {sample}")


def drift_inputs(wh, trained_as_of: dt.date, as_of: dt.date) -> DriftFrames:
    cutoffs = table_cutoffs(wh, trained_as_of)  # built first where missing: point in time, the same rows
    fitted_on = cutoffs[-2] if len(cutoffs) > 1 else cutoffs[-1]
    current = _read(wh, as_of, table_cutoffs(wh, as_of)[-1])
    return DriftFrames(_read(wh, trained_as_of, fitted_on), current, list(MODEL_INPUT_COLUMNS),
                       reference_note=f"customers with a purchase before the fitting cutoff {fitted_on}")
