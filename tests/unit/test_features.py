"""Point-in-time customer features: exact values on a hand-made history, and no leakage."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from ml import features
from tests.helpers import load, order_lines, products

AS_OF = dt.date(2024, 3, 1)
HISTORY = [
    ("1", "A", 2, 10.0, "2024-01-01 10:00", "c1"),
    ("1", "K", 1, 5.0, "2024-01-01 10:00", "c1"),
    ("2", "A", 1, 10.0, "2024-02-20 09:00", "c1"),
    ("C3", "A", -1, 10.0, "2024-02-25 09:00", "c1"),  # one unit returned
    ("4", "K", 3, 5.0, "2023-01-10 12:00", "c2"),  # last bought over a year ago
    ("5", "A", 1, 10.0, "2024-02-01 12:00", None),  # guest: no customer features
    ("6", "POST", 1, 18.0, "2024-02-01 12:00", "c2"),  # postage is not merchandise
]


def build(wh, rows, events=None):
    load(wh, order_lines(rows), products({"A": "toys", "K": "home", "POST": None}), events)
    features.build_user_features(wh, AS_OF)
    return features.read_user_features(wh, AS_OF).set_index("customer_id")


def test_hand_computed_values(warehouse):
    got = build(warehouse, HISTORY)
    assert set(got.index) == {"c1", "c2"}
    c1 = got.loc["c1"]
    assert c1["recency_days"] == 10  # 2024-02-20 -> 2024-03-01
    assert c1["frequency"] == 2
    assert c1["monetary"] == pytest.approx(35.0 - 10.0)  # gross 35, one unit of A returned
    assert c1["avg_order_value"] == pytest.approx(35.0 / 2)
    assert c1["tenure_days"] == 60
    assert c1["distinct_products"] == 2 and c1["distinct_categories"] == 2
    assert c1["return_rate"] == pytest.approx(10.0 / 35.0)
    assert c1["orders_90d"] == 2 and bool(c1["is_active"])
    c2 = got.loc["c2"]
    assert c2["monetary"] == pytest.approx(15.0)  # postage left out
    assert not bool(c2["is_active"])
    assert c2["views"] == 0 and pd.isna(c2["cart_to_purchase"])


def test_rows_on_or_after_the_as_of_date_change_nothing(warehouse):
    before = build(warehouse, HISTORY)
    future = HISTORY + [("7", "A", 50, 10.0, "2024-03-01 00:00", "c1"),  # exactly at D
                        ("8", "K", 5, 5.0, "2024-06-01 00:00", "c2"),
                        ("9", "K", 5, 5.0, "2024-03-02 00:00", "c9")]
    after = build(warehouse, future)
    pd.testing.assert_frame_equal(before, after)


def test_cart_conversion_counts_carts_bought_within_a_week(warehouse):
    events = pd.DataFrame({
        "customer_id": ["c1", "c1", "c1"], "product_id": ["A", "K", "A"],
        "event_type": ["cart", "cart", "view"],
        "event_ts": pd.to_datetime(["2024-02-19 09:00", "2024-01-20 09:00", "2024-02-29 09:00"]).astype("datetime64[us]"),
    })
    got = build(warehouse, HISTORY, events)
    assert got.loc["c1", "carts"] == 2 and got.loc["c1", "views"] == 1
    assert got.loc["c1", "cart_to_purchase"] == pytest.approx(0.5)  # A bought a day later, B never


def test_rebuilding_a_partition_is_idempotent(warehouse):
    build(warehouse, HISTORY)
    features.build_user_features(warehouse, AS_OF)
    assert warehouse.row_count(features.USER_FEATURES) == 2
