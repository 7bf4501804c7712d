"""The family's holdout measures what the quality report measures: every active product x 4 weeks of
net units, each baseline forecast alike, WAPE by hand on a tiny panel."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.families.sales_forecast.backtest import origin_rows
from ml.families.sales_forecast.baselines import BASELINES, predict_baseline
from ml.families.sales_forecast.config import SalesForecastConfig
from ml.families.sales_forecast.evaluate import best_baseline, holdout_scores
from ml.families.sales_forecast.outcomes import baseline_forecasts
from ml.families.sales_forecast.panel import to_matrix

WEEKS = pd.date_range("2024-01-01", periods=8, freq="7D")
# A sells from week 0; B launches in week 2 (young at the holdout origin, week 4) and has a net return.
UNITS = {"A": [2, 0, 4, 0, 1, 0, 0, 3], "B": [None, None, 1, 1, 0, 2, -1, 0]}


def _panel() -> pd.DataFrame:
    rows = [{"product_id": p, "week_start": WEEKS[j], "units": float(u), "gross_units": float(max(u, 0)),
             "gross_revenue": 2.0 * max(u, 0), "n_buyers": int(u > 0), "n_lines": int(u != 0), "category": None}
            for p, units in UNITS.items() for j, u in enumerate(units) if u is not None]
    return pd.DataFrame(rows)


def _lines() -> pd.DataFrame:
    """The same weeks as order lines (one line per product-week with sales, on its Wednesday)."""
    rows = [{"product_id": p, "invoice_ts": WEEKS[j] + pd.Timedelta(days=2, hours=10), "quantity": float(u)}
            for p, units in UNITS.items() for j, u in enumerate(units) if u]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def holdout():
    return origin_rows(to_matrix(_panel()), 4, SalesForecastConfig())


def test_holdout_holds_every_active_product_young_ones_too(holdout):
    assert sorted(holdout["product_id"].unique()) == ["A", "B"]
    assert dict(holdout.groupby("product_id")["demand_class"].first()) == {"A": "young", "B": "young"}
    assert holdout.sort_values(["product_id", "horizon"])["target"].tolist() == [1, 0, 0, 3, 0, 2, -1, 0]


def test_wape_of_each_baseline_by_hand(holdout):
    actual = holdout["target"].to_numpy()
    wape = {name: holdout_scores(actual, predict_baseline(name, holdout))["wape"] for name in BASELINES}
    # volume |1|+|3| + |2|+|-1| = 7
    # last 4 weeks: A 6/4 = 1.5 -> |.5|+1.5+1.5+1.5 = 5; B 2/4 = .5 -> .5+1.5+1.5+.5 = 4
    assert wape["last_4_weeks_mean"] == pytest.approx(9 / 7)
    # 8 weeks (history holds 4, the others count as 0): A .75 -> .25+.75+.75+2.25 = 4; B .25 -> .25+1.75+1.25+.25 = 3.5
    assert wape["moving_average_8w"] == pytest.approx(7.5 / 7)
    assert wape["zero"] == pytest.approx(1.0)
    assert best_baseline({n: {"wape": w} for n, w in wape.items()}) == "zero"


def test_the_baselines_forecast_what_the_quality_report_forecasts(holdout):
    """outcomes.py computes its baselines from order lines; the family from the panel: they must agree."""
    rows = holdout.rename(columns={"target_week": "week_start"})[["product_id", "week_start"]]
    rows["week_start"] = pd.to_datetime(rows["week_start"])
    report = baseline_forecasts(_lines(), rows.reset_index(drop=True), WEEKS[4])
    for name in ("zero", "last_4_weeks_mean", "moving_average_8w"):
        np.testing.assert_allclose(predict_baseline(name, holdout), report[name], err_msg=name)
