"""The sales forecast's outcomes against a tiny shop scored by hand."""
from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from ml import catalog
from ml.families.sales_forecast.outcomes import baseline_forecasts, outcomes
from ml.warehouse import connect
from tests.helpers import load, order_lines

D = dt.date(2024, 3, 4)  # a Monday: the forecast weeks are 03-04, 03-11, 03-18, 03-25
WEEKS = [D + dt.timedelta(weeks=h) for h in range(4)]
# P1: net 4 units in each of the 4 weeks before D (one week 5 sold, 1 returned), nothing in the 4 before.
# P2: 8 units to a guest in the week of 01-15 only. History starts 2024-01-08: no week 52 weeks back.
HISTORY = [
    ("h1", "P1", 4, 1.0, "2024-02-05 10:00", "c1"),
    ("h2", "P1", 4, 1.0, "2024-02-13 10:00", "c2"),
    ("h3", "P1", 5, 1.0, "2024-02-19 10:00", "c1"),
    ("Ch3", "P1", -1, 1.0, "2024-02-21 10:00", "c1"),
    ("h4", "P1", 4, 1.0, "2024-03-03 23:00", "c3"),
    ("h5", "P2", 8, 1.0, "2024-01-15 10:00", None),
    ("h0", "P3", 1, 1.0, "2024-01-08 09:00", "c4"),
]
LAST_YEAR = [("y1", "P1", 3, 1.0, "2023-03-08 10:00", "c1")]  # the week 52 weeks before 03-04
# Actual: P1 [3, 5, 4, 0] (week 2: 6 sold, 1 returned), P2 [2, 0, 0, 0] (a guest); P3 is not in the mart.
FUTURE = [
    ("f1", "P1", 3, 1.0, "2024-03-04 00:00", "c1"),
    ("f2", "P1", 6, 1.0, "2024-03-12 10:00", "c2"),
    ("Cf2", "P1", -1, 1.0, "2024-03-13 10:00", "c2"),
    ("f3", "P1", 4, 1.0, "2024-03-24 23:59", "c1"),
    ("f4", "P2", 2, 1.0, "2024-03-05 10:00", None),
    ("f5", "P3", 9, 1.0, "2024-03-31 12:00", "c4"),  # the last day of the last week: the export covers it
]
SUM_ACTUAL = 14.0


def write_mart(wh, as_of: dt.date = D) -> None:
    rows = [{"product_id": p, "week_start": week, "horizon": h + 1, "predicted_units": pred, "lower_80": lo,
             "upper_80": hi, "forecast_basis": "model", "as_of_date": as_of}
            for p, pred, lo, hi in [("P1", 4.0, 2.0, 6.0), ("P2", 1.0, 0.0, 1.0)]
            for h, week in enumerate(WEEKS)]
    wh.replace_table(catalog.PRODUCT_SALES_FORECAST, pd.DataFrame(rows))


@pytest.fixture
def truth(tmp_path):
    with connect(f"duckdb:///{tmp_path / 'truth.duckdb'}") as wh:
        yield wh


def scored(wh, truth, history, future=FUTURE, as_of=D):
    load(wh, order_lines(history))
    load(truth, order_lines(history + future))
    write_mart(wh, as_of)
    return {o.metric: o for o in outcomes(wh, truth, as_of)}


def test_hand_computed_metrics(warehouse, truth):
    got = scored(warehouse, truth, HISTORY)
    wape, bias, coverage = got["wape_4w"], got["bias_4w"], got["interval_coverage_80_4w"]
    assert wape.n == bias.n == coverage.n == 8
    assert not wape.higher_is_better and not bias.higher_is_better
    # model: P1 errors 1+1+0+4, P2 1+1+1+1; zero: all 14; last 4 weeks: P1 4/week, P2 0;
    # moving average 8w: P1 2/week (1+3+2+2), P2 1/week (1+1+1+1).
    assert wape.model == pytest.approx(10 / SUM_ACTUAL)
    assert wape.baselines["zero"] == pytest.approx(1.0)
    assert wape.baselines["last_4_weeks_mean"] == pytest.approx(8 / SUM_ACTUAL)
    assert wape.baselines["moving_average_8w"] == pytest.approx(12 / SUM_ACTUAL)
    assert math.isnan(wape.baselines["seasonal_naive_52w"]) and "seasonal_naive_52w is NaN" in wape.note
    assert wape.best_baseline == ("last_4_weeks_mean", pytest.approx(8 / SUM_ACTUAL))
    # bias: model +6, zero -14, last 4 weeks +2, moving average 8w -2 (absolute values; signed in details)
    assert bias.model == pytest.approx(6 / SUM_ACTUAL)
    assert bias.baselines["zero"] == pytest.approx(1.0)
    assert bias.baselines["last_4_weeks_mean"] == pytest.approx(2 / SUM_ACTUAL)
    assert bias.details["signed_bias"]["moving_average_8w"] == pytest.approx(-2 / SUM_ACTUAL)
    # coverage: P1 3, 5, 4 inside [2, 6], 0 outside; P2 2 outside [0, 1], three zeros inside
    assert coverage.model == pytest.approx(6 / 8)
    assert all(math.isnan(v) for v in coverage.baselines.values()) and "no intervals" in coverage.note


def test_seasonal_naive_when_history_reaches_back(warehouse, truth):
    got = scored(warehouse, truth, LAST_YEAR + HISTORY)
    # P1 [3, 0, 0, 0] against [3, 5, 4, 0], P2 [0, 0, 0, 0] against [2, 0, 0, 0]
    assert got["wape_4w"].baselines["seasonal_naive_52w"] == pytest.approx(11 / SUM_ACTUAL)
    assert got["bias_4w"].details["signed_bias"]["seasonal_naive_52w"] == pytest.approx(-11 / SUM_ACTUAL)
    assert got["wape_4w"].baselines["last_4_weeks_mean"] == pytest.approx(8 / SUM_ACTUAL)


def test_orders_on_or_after_the_origin_never_feed_a_baseline(warehouse, truth):
    # The workspace holds the future too (it must not), and D is a Wednesday: the first forecast
    # week starts on Monday 03-04, so even the lines of 03-04 and 03-05 (before D) are not history.
    got = scored(warehouse, truth, HISTORY + FUTURE, future=[], as_of=D + dt.timedelta(days=2))
    assert got["wape_4w"].baselines["last_4_weeks_mean"] == pytest.approx(8 / SUM_ACTUAL)
    assert got["wape_4w"].baselines["moving_average_8w"] == pytest.approx(12 / SUM_ACTUAL)


def test_baselines_read_weeks_before_the_first_forecast_week():
    rows = pd.DataFrame({"product_id": ["P1", "P2"], "week_start": pd.to_datetime([WEEKS[0], WEEKS[0]])})
    history = order_lines(HISTORY + FUTURE)
    forecasts = baseline_forecasts(history, rows, pd.Timestamp(WEEKS[0]))
    assert forecasts["last_4_weeks_mean"].tolist() == [4.0, 0.0]
    assert forecasts["moving_average_8w"].tolist() == [2.0, 1.0]
    assert forecasts["zero"].tolist() == [0.0, 0.0]


def test_uncovered_weeks_are_nan_with_note(warehouse, truth):
    got = scored(warehouse, truth, HISTORY, future=FUTURE[:4])  # the export ends on 2024-03-24
    assert set(got) == {"wape_4w", "bias_4w", "interval_coverage_80_4w"}
    for o in got.values():
        assert math.isnan(o.model) and o.n == 0 and all(math.isnan(v) for v in o.baselines.values())
        assert "2024-03-24" in o.note and "2024-04-01" in o.note


def test_no_mart_partition_gives_nothing(warehouse, truth):
    load(warehouse, order_lines(HISTORY))
    load(truth, order_lines(HISTORY + FUTURE))
    assert outcomes(warehouse, truth, D) == []
