"""Order lines -> transactions -> summaries and features, on hand-made frames."""
import numpy as np
import pandas as pd
import pytest

from ml.families.customer_value.summary import (
    build_customer_features,
    build_transactions,
    summarize_customers,
    summarize_window,
)
from ml.sql import MissingColumns


def _lines(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["invoice_id", "customer_id", "quantity", "unit_price", "invoice_ts"])
    frame["invoice_ts"] = pd.to_datetime(frame["invoice_ts"])
    frame["is_return"] = frame["quantity"] < 0
    return frame


@pytest.fixture
def lines() -> pd.DataFrame:
    return _lines([
        ("1", "a", 2, 10.0, "2024-01-01 09:00"),
        ("2", "a", 1, 5.0, "2024-01-01 17:00"),   # second invoice, same day: same transaction
        ("3", "a", 1, 30.0, "2024-01-11 10:00"),
        ("4", "a", -1, 30.0, "2024-01-20 10:00"),  # later return: not a transaction
        ("5", "b", 1, 8.0, "2024-01-05 10:00"),
        ("6", "b", -1, 8.0, "2024-01-05 11:00"),   # same-day cancellation nets out the day
        ("7", "c", 3, 4.0, "2024-01-09 12:00"),
        ("8", None, 1, 99.0, "2024-01-02 12:00"),  # guest
    ])


def test_build_transactions_nets_days_and_drops_guests_and_returns(lines):
    tx = build_transactions(lines)
    assert tx.to_dict("records") == [
        {"customer_id": "a", "day": pd.Timestamp("2024-01-01"), "value": 25.0},
        {"customer_id": "a", "day": pd.Timestamp("2024-01-11"), "value": 30.0},
        {"customer_id": "c", "day": pd.Timestamp("2024-01-09"), "value": 12.0},
    ]


def test_summarize_customers_follows_the_cdnow_convention(lines):
    summary = summarize_customers(build_transactions(lines), "2024-01-11")  # the 11th is not yet seen
    assert summary.loc["a"].to_dict() == {
        "frequency": 0.0, "recency": 0.0, "T": 9.0, "monetary_value": 0.0, "n_transactions": 1.0, "total_value": 25.0,
    }
    later = summarize_customers(build_transactions(lines), "2024-01-21")
    assert later.loc["a", "frequency"] == 1 and later.loc["a", "recency"] == 10 and later.loc["a", "T"] == 19
    assert later.loc["a", "monetary_value"] == 30.0  # mean of repeat transactions only
    assert later.loc["c", "T"] == 11


def test_summaries_are_point_in_time(lines):
    tx = build_transactions(lines)
    assert summarize_customers(tx, "2024-01-01").empty
    assert list(summarize_customers(tx, "2024-01-02").index) == ["a"]


def test_summarize_window_counts_orders_and_spend(lines):
    window = summarize_window(build_transactions(lines), "2024-01-02", "2024-01-12")
    assert window.to_dict("index") == {"a": {"orders": 1.0, "spend": 30.0}, "c": {"orders": 1.0, "spend": 12.0}}
    with pytest.raises(ValueError, match="empty window"):
        summarize_window(build_transactions(lines), "2024-01-12", "2024-01-12")


def test_features_have_trailing_windows(lines):
    features = build_customer_features(build_transactions(lines), "2024-01-21")
    assert features.loc["a", "orders_30d"] == 2 and features.loc["a", "spend_30d"] == 55
    assert features.loc["a", "days_since_last"] == 9
    assert features.loc["a", "avg_order_value"] == 27.5
    assert np.isfinite(features.to_numpy()).all()


@pytest.mark.parametrize("column", ["customer_id", "quantity", "unit_price", "invoice_ts"])
def test_build_transactions_names_a_missing_column(lines, column):
    with pytest.raises(MissingColumns, match=column):
        build_transactions(lines.drop(columns=column))


def test_empty_inputs_give_empty_outputs(lines):
    tx = build_transactions(lines.head(0))
    assert tx.empty and list(tx.columns) == ["customer_id", "day", "value"]
    assert summarize_customers(tx, "2024-02-01").empty
    assert build_customer_features(tx, "2024-02-01").empty


def _daily(start: str, days: int, per_day: int = 1, value: float = 10.0) -> pd.DataFrame:
    dates = pd.date_range(start, periods=days, freq="D")
    return pd.DataFrame({"customer_id": [f"c{i}" for _ in dates for i in range(per_day)],
                         "day": [d for d in dates for _ in range(per_day)], "value": value})


def test_seasonal_indices_compare_the_coming_season_last_year_with_that_year():
    from ml.families.customer_value.summary import seasonal_indices

    end = pd.Timestamp("2024-01-01")
    year_start = end - pd.Timedelta(days=365)
    # One order a day all year, plus a second customer buying daily (at half the value) in the
    # 90 days that follow the same date a year earlier.
    tx = pd.concat([_daily(str(year_start.date()), 365),
                    _daily(str(year_start.date()), 90, value=5.0).assign(customer_id="peak")])
    index = seasonal_indices(tx, end, horizon_days=90)
    share = 90 / 365
    assert index["season_orders_index"] == pytest.approx(180 / (455 * share))
    assert index["season_spend_index"] == pytest.approx((900 + 450) / ((3650 + 450) * share))
    # Future rows are ignored; less than a year of history gives 1.
    future = pd.concat([tx, _daily("2024-01-01", 30, per_day=50)])
    assert seasonal_indices(future, end, horizon_days=90) == index
    assert seasonal_indices(tx, end - pd.Timedelta(days=2), horizon_days=90) == {
        "season_orders_index": 1.0, "season_spend_index": 1.0}


def test_seasonal_indices_are_bounded():
    from ml.families.customer_value.config import DEFAULTS
    from ml.families.customer_value.summary import seasonal_indices

    bounds = DEFAULTS.season_index_bounds

    end = pd.Timestamp("2024-01-01")
    year_start = end - pd.Timedelta(days=365)
    burst = pd.concat([_daily(str(year_start.date()), 1), _daily(str(year_start.date()), 60, per_day=40)])
    assert seasonal_indices(burst, end)["season_orders_index"] == bounds[1]
    quiet = pd.concat([_daily(str(year_start.date()), 1), _daily(str((year_start + pd.Timedelta(days=120)).date()), 200)])
    assert seasonal_indices(quiet, end)["season_orders_index"] == bounds[0]
