"""Drift inputs: the static features and the weekly sequence as per-channel totals, at the champion's
training origins (as its version's as-of partition stored them) and at the scored date.

The 52-week sequence is 364 columns of mostly zeros; its totals over the last 4 and 52 weeks carry the
same shift and keep the report readable.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd

from ml.drift.compare import SAMPLE_ROWS
from ml.families.base import DriftFrames
from ml.families.propensity import features
from ml.families.propensity.config import load
from ml.families.propensity.inputs import CHANNELS, STATIC_FEATURES
from ml.families.propensity.labels import plan_origins

RECENT_WEEKS = 4


def summarise(inputs: pd.DataFrame, weeks: int) -> pd.DataFrame:
    """Static features plus, per channel, the totals of the last RECENT_WEEKS and of all `weeks`."""
    out = inputs[list(STATIC_FEATURES)].copy()
    for channel in CHANNELS:
        out[f"{channel}_{RECENT_WEEKS}w"] = inputs[[f"seq_{channel}_l{lag:02d}" for lag in range(RECENT_WEEKS)]].sum(1)
        out[f"{channel}_{weeks}w"] = inputs[[f"seq_{channel}_l{lag:02d}" for lag in range(weeks)]].sum(1)
    return out


def drift_inputs(wh, trained_as_of: dt.date, as_of: dt.date) -> DriftFrames:
    config = load()
    _, origins = plan_origins(trained_as_of, config)
    for day, origin in ((trained_as_of, origins[0]), (as_of, as_of)):
        if not features.has_origin(wh, day, origin):
            features.build_features(wh, day)  # point in time: the same rows the training run wrote
    stored = set(features.list_origins(wh, trained_as_of))
    used = [o for o in origins if o in stored]
    per_origin = max(1, SAMPLE_ROWS // len(used))
    reference = pd.concat([features.read_examples(wh, trained_as_of, o, weeks=config.weeks,
                                                  max_customers=per_origin).inputs for o in used])
    current = features.read_examples(wh, as_of, as_of, weeks=config.weeks, max_customers=SAMPLE_ROWS).inputs
    reference, current = summarise(reference, config.weeks), summarise(current, config.weeks)
    return DriftFrames(reference, current, list(current.columns),
                       reference_note=f"customers active at the training origins {min(used)}..{max(used)}")
