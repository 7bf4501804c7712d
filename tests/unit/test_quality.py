"""The quality report's parts: the history export a run is given, and the page it writes."""
from __future__ import annotations

import datetime as dt
import math

import pandas as pd

from ml import ingest, quality, quality_report
from ml.outcomes import Outcome
from tests.helpers import load, order_lines

D = dt.date(2024, 3, 1)


def test_the_history_export_holds_exactly_the_lines_before_d_and_reads_back_the_same(warehouse, tmp_path):
    lines = order_lines([
        ("i1", "p1", 2, 5.5, "2024-02-01 10:00", "c1"),
        ("i1", "p2", 1, 4.0, "2024-02-01 10:00", "c1"),
        ("C2", "p1", -1, 5.5, "2024-02-05 09:30", "c1"),
        ("i3", "p1", 1, 5.5, "2024-02-29 23:59", None),
        ("i4", "p1", 1, 5.5, "2024-03-01 00:00", "c2"),  # on D: after the history
    ])
    load(warehouse, lines)
    path = tmp_path / "history.csv"
    assert quality.write_history(warehouse, D, path) == 4
    back = ingest.read_order_lines(path)
    assert back["invoice_id"].tolist() == ["i1", "i1", "C2", "i3"]
    assert back["quantity"].tolist() == [2, 1, -1, 1] and back["unit_price"].tolist() == [5.5, 4.0, 5.5, 5.5]
    assert back["customer_id"].iloc[0] == "c1" and pd.isna(back["customer_id"].iloc[3])
    assert back["invoice_ts"].max() == pd.Timestamp("2024-02-29 23:59")


def _results(model: float, higher_is_better: bool = True) -> dict:
    outcome = Outcome("propensity", "roc_auc_30d", model, {"recency": 0.70, "bgnbd_p_alive": 0.75}, 120,
                      higher_is_better)
    families = [quality.FamilyResult("propensity", "marts.user_propensity", 120, [outcome.as_dict()]),
                quality.FamilyResult("sales_forecast", "marts.product_sales_forecast", 0,
                                     note="no marts.product_sales_forecast for 2024-03-01: rejected: WAPE 1.2")]
    report = quality.ShopReport("shop_a", "a.csv", D.isoformat(), "2024-02-29", "2024-06-01", 1000, 0, families,
                                command="python -m ml evaluate --source a.csv --as-of 2024-03-01")
    return {"shops": {"shop_a": report.as_dict()}}


def test_the_page_shows_champion_best_baseline_and_ratio_with_the_verdict():
    page = quality_report.render(_results(0.80))
    assert "| shop_a | propensity | roc_auc_30d | 0.800 | bgnbd_p_alive | 0.750 | 1.067 | beats | 120 |" in page
    assert "| shop_a | sales_forecast | – | – | – | – | – | no mart | – |" in page
    assert "rejected: WAPE 1.2" in page and "python -m ml evaluate --source a.csv --as-of 2024-03-01" in page
    assert "| 0.933 | **below** |" in quality_report.render(_results(0.70))


def test_results_of_several_shops_are_kept_side_by_side(tmp_path):
    path = tmp_path / "quality.json"
    first = quality.ShopReport("a", "a.csv", "2024-03-01", "", "", 1, 0, [])
    second = quality.ShopReport("b", "b.csv", "2024-03-01", "", "", 1, 0, [])
    quality.save_results(quality.load_results(path), first, path)
    results = quality.save_results(quality.load_results(path), second, path)
    assert sorted(results["shops"]) == ["a", "b"] and sorted(quality.load_results(path)["shops"]) == ["a", "b"]
    assert math.isnan(_results(math.nan)["shops"]["shop_a"]["families"][0]["outcomes"][0]["ratio"])
