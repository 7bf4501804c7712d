"""marts.user_value against what its customers really ordered and spent after D, beside the baselines.

History before D = 2024-01-01 (orders, net spend, tenure days, orders and spend in the last 90 days):
a 3, 60, 365, 1, 30   b 2, 70 (a return of 10), 214, 1, 30   c 1, 50, 17 (floored to 90), 1, 50.
In [D, D + 90): a orders twice (20), b once and returns it all (1 order, 0 spend), c orders on D + 90
itself (outside). Later: a 100 on 2024-05-01, b 10 on 2024-06-29, the last order of the export.
"""
import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from ml import catalog, marts
from ml.families.base import ModelRef
from ml.families.customer_value import outcomes as value_outcomes
from ml.families.customer_value import timing_outcomes
from ml.families.customer_value.baselines import bgnbd_forecast
from ml.warehouse import connect
from tests.helpers import load, order_lines

AS_OF = dt.date(2024, 1, 1)
HISTORY = [
    ("1", "P1", 10, 1.0, "2023-01-01 10:00", "a"), ("2", "P1", 20, 1.0, "2023-07-01 10:00", "a"),
    ("3", "P1", 30, 1.0, "2023-12-01 10:00", "a"),
    ("4", "P2", 4, 10.0, "2023-06-01 10:00", "b"), ("5", "P2", 4, 10.0, "2023-11-15 10:00", "b"),
    ("C6", "P2", -1, 10.0, "2023-11-20 10:00", "b"),
    ("7", "P1", 50, 1.0, "2023-12-15 10:00", "c"),
]
WINDOW = [
    ("8", "P1", 10, 1.0, "2024-01-10 09:00", "a"), ("9", "P2", 1, 10.0, "2024-01-10 15:00", "a"),
    ("10", "P2", 4, 10.0, "2024-02-01 10:00", "b"), ("C11", "P2", -4, 10.0, "2024-02-05 10:00", "b"),
    ("12", "P1", 30, 1.0, "2024-03-31 00:00", "c"),
]
LATER = [("13", "P1", 100, 1.0, "2024-05-01 10:00", "a"), ("14", "P1", 10, 1.0, "2024-06-29 10:00", "b")]
MART = pd.DataFrame({"customer_id": ["a", "b", "c"], "expected_orders_90d": [1.5, 1.0, 0.5],
                     "p_alive": [0.9, 0.8, 1.0], "predicted_clv_365d": [100.0, 50.0, 30.0],
                     "value_tier": ["gold", "silver", "bronze"], "historical_value": [60.0, 70.0, 50.0]})
CHAMPION_SPEND = {"a": 25.0, "b": 10.0, "c": 5.0}


def truth_of(tmp_path, rows, name="truth"):
    wh = connect(f"duckdb:///{tmp_path / f'{name}.duckdb'}")
    load(wh, order_lines(rows))
    return wh


@pytest.fixture
def truth(tmp_path):
    with truth_of(tmp_path, HISTORY + WINDOW + LATER) as wh:
        yield wh


@pytest.fixture
def wh(warehouse, monkeypatch):
    """The history and a hand-written mart; the champion's spend without MLflow."""
    load(warehouse, order_lines(HISTORY))
    marts.write_mart(warehouse, catalog.USER_VALUE, MART, AS_OF, ModelRef("customer_value", "2", "run-2"))

    def champion(wh, as_of, mart):
        return pd.DataFrame({"expected_orders": mart["expected_orders_90d"],
                             "expected_spend": pd.Series(CHAMPION_SPEND).reindex(mart.index)})

    monkeypatch.setattr(value_outcomes, "champion_spend", champion)
    return warehouse


def by_metric(results):
    return {o.metric: o for o in results}


def test_errors_and_ranking_equal_their_hand_computed_values(wh, truth):
    results = by_metric(value_outcomes.outcomes(wh, truth, AS_OF))
    assert list(results)[:3] == ["orders_rmse_90d", "spend_mae_90d", "clv_spearman"]
    orders, spend, clv = list(results.values())[:3]
    assert {o.n for o in (orders, spend, clv)} == {3} and not orders.higher_is_better and clv.higher_is_better
    # actual orders 2, 1, 0 (a's two invoices count twice, c's order on D + 90 not at all)
    assert orders.model == pytest.approx(math.sqrt((0.25 + 0 + 0.25) / 3))
    assert orders.baselines["last_90d_repeat"] == pytest.approx(math.sqrt(2 / 3))
    rate_orders = np.array([3 / 365 * 90, 2 / 214 * 90, 1.0])
    assert orders.baselines["historical_spend_rate"] == pytest.approx(
        math.sqrt(np.mean((rate_orders - [2, 1, 0]) ** 2)))
    assert orders.details["totals"] == {"predicted": 3.0, "actual": 3.0}
    # actual net spend 20, 0 (bought and returned), 0
    assert spend.model == pytest.approx((5 + 10 + 5) / 3)
    assert spend.baselines["historical_spend_rate"] == pytest.approx(
        (abs(60 / 365 * 90 - 20) + 70 / 214 * 90 + 50) / 3)
    assert set(spend.baselines) == {"historical_spend_rate", "bgnbd_gg"}
    # net spend in [D, 2024-06-30): a 120, b 10, c 30 — ranks 3, 1, 2
    assert clv.model == pytest.approx(0.5)  # ranks 3, 2, 1
    assert clv.baselines["historical_spend"] == pytest.approx(-0.5)  # 60, 70, 50: ranks 2, 3, 1
    assert clv.baselines["historical_spend_rate"] == pytest.approx(-0.5)  # 60/365, 70/214, 50/90: 1, 2, 3
    assert clv.details["window_days"] == 181 and "2024-06-29" in clv.note and "181 days" in clv.note


def test_bgnbd_gg_is_the_fit_on_the_history_before_d(wh, truth):
    orders, spend, clv = value_outcomes.outcomes(wh, truth, AS_OF)[:3]
    fitted = bgnbd_forecast(order_lines(HISTORY), AS_OF, [90, 181]).reindex(["a", "b", "c"])
    assert orders.baselines["bgnbd_gg"] == pytest.approx(
        math.sqrt(np.mean((fitted["expected_orders_90d"].to_numpy() - [2, 1, 0]) ** 2)))
    assert spend.baselines["bgnbd_gg"] == pytest.approx(
        np.mean(np.abs(fitted["expected_spend_90d"].to_numpy() - [20, 0, 0])))
    assert clv.baselines["bgnbd_gg"] == pytest.approx(
        pd.Series(fitted["expected_spend_181d"].to_numpy()).corr(pd.Series([120.0, 10, 30]), method="spearman"))


def test_orders_on_or_after_d_never_feed_a_baseline(wh, truth):
    before = value_outcomes.outcomes(wh, truth, AS_OF)[:3]
    load(wh, order_lines(HISTORY + WINDOW + LATER))  # the workspace now (wrongly) holds the later orders
    after = value_outcomes.outcomes(wh, truth, AS_OF)[:3]
    for old, new in zip(before, after, strict=True):
        assert new.model == pytest.approx(old.model) and new.baselines == pytest.approx(old.baselines)


def test_a_full_year_of_export_judges_the_clv_over_365_days(wh, tmp_path):
    with truth_of(tmp_path, HISTORY + WINDOW + LATER + [("15", "P1", 1, 1.0, "2025-01-05 10:00", "c")]) as truth:
        clv = value_outcomes.outcomes(wh, truth, AS_OF)[2]
    assert clv.details["window_days"] == 365 and clv.note == "net spend in [2024-01-01, 2024-12-31)"
    # a 120, b 10, c 30 (its order on 2025-01-05 is outside the year): the same ranks as before
    assert clv.model == pytest.approx(0.5)


def test_a_window_the_export_does_not_cover_is_not_measured(wh, tmp_path):
    with truth_of(tmp_path, HISTORY + WINDOW[:3]) as short:  # last order 2024-02-01, before D + 90
        results = value_outcomes.outcomes(wh, short, AS_OF)[:3]
    assert [o.metric for o in results] == ["orders_rmse_90d", "spend_mae_90d", "clv_spearman"]
    for outcome in results:
        assert math.isnan(outcome.model) and outcome.n == 0 and outcome.baselines
        assert all(math.isnan(v) for v in outcome.baselines.values())
        assert "2024-02-01" in outcome.note and "2024-03-31" in outcome.note


def test_the_champion_named_on_the_mart_predicts_the_spend(warehouse, truth):
    """A real registered version: scored into the mart by the family, then loaded back by the outcomes."""
    from ml import registry, tracking
    from ml.families.customer_value import pyfunc, score
    from ml.families.customer_value.bgnbd import BGNBDParams
    from ml.families.customer_value.clv import CLVModel
    from ml.families.customer_value.features import build_features, read_features
    from ml.families.customer_value.gamma_gamma import GammaGammaParams
    from ml.families.customer_value.model import ValuePredictor

    load(warehouse, order_lines(HISTORY))
    build_features(warehouse, AS_OF)
    features = read_features(warehouse, AS_OF, AS_OF)
    predictor = ValuePredictor("bgnbd", CLVModel(BGNBDParams(0.5, 30.0, 0.8, 2.0), GammaGammaParams(6.0, 4.0, 15.0)))
    with tracking.start_run("customer_value", AS_OF, run_name="outcomes-test") as run:
        info = pyfunc.log_value_model(predictor, features)
    ref = registry.register_challenger(info.model_uri, "customer_value", run.info.run_id)
    score.score(warehouse, AS_OF, ref)
    spend = value_outcomes.outcomes(warehouse, truth, AS_OF)[1]
    expected = predictor.predict(features)["expected_spend"].reindex(["a", "b", "c"]).to_numpy()
    assert spend.model == pytest.approx(np.mean(np.abs(expected - [20, 0, 0])))
    assert spend.details["max_abs_orders_vs_mart"] == pytest.approx(0.0, abs=1e-9)
    # the same real version's 80% interval over the 90 days, judged on what happened
    interval = by_metric(value_outcomes.outcomes(warehouse, truth, AS_OF))["spend_interval_coverage_80_90d"]
    low, high = predictor.interval(predictor.candidate("bgnbd", features)["expected_spend"].to_numpy(), features, 90)
    covered = [lo - 1e-9 <= s <= hi + 1e-9 for lo, hi, s in zip(low, high, [20.0, 0.0, 0.0])]
    assert interval.model == pytest.approx(np.mean(covered)) and interval.n == 3


def test_next_order_fields_against_the_first_order_after_d(wh, truth, monkeypatch):
    """a orders on D + 9, b on D + 31 (returned later, but a day of positive net value), c on D + 90
    (outside). Mean-gap baseline (days after D): a 334/2 - 30 - 1 = 136, b 167 - 46 - 1 = 120, c (one
    order: the repeat buyers' median gap 167) 167 - 16 - 1 = 150."""
    mart = MART.assign(p_order_30d=[0.6, 0.5, 0.2], p_order_60d=[0.7, 0.6, 0.3], p_order_90d=[0.8, 0.7, 0.4],
                       expected_next_order_date=[dt.date(2024, 1, 11), None, dt.date(2024, 4, 10)],
                       predicted_clv_365d_low=0.0, predicted_clv_365d_high=1.0)
    marts.write_mart(wh, catalog.USER_VALUE, mart, AS_OF, ModelRef("customer_value", "3", "run-3"))
    # the interval needs a registered version (the test above loads a real one)
    monkeypatch.setattr(timing_outcomes, "interval_coverage", lambda *args: (0.5, "stand-in"))
    results = by_metric(timing_outcomes.timing_outcomes(
        wh, truth, AS_OF, mart.set_index("customer_id").assign(model_name="customer_value", model_version="3")))
    auc = results["p_order_30d_auc"]
    assert auc.model == pytest.approx(1.0) and auc.n == 3  # only a orders within 30 days, and ranks first
    assert auc.baselines == pytest.approx({"mean_gap_next_order": 0.5, "recency": 0.5})
    dates = results["next_order_censored_mae_days_90d"]
    assert dates.model == pytest.approx((1 + 59 + 0) / 3)  # predicted 10, none (90), 100 -> 90
    assert dates.baselines["mean_gap_next_order"] == pytest.approx((81 + 59 + 0) / 3)
    assert not dates.higher_is_better and dates.details["dated_share"] == pytest.approx(2 / 3)
