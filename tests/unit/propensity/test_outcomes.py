"""marts.user_propensity against who really bought after D, beside the baselines, on a four-customer shop.

History before D = 2024-01-01 (last order, orders):  a 2023-12-20 (12 days, 2)  b 2023-05-01 (245, 3)
c 2023-12-28 (4, 1)  d 2023-09-01 (122, 2). In [D, D + 30): a orders twice (counts once), b once,
c only returns something (no purchase), d orders on D + 30 itself (outside). Buyers: a, b.
"""
import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from ml import catalog, marts
from ml.families.base import ModelRef
from ml.families.customer_value.baselines import bgnbd_forecast, history_by_customer
from ml.families.propensity.outcomes import outcomes
from ml.warehouse import connect
from tests.helpers import load, order_lines

AS_OF = dt.date(2024, 1, 1)
HISTORY = [
    ("1", "P1", 1, 10.0, "2023-06-01 10:00", "a"), ("2", "P1", 2, 10.0, "2023-12-20 10:00", "a"),
    ("3", "P1", 1, 5.0, "2023-03-01 10:00", "b"), ("4", "P2", 1, 5.0, "2023-04-01 10:00", "b"),
    ("5", "P1", 3, 5.0, "2023-05-01 10:00", "b"),
    ("6", "P2", 2, 8.0, "2023-12-28 10:00", "c"),
    ("7", "P1", 1, 9.0, "2023-02-01 10:00", "d"), ("8", "P2", 1, 9.0, "2023-09-01 10:00", "d"),
]
AFTER = [
    ("9", "P1", 1, 10.0, "2024-01-05 09:00", "a"), ("10", "P2", 1, 10.0, "2024-01-05 15:00", "a"),
    ("11", "P1", 1, 5.0, "2024-01-10 10:00", "b"),
    ("C12", "P2", -1, 8.0, "2024-01-03 10:00", "c"),
    ("13", "P1", 4, 9.0, "2024-01-31 00:00", "d"),
]
P = {"a": 0.9, "b": 0.2, "c": 0.5, "d": 0.1}


def write_mart(wh, p=P):
    rows = pd.DataFrame({"customer_id": list(p), "p_purchase_30d": list(p.values()),
                         "churn_risk": [1 - v for v in p.values()], "propensity_decile": range(1, len(p) + 1)})
    marts.write_mart(wh, catalog.USER_PROPENSITY, rows, AS_OF, ModelRef("propensity", "3", "run-3"))


@pytest.fixture
def truth(tmp_path):
    with connect(f"duckdb:///{tmp_path / 'truth.duckdb'}") as wh:
        load(wh, order_lines(HISTORY + AFTER))
        yield wh


@pytest.fixture
def wh(warehouse):
    load(warehouse, order_lines(HISTORY))
    write_mart(warehouse)
    return warehouse


def by_metric(results):
    return {o.metric: o for o in results}


def test_model_and_simple_baselines_equal_their_hand_computed_values(wh, truth):
    results = by_metric(outcomes(wh, truth, AS_OF))
    assert set(results) == {"roc_auc_30d", "lift_top_decile_30d"}
    auc, lift = results["roc_auc_30d"], results["lift_top_decile_30d"]
    assert auc.n == lift.n == 4 and auc.higher_is_better and auc.family == "propensity"
    # buyers a (0.9), b (0.2) over non-buyers c (0.5), d (0.1): 3 of 4 pairs ordered right
    assert auc.model == pytest.approx(0.75)
    # recency -12, -245 over -4, -122: only a over d; frequency 2, 3 over 1, 2: a-d tie is half a pair
    assert auc.baselines["recency"] == pytest.approx(0.25)
    assert auc.baselines["frequency"] == pytest.approx(0.875)
    # top decile = the one highest score: a (buyer) for the model, b for frequency, c (no buyer) for recency
    assert lift.model == pytest.approx(2.0)
    assert lift.baselines["frequency"] == pytest.approx(2.0) and lift.baselines["recency"] == 0.0
    assert set(auc.baselines) == {"recency", "frequency", "bgnbd_p_alive", "bgnbd_expected_orders_30d"}
    calibration = auc.details["calibration"]
    assert calibration["mean_predicted"] == pytest.approx(0.425) and calibration["observed_rate"] == 0.5
    assert calibration["buyers"] == 2 and sum(row["n"] for row in calibration["by_decile"]) == 4


def test_bgnbd_baselines_rank_the_fit_on_the_history_before_d(wh, truth):
    auc = by_metric(outcomes(wh, truth, AS_OF))["roc_auc_30d"]
    fitted = bgnbd_forecast(order_lines(HISTORY), AS_OF, [30])
    assert fitted is not None and set(fitted.index) == set(P)
    labels = np.array([1, 1, 0, 0])
    from ml.families.propensity.metrics import score_ranking

    for name, column in (("bgnbd_p_alive", "p_alive"), ("bgnbd_expected_orders_30d", "expected_orders_30d")):
        expected = score_ranking(labels, fitted.loc[list(P), column].to_numpy())["roc_auc"]
        assert auc.baselines[name] == pytest.approx(expected)


def test_orders_on_or_after_d_never_feed_a_baseline(wh, warehouse, truth):
    before = by_metric(outcomes(wh, truth, AS_OF))
    load(warehouse, order_lines(HISTORY + AFTER))  # the workspace now (wrongly) holds the later orders too
    after = by_metric(outcomes(warehouse, truth, AS_OF))
    for metric, outcome in before.items():
        assert after[metric].baselines == pytest.approx(outcome.baselines)
    history = history_by_customer(order_lines(HISTORY + AFTER), AS_OF)
    assert history.loc["c", "orders"] == 1 and history.loc["a", "recency_days"] == 12


def test_a_buyer_counts_once_and_a_return_is_no_purchase(wh, truth):
    from ml.families.propensity.outcomes import bought_in_window

    labels = bought_in_window(truth, AS_OF, pd.Index(["a", "b", "c", "d", "e"]), 30)
    assert labels.tolist() == [1, 1, 0, 0, 0]


def test_a_window_the_export_does_not_cover_is_not_measured(wh, tmp_path):
    with connect(f"duckdb:///{tmp_path / 'short.duckdb'}") as short:
        load(short, order_lines(HISTORY + AFTER[:3]))  # last order 2024-01-10
        results = outcomes(wh, short, AS_OF)
    assert len(results) == 2
    for outcome in results:
        assert math.isnan(outcome.model) and outcome.n == 0
        assert all(math.isnan(v) for v in outcome.baselines.values()) and len(outcome.baselines) == 4
        assert "2024-01-10" in outcome.note and "2024-01-31" in outcome.note


def test_no_mart_partition_for_d_gives_nothing(warehouse, truth):
    load(warehouse, order_lines(HISTORY))
    assert outcomes(warehouse, truth, AS_OF) == []
    write_mart(warehouse)
    assert outcomes(warehouse, truth, AS_OF + dt.timedelta(days=7)) == []
