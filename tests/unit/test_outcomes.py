"""The Outcome record: the strongest baseline by the metric's direction, the ratio, and the windows."""
from __future__ import annotations

import datetime as dt
import math

import pytest

from ml import outcomes
from ml.outcomes import Outcome
from tests.helpers import load, order_lines

D = dt.date(2024, 3, 1)


def test_the_best_baseline_follows_the_metric_s_direction():
    auc = Outcome("propensity", "roc_auc_30d", 0.80, {"recency": 0.70, "frequency": 0.75, "broken": math.nan}, 10, True)
    assert auc.best_baseline == ("frequency", 0.75) and auc.ratio == pytest.approx(0.80 / 0.75) and auc.beats_best_baseline
    error = Outcome("customer_value", "orders_rmse_90d", 1.2, {"rate": 1.0, "bgnbd": 1.5}, 10, False)
    assert error.best_baseline == ("rate", 1.0) and error.ratio == pytest.approx(1.2) and not error.beats_best_baseline
    none = Outcome("x", "m", 0.5, {"b": math.nan}, 0, True)
    assert none.best_baseline is None and math.isnan(none.ratio) and none.beats_best_baseline is None
    negative = Outcome("customer_value", "clv_spearman", 0.1, {"history": -0.2}, 10, True)
    assert math.isnan(negative.ratio) and negative.beats_best_baseline  # no ratio of signed numbers, still better
    assert none.as_dict()["best_baseline"] is None


def test_realized_customers_count_orders_once_and_net_out_returns(warehouse):
    load(warehouse, order_lines([
        ("i0", "p1", 1, 5.0, "2024-02-29 10:00", "c1"),  # before D: not in the window
        ("i1", "p1", 2, 5.0, "2024-03-01 10:00", "c1"),  # two lines of one order
        ("i1", "p2", 1, 4.0, "2024-03-01 10:00", "c1"),
        ("C2", "p1", -1, 5.0, "2024-03-05 10:00", "c1"),  # a return: spend down, no order
        ("i3", "p1", 1, 5.0, "2024-03-31 10:00", None),  # guest
        ("i4", "p1", 1, 5.0, "2024-03-31 10:00", "c2"),  # on D + 30: outside [D, D + 30)
    ]))
    got = outcomes.realized_customers(warehouse, D, outcomes.window_end(D, 30)).set_index("customer_id")
    assert got.to_dict("index") == {"c1": {"orders": 1.0, "spend": 9.0}}
    assert outcomes.data_end(warehouse) == dt.date(2024, 4, 1)
    assert outcomes.window_covered(warehouse, D, 31) and not outcomes.window_covered(warehouse, D, 32)
    assert outcomes.mart_partition(warehouse, "marts.nothing", D) is None
