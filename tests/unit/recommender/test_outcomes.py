"""The recommender's outcomes against a tiny shop scored by hand."""
from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from ml import catalog
from ml.families.recommender.outcomes import baseline_lists, outcomes
from ml.warehouse import connect
from tests.helpers import load, order_lines

D = dt.date(2024, 3, 1)
# Product ids avoid B, D, M, S: the non-merchandise codes of ml.data (fees, discounts) that every reader drops.
LOG3 = 1 / math.log2(3)  # the gain of a hit at rank 2
HISTORY = [
    ("h1", "A", 1, 1.0, "2024-01-05 10:00", "c1"),
    ("h2", "A", 1, 1.0, "2024-02-10 10:00", "c1"),
    ("h3", "F", 1, 1.0, "2024-02-20 10:00", "c1"),
    ("h4", "G", 1, 1.0, "2024-01-01 10:00", "c2"),
    ("h5", "C", 1, 1.0, "2024-02-15 10:00", "c2"),
    ("h6", "C", 1, 1.0, "2024-02-25 10:00", "c3"),
    ("h7", "E", 1, 1.0, "2023-12-01 10:00", "c4"),
    ("h8", "E", 1, 1.0, "2023-12-01 11:00", "c5"),
]
WINDOW = [
    ("w1", "A", 2, 1.0, "2024-03-02 10:00", "c1"),
    ("w1", "Z", 1, 1.0, "2024-03-02 10:00", "c1"),  # a product unseen before D: relevant, in no baseline
    ("Cw2", "F", -1, 1.0, "2024-03-03 10:00", "c1"),  # a return: F is not "bought"
    ("w3", "G", 1, 1.0, "2024-03-05 10:00", "c2"),
    ("w4", "G", 3, 1.0, "2024-03-20 10:00", "c2"),  # a second order of G: still one relevant item
    ("Cw5", "C", -1, 1.0, "2024-03-06 10:00", "c3"),  # c3 only returned: not scored
    ("w6", "C", 1, 1.0, "2024-03-07 10:00", "c6"),  # c6 has no list: not scored
    *[(f"w7{i}", "Z", 1, 1.0, "2024-03-08 10:00", f"x{i}") for i in range(5)],  # Z popular after D only
    ("w8", "A", 1, 1.0, "2024-03-30 23:00", "c9"),  # the window's last day: the export covers it
]
MART = {"c1": ["F", "A"], "c2": ["C", "G", "A"], "c3": ["C"]}


def write_mart(wh, lists: dict[str, list[str]], as_of: dt.date = D) -> None:
    rows = [{"customer_id": c, "rank": r, "product_id": p, "score": 1.0 / r, "source": "model", "as_of_date": as_of}
            for c, items in lists.items() for r, p in enumerate(items, start=1)]
    wh.replace_table(catalog.USER_RECOMMENDATIONS, pd.DataFrame(rows))


@pytest.fixture
def truth(tmp_path):
    with connect(f"duckdb:///{tmp_path / 'truth.duckdb'}") as wh:
        yield wh


def by_metric(results):
    return {o.metric: o for o in results}


@pytest.mark.parametrize("leak", [False, True], ids=["history-only", "orders-after-D-in-wh"])
def test_hand_computed_metrics(warehouse, truth, leak):
    # With `leak`, the workspace also holds the window's orders: they must change no baseline.
    load(warehouse, order_lines(HISTORY + (WINDOW if leak else [])))
    load(truth, order_lines(HISTORY + WINDOW))
    write_mart(warehouse, MART)
    got = by_metric(outcomes(warehouse, truth, D))
    ndcg, recall = got["ndcg_at_10_30d"], got["recall_at_10_30d"]
    # Scored: c1 (relevant {A, Z}) and c2 (relevant {G}), each once.
    assert ndcg.n == recall.n == 2
    assert ndcg.higher_is_better and recall.higher_is_better
    ideal_c1 = 1 + LOG3
    # model: c1 [F, A] hits A at 2; c2 [C, G, A] hits G at 2
    assert ndcg.model == pytest.approx((LOG3 / ideal_c1 + LOG3) / 2)
    assert recall.model == pytest.approx((1 / 2 + 1) / 2)
    # popularity_30d: [C, A, F] by recent buyers, padded with E, G -> A at 2 for c1, G at 5 for c2
    # popularity_all: [C, E, A, F, G]                             -> A at 3 for c1, G at 5 for c2
    # repeat_purchase: c1 [A, F, C, E, G] -> A at 1; c2 [C, G] (tie on orders, C later) -> G at 2
    assert ndcg.baselines["popularity_30d"] == pytest.approx((LOG3 / ideal_c1 + 1 / math.log2(6)) / 2)
    assert ndcg.baselines["popularity_all"] == pytest.approx((0.5 / ideal_c1 + 1 / math.log2(6)) / 2)
    assert ndcg.baselines["repeat_purchase"] == pytest.approx((1 / ideal_c1 + LOG3) / 2)
    assert recall.baselines == pytest.approx(dict.fromkeys(["popularity_30d", "popularity_all", "repeat_purchase"],
                                                           0.75))
    assert ndcg.best_baseline[0] == "repeat_purchase"


def test_baseline_lists_use_history_only():
    lines = order_lines(HISTORY + WINDOW)
    lists = baseline_lists(lines, D, ["c1", "c2", "new"])
    assert lists["popularity_30d"]["new"] == ["C", "A", "F", "E", "G"]
    assert lists["popularity_all"]["c1"] == ["C", "E", "A", "F", "G"]
    assert lists["repeat_purchase"]["c1"] == ["A", "F", "C", "E", "G"]
    assert lists["repeat_purchase"]["c2"] == ["C", "G", "A", "F", "E"]
    assert lists["repeat_purchase"]["new"] == lists["popularity_30d"]["new"]  # no history: the padding only
    assert all("Z" not in items for per in lists.values() for items in per.values())


def test_lists_are_cut_at_ten():
    lines = order_lines([(f"i{j}", f"P{j:02d}", 1, 1.0, "2024-02-20 10:00", "c1") for j in range(15)])
    lists = baseline_lists(lines, D, ["c1"])
    assert {len(per["c1"]) for per in lists.values()} == {10}


def test_uncovered_window_is_nan_with_note(warehouse, truth):
    load(warehouse, order_lines(HISTORY))
    load(truth, order_lines(HISTORY + WINDOW[:4]))  # the export ends on 2024-03-05
    write_mart(warehouse, MART)
    results = outcomes(warehouse, truth, D)
    assert [o.metric for o in results] == ["ndcg_at_10_30d", "recall_at_10_30d"]
    for o in results:
        assert math.isnan(o.model) and o.n == 0
        assert all(math.isnan(v) for v in o.baselines.values()) and set(o.baselines) == {
            "popularity_30d", "popularity_all", "repeat_purchase"}
        assert "2024-03-05" in o.note and "2024-03-31" in o.note


def test_no_mart_partition_gives_nothing(warehouse, truth):
    load(warehouse, order_lines(HISTORY))
    load(truth, order_lines(HISTORY + WINDOW))
    assert outcomes(warehouse, truth, D) == []
    write_mart(warehouse, MART, as_of=D - dt.timedelta(days=7))
    assert outcomes(warehouse, truth, D) == []
