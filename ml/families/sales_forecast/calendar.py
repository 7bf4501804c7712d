"""Weeks (Monday starts), forecast origins and holiday weeks — calendar facts known in advance."""
from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np
import pandas as pd


def week_start(day: dt.date) -> dt.date:
    """The Monday on or before `day`."""
    return day - dt.timedelta(days=day.weekday())


def forecast_origin(as_of: dt.date) -> dt.date:
    """First forecast week for a run at `as_of`: the Monday on or before it.

    Features use only complete weeks before this Monday, so nothing at or after `as_of` is read. On a
    Monday schedule (the DAG's) the 4 forecast weeks are exactly the 4 weeks after `as_of`; on any
    other day the days since Monday are ignored rather than counted as a partial week.
    """
    if isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    return week_start(as_of)


def _easter(year: int) -> dt.date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 - the algorithm's name
    m = (a + 11 * h + 22 * l) // 451
    month = (h + l - 7 * m + 114) // 31
    day = (h + l - 7 * m + 114) % 31 + 1
    return dt.date(year, month, day)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """n-th (1-based; -1 = last) given weekday of a month."""
    if n > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


@lru_cache(maxsize=64)
def holidays(year: int) -> tuple[dt.date, ...]:
    """Retail-relevant holidays: UK bank holidays (the real export is a UK shop) plus Black Friday."""
    easter = _easter(year)
    return (
        dt.date(year, 1, 1),
        easter - dt.timedelta(days=2),  # Good Friday
        easter + dt.timedelta(days=1),  # Easter Monday
        _nth_weekday(year, 5, 0, 1),  # early May bank holiday
        _nth_weekday(year, 5, 0, -1),  # spring bank holiday
        _nth_weekday(year, 8, 0, -1),  # summer bank holiday
        _nth_weekday(year, 11, 3, 4) + dt.timedelta(days=1),  # Black Friday
        dt.date(year, 12, 25),
        dt.date(year, 12, 26),
    )


def calendar_features(weeks: pd.Series | pd.DatetimeIndex) -> pd.DataFrame:
    """week_of_year (ISO), holiday_week (0/1) and weeks_to_christmas for Monday week starts."""
    index = pd.DatetimeIndex(weeks)
    holiday_weeks = {
        week_start(day) for year in set(index.year) | set(index.year + 1) for day in holidays(int(year))
    }
    starts = [ts.date() for ts in index]
    christmas = [week_start(dt.date(d.year, 12, 25)) for d in starts]
    # After this year's Christmas week the next peak is next year's.
    to_christmas = [
        ((c if d <= c else week_start(dt.date(d.year + 1, 12, 25))) - d).days // 7
        for d, c in zip(starts, christmas)
    ]
    return pd.DataFrame(
        {
            "week_of_year": np.asarray(index.isocalendar().week, dtype="int64"),
            "holiday_week": np.array([int(d in holiday_weeks) for d in starts], dtype="int64"),
            "weeks_to_christmas": np.array(to_christmas, dtype="int64"),
        }
    )
