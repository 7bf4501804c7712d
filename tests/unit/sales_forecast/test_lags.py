"""Point-in-time features: hand-checked values, and no value at or after the origin changes any feature."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.families.sales_forecast.lags import FEATURE_COLUMNS, eligible_products, origin_features, training_frame
from ml.families.sales_forecast.panel import to_matrix
from tests.unit.sales_forecast.fixtures import synthetic_panel


def tiny_panel(units_a, units_b=None, start="2024-01-01"):
    weeks = pd.date_range(start, periods=len(units_a), freq="7D")
    rows = [
        {"product_id": "A", "week_start": w, "units": u, "gross_units": u, "gross_revenue": 2.0 * u, "n_buyers": 1, "n_lines": 1, "category": "mugs"}
        for w, u in zip(weeks, units_a)
    ]
    if units_b is not None:
        offset = len(units_a) - len(units_b)  # B launched later
        rows += [
            {"product_id": "B", "week_start": weeks[offset + i], "units": u, "gross_units": u, "gross_revenue": 5.0 * u, "n_buyers": 0, "n_lines": 1, "category": None}
            for i, u in enumerate(units_b)
        ]
    return pd.DataFrame(rows)


def test_lags_and_rolling_means_by_hand():
    m = to_matrix(tiny_panel([1, 2, 3, 4, 5, 6, 7, 8], units_b=[10, 20]))
    f = origin_features(m, t=8, horizon=2).set_index(["product_id", "horizon"])
    a1, b1 = f.loc[("A", 1)], f.loc[("B", 1)]
    assert (a1["lag_1"], a1["lag_2"], a1["lag_4"], a1["lag_8"]) == (8, 7, 5, 1)
    assert a1["roll_mean_4"] == pytest.approx(6.5)  # (5+6+7+8)/4
    assert a1["roll_mean_13"] == pytest.approx(4.5)  # all 8 weeks it has existed
    assert b1["roll_mean_4"] == pytest.approx(15.0)  # two weeks alive, not diluted by pre-launch zeros
    assert b1["age_weeks"] == 2 and a1["age_weeks"] == 8
    assert np.isnan(a1["seasonal_lag"])  # no year of history yet
    assert a1["category"] == "mugs" and b1["category"] is None
    assert a1["category_rate_13"] == pytest.approx(4.5) and np.isnan(b1["category_rate_13"])
    assert f.loc[("A", 2), "target_week"] == pd.Timestamp("2024-03-04")  # origin 2024-02-26 + 1 week
    assert np.isnan(a1["target"])  # the live origin: nothing to compare with yet


def test_seasonal_lag_reads_the_same_week_a_year_before_the_target():
    units = list(range(60))
    m = to_matrix(tiny_panel(units))
    f = origin_features(m, t=56, horizon=4)
    # target index 56 + h - 1; a year earlier is index 4 + h - 1, whose units equal the index
    assert f["seasonal_lag"].tolist() == [4.0, 5.0, 6.0, 7.0]
    assert f["target"].tolist() == [56.0, 57.0, 58.0, 59.0]


def test_no_leakage_values_at_or_after_the_origin_change_no_feature():
    panel = synthetic_panel(n_products=6, n_weeks=80, seed=3)
    origin = 70
    before = origin_features(to_matrix(panel), origin, horizon=4)
    tampered = panel.copy()
    late = tampered["week_start"] >= to_matrix(panel).week_at(origin)  # the target weeks and after
    tampered.loc[late, ["units", "gross_units", "n_buyers"]] = 999.0
    tampered.loc[late, "gross_revenue"] = 1.0
    after = origin_features(to_matrix(tampered), origin, horizon=4)
    pd.testing.assert_frame_equal(before[FEATURE_COLUMNS], after[FEATURE_COLUMNS])
    assert not before["target"].equals(after["target"])  # the tampering did reach the targets


def test_training_rows_never_have_targets_at_or_after_the_cutoff():
    m = to_matrix(synthetic_panel(n_products=5, n_weeks=60, seed=1))
    rows = training_frame(m, range(1, 60), horizon=4, active_weeks=13, min_history_weeks=8, target_before=50)
    assert rows["target_week"].max() < m.week_at(50)
    assert rows["target"].notna().all()
    assert (rows["origin_week"] < rows["target_week"] + pd.Timedelta(days=1)).all()


def test_eligibility_separates_young_inactive_and_established_products():
    panel = tiny_panel([5] * 20, units_b=[3, 3])
    panel = pd.concat([panel, tiny_panel([4] * 5 + [0] * 15).assign(product_id="C")])  # stopped selling
    m = to_matrix(panel)
    model, young = eligible_products(m, t=20, active_weeks=13, min_history_weeks=8)
    assert dict(zip(m.product_ids, model)) == {"A": True, "B": False, "C": False}
    assert dict(zip(m.product_ids, young)) == {"A": False, "B": True, "C": False}


def test_origin_outside_the_panel_is_rejected():
    m = to_matrix(tiny_panel([1, 2, 3]))
    with pytest.raises(ValueError, match="origin index"):
        origin_features(m, t=0, horizon=4)
    with pytest.raises(ValueError, match="origin index"):
        origin_features(m, t=4, horizon=4)


def test_a_zero_price_in_history_gives_an_unknown_price_change_not_infinity():
    panel = tiny_panel([3, 3, 3, 3, 3, 3, 3, 3])
    panel.loc[3, "gross_revenue"] = 0.0  # a free sample week, as real exports have
    f = origin_features(to_matrix(panel), t=8, horizon=1)
    assert np.isnan(f["price_change_4"].iloc[0])
    assert np.isfinite(f.select_dtypes("number").to_numpy(dtype=float)[~np.isnan(f.select_dtypes("number").to_numpy(dtype=float))]).all()
