"""Drift inputs: product-weeks of the active window (`active_weeks`, what the lags and means read)
before the champion's forecast origin and before the scored date's, from the weekly panel."""
from __future__ import annotations

import datetime as dt

from ml.families.base import DriftFrames
from ml.families.sales_forecast import features
from ml.families.sales_forecast.calendar import forecast_origin
from ml.families.sales_forecast.config import load
from ml.sql import date_literal

NUMERIC = ("units", "gross_units", "gross_revenue", "n_buyers", "n_lines")


def _read(wh, day: dt.date, weeks: int):
    if not features.has_partition(wh, day):
        features.build_features(wh, day)  # point in time: the panel that day's training read
    origin = forecast_origin(day)
    return wh.query(f"SELECT {', '.join(NUMERIC)} FROM {features.PANEL} WHERE as_of_date = {date_literal(day)} "
                    f"AND week_start >= {date_literal(origin - dt.timedelta(weeks=weeks))} "
                    f"AND week_start < {date_literal(origin)}")


def drift_inputs(wh, trained_as_of: dt.date, as_of: dt.date) -> DriftFrames:
    weeks = load().active_weeks
    return DriftFrames(_read(wh, trained_as_of, weeks), _read(wh, as_of, weeks), list(NUMERIC),
                       reference_note=f"product-weeks of the {weeks} weeks before {forecast_origin(trained_as_of)}")
