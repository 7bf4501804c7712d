"""Next-order probabilities and dates from BG/NBD, checked against customers drawn from BG/NBD itself."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ml.families.customer_value import bgnbd, timing
from ml.families.customer_value.clv import fit_clv_model
from ml.families.customer_value.holdout_checks import next_order_metrics
from ml.families.customer_value.score import next_order_dates
from tests.unit.customer_value.bgnbd_population import bgnbd_population

PARAMS = bgnbd.BGNBDParams(r=0.8, alpha=60.0, a=0.8, b=3.0)


@pytest.fixture(scope="module")
def population():
    summary, first, spend = bgnbd_population(4000, seed=1, holdout_days=5000)
    return summary, first, fit_clv_model(summary)


def test_probability_of_an_order_matches_what_the_process_does(population):
    summary, first, model = population
    within = timing.predict_timing(model.purchases, summary, within_days=(30, 90, 365))
    for days in (30, 90, 365):
        # (the holdout opens the day after T; the model's t counts from T)
        assert within[f"p_order_{days}d"].mean() == pytest.approx(np.mean(first <= days), abs=0.02)


def test_half_of_the_dated_customers_order_by_their_date(population):
    summary, first, model = population
    days = timing.predict_timing(model.purchases, summary)["days_to_next_order"].to_numpy()
    dated = ~np.isnan(days)
    assert 0.3 < dated.mean() < 1.0
    assert np.mean(first[dated] <= days[dated] + 1.0) == pytest.approx(0.5, abs=0.04)


def test_a_customer_more_likely_gone_than_not_gets_no_date():
    # 10 repeat purchases in the first 30 days of a year, then silence: P(alive) far below 1/2
    x, t_x, T = np.array([10.0, 10.0]), np.array([30.0, 360.0]), np.array([365.0, 365.0])
    alive = bgnbd.probability_alive(PARAMS, x, t_x, T)
    wait = timing.median_wait(PARAMS, x, t_x, T)
    assert alive[0] < 0.5 and np.isnan(wait[0])
    assert alive[1] > 0.5 and np.isfinite(wait[1])
    # at the median wait an order is exactly as likely as not
    assert timing.p_order_within(PARAMS, wait[1], x[1:], t_x[1:], T[1:])[0] == pytest.approx(0.5)
    # and P(order within t) rises to P(alive), never above it
    far = timing.p_order_within(PARAMS, 1e7, x, t_x, T)
    np.testing.assert_allclose(far, alive, rtol=1e-6)


def test_one_time_buyers_are_alive_and_wait_on_the_prior_rate():
    p = timing.p_order_within(PARAMS, 30.0, np.array([0.0]), np.array([0.0]), np.array([100.0]))
    assert p[0] == pytest.approx(1 - (160 / 190) ** 0.8)


def test_mean_gap_baseline_is_last_order_plus_the_mean_gap_never_in_the_past():
    features = pd.DataFrame({"frequency": [2.0, 1.0, 0.0], "recency_days": [60.0, 10.0, 0.0],
                             "days_since_last": [9.0, 40.0, 5.0]})
    # a: gap 30, last order 9 days before the cutoff's last day -> 20 days after the cutoff;
    # b: gap 10, 40 days ago -> overdue, due now; c: one order, the shop's median gap (20) -> 14
    np.testing.assert_allclose(timing.mean_gap_baseline(features), [20.0, 0.0, 14.0])


def test_next_order_dates_are_d_plus_the_wait_and_null_without_one():
    scored = pd.DataFrame({"days_to_next_order": [0.0, 12.4, np.nan]})
    dates = next_order_dates(dt.date(2024, 1, 1), scored)
    assert dates.tolist()[:2] == [dt.date(2024, 1, 1), dt.date(2024, 1, 13)] and pd.isna(dates.iloc[2])


def test_holdout_next_order_metrics_on_a_hand_made_case():
    features = pd.DataFrame({"frequency": [3.0, 1.0, 2.0], "recency_days": [90.0, 20.0, 40.0],
                             "days_since_last": [9.0, 100.0, 0.0]}, index=["a", "b", "c"])
    predicted = pd.DataFrame({"days_to_next_order": [5.0, np.nan, 50.0], "p_order_30d": [0.9, 0.1, 0.5],
                              "p_order_60d": [0.95, 0.2, 0.6]}, index=features.index)
    first = pd.Series({"a": 4.0, "c": 45.0})  # b does not order in the 60-day holdout
    metrics = next_order_metrics(predicted, features, first, days=60)
    assert metrics["p_order_30d_auc"] == pytest.approx(1.0)  # only a orders within 30 days
    assert metrics["p_order_30d_observed"] == pytest.approx(1 / 3)
    assert metrics["p_order_60d_brier"] == pytest.approx(((0.95 - 1) ** 2 + 0.2**2 + (0.6 - 1) ** 2) / 3)
    assert "p_order_90d_auc" not in metrics  # the holdout does not span 90 days
    # censored at 60: |5-4| + |60-60| + |50-45| over 3 customers
    assert metrics["next_order_censored_mae_days"] == pytest.approx(2.0)
    # baseline: a 30-9-1 = 20, b overdue 0, c 20-0-1 = 19 -> |20-4| + |0-60| + |19-45|
    assert metrics["baseline_mean_gap_next_order_censored_mae_days"] == pytest.approx((16 + 60 + 26) / 3)
    assert metrics["next_order_date_share"] == pytest.approx(2 / 3)
