"""Labels, point-in-time inputs and rolling origins of the propensity family, on hand-made histories."""
import numpy as np
import pandas as pd
import pytest

from ml.families.propensity.dataset import build_examples_at, build_training_examples, split_by_origin
from ml.families.propensity.inputs import (
    CHANNELS,
    STATIC_FEATURES,
    build_model_input,
    build_static_features,
    build_weekly_sequences,
    sequences_from_input,
)
from ml.families.propensity.labels import label_purchases, plan_rolling_origins, select_active_customers
from ml.sql import MissingColumns

D = pd.Timestamp("2024-06-01")
COLUMNS = ["invoice_id", "line_no", "product_id", "description", "quantity", "unit_price", "invoice_ts",
           "customer_id", "country", "is_return"]


def line(inv, cust, ts, qty=1, price=10.0, product="P1", is_return=False):
    return (inv, 0, product, "x", qty, price, pd.Timestamp(ts), cust, "UK", is_return)


@pytest.fixture
def lines():
    return pd.DataFrame([
        line("1", "A", "2024-05-30"),                       # A: bought 2 days before D
        line("2", "A", "2024-03-01", qty=3, product="P2"),
        line("3", "A", "2024-06-10"),                       # A buys inside [D, D+30)
        line("4", "B", "2024-01-15", qty=2, price=5.0),     # B: one old order
        line("C4", "B", "2024-01-20", qty=-1, price=5.0, is_return=True),
        line("5", "B", "2024-07-15"),                       # B buys after D+30: label 0
        line("6", "C", "2022-01-01"),                       # C: inactive (over a year ago)
        line("7", "E", "2024-06-05", qty=-2, is_return=True),  # E: only a return in the window
        line("8", "E", "2024-02-01"),
        line("9", None, "2024-06-02"),                      # guest: never a customer
        line("10", "F", "2024-06-20", is_return=True),      # F: flagged cancellation only
        line("11", "F", "2024-04-01"),
    ], columns=COLUMNS)


def test_label_counts_only_orders_inside_the_window(lines):
    labels = label_purchases(lines, ["A", "B", "C", "E", "F"], D)
    assert labels.to_dict() == {"A": 1, "B": 0, "C": 0, "E": 0, "F": 0}


def test_label_window_is_half_open(lines):
    on_edge = pd.concat([lines, pd.DataFrame([line("12", "B", D + pd.Timedelta(days=30))], columns=COLUMNS)])
    assert label_purchases(on_edge, ["B"], D)["B"] == 0
    at_start = pd.concat([lines, pd.DataFrame([line("13", "B", D)], columns=COLUMNS)])
    assert label_purchases(at_start, ["B"], D)["B"] == 1


def test_active_customers_are_buyers_of_the_last_year(lines):
    assert list(select_active_customers(lines, D)) == ["A", "B", "E", "F"]


def test_rolling_origins_labels_end_by_as_of():
    origins = plan_rolling_origins(D, 3, step_days=28)
    assert origins[0] == D - pd.Timedelta(days=30)
    assert all(o + pd.Timedelta(days=30) <= D for o in origins)
    assert origins == sorted(origins, reverse=True)
    with pytest.raises(ValueError):
        plan_rolling_origins(D, 0)


def test_static_features_by_hand(lines):
    f = build_static_features(lines, D, ["A", "B", "Z"])
    assert list(f.columns) == list(STATIC_FEATURES)
    assert f.loc["A", "recency_days"] == 2 and f.loc["A", "frequency"] == 2
    assert f.loc["A", "monetary"] == 40.0 and f.loc["A", "orders_90d"] == 1
    assert f.loc["B", "return_rate"] == 0.5 and np.isnan(f.loc["B", "avg_days_between_orders"])
    assert f.loc["B", "monetary"] == 5.0  # net of the returned unit, as in features.user_features
    assert f.loc["A", "tenure_days"] == 92 and f.loc["A", "distinct_categories"] == 0
    assert f.loc["Z"].isna()["recency_days"] and f.loc["Z", "frequency"] == 0


def test_fees_and_postage_are_not_purchases(lines):
    fee = pd.DataFrame([line("20", "B", "2024-05-31", product="POST"), line("21", "B", "2024-06-03", product="POST")],
                       columns=COLUMNS)
    with_fee = pd.concat([lines, fee], ignore_index=True)
    assert build_static_features(with_fee, D, ["B"]).loc["B", "recency_days"] == (D - pd.Timestamp("2024-01-15")).days
    assert label_purchases(with_fee, ["B"], D)["B"] == 0


def test_categories_and_cart_conversion(lines):
    products = pd.DataFrame({"product_id": ["P1", "P2"], "category": ["toys", None]})
    events = pd.DataFrame({"customer_id": ["A", "A", "A"], "product_id": ["P1", "P9", "P1"],
                           "event_type": ["cart", "cart", "view"],
                           "event_ts": pd.to_datetime(["2024-05-28", "2024-05-28", "2024-05-01"])})
    f = build_static_features(lines, D, ["A", "B"], events, products)
    assert f.loc["A", "distinct_categories"] == 1  # unknown categories are not counted
    assert f.loc["A", "carts"] == 2 and f.loc["A", "views"] == 1
    assert f.loc["A", "cart_to_purchase"] == 0.5  # P1 bought 2 days after its cart, P9 never
    assert np.isnan(f.loc["B", "cart_to_purchase"])  # no carts: undefined, not zero


def test_weekly_sequence_puts_activity_in_the_right_week(lines):
    seq = build_weekly_sequences(lines, D, ["A", "B"], weeks=52)
    assert seq.shape == (2, 52, len(CHANNELS))
    orders = CHANNELS.index("orders")
    assert seq[0, 51, orders] == 1  # 2024-05-30 is in the last week before D
    assert seq[0, 51 - (D - pd.Timestamp("2024-03-01")).days // 7, CHANNELS.index("units")] == 3
    assert seq[1, :, CHANNELS.index("returns")].sum() == 1
    assert seq[:, :, CHANNELS.index("views")].sum() == 0  # no events: zeros, not an error


def test_events_fill_view_and_cart_channels(lines):
    events = pd.DataFrame({"customer_id": ["A", "A", "B"], "product_id": ["P1"] * 3,
                           "event_type": ["view", "cart", "view"],
                           "event_ts": pd.to_datetime(["2024-05-31", "2024-05-31", "2024-06-03"])})
    seq = build_weekly_sequences(lines, D, ["A", "B"], events)
    assert seq[0, 51, CHANNELS.index("views")] == 1 and seq[0, 51, CHANNELS.index("carts")] == 1
    assert seq[1, :, CHANNELS.index("views")].sum() == 0  # B's view is after D
    f = build_static_features(lines, D, ["A", "B"], events)
    assert f.loc["A", "views_30d"] == 1 and f.loc["B", "views_30d"] == 0


def test_nothing_on_or_after_as_of_changes_an_input(lines):
    before = build_model_input(lines, D, ["A", "B", "E", "F"])
    later = pd.DataFrame([line("90", "A", D), line("91", "B", D + pd.Timedelta(hours=1), qty=50, price=99.0),
                          line("92", "E", "2025-01-01", qty=-5, is_return=True)], columns=COLUMNS)
    after = build_model_input(pd.concat([lines, later], ignore_index=True), D, ["A", "B", "E", "F"])
    pd.testing.assert_frame_equal(before, after)


def test_wide_input_round_trips_the_sequence(lines):
    seq = build_weekly_sequences(lines, D, ["A", "B"], weeks=8)
    frame = build_model_input(lines, D, ["A", "B"], weeks=8)
    np.testing.assert_array_equal(sequences_from_input(frame, weeks=8), seq)
    assert frame.columns[0] == "customer_id" and "seq_orders_l00" in frame.columns


def test_missing_column_fails_loudly(lines):
    with pytest.raises(MissingColumns, match="invoice_ts"):
        label_purchases(lines.drop(columns="invoice_ts"), ["A"], D)
    with pytest.raises(MissingColumns, match="event_type"):
        build_weekly_sequences(lines, D, ["A"], pd.DataFrame({"customer_id": ["A"], "event_ts": [D]}))


def test_empty_history_gives_empty_population_and_a_clear_error():
    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
        COLUMNS, ["str", "int", "str", "str", "int", "float", "datetime64[ns]", "str", "str", "bool"])})
    assert len(select_active_customers(empty, D)) == 0
    assert len(build_examples_at(empty, D)) == 0
    with pytest.raises(ValueError, match="no active customers"):
        build_training_examples(empty, D, n_origins=2)


def test_training_examples_stack_origins_and_validate_on_the_newest(lines):
    ex = build_training_examples(lines, D + pd.Timedelta(days=60), n_origins=3, step_days=28)
    origins = np.unique(ex.origins)
    assert len(origins) == 3
    fit, val = split_by_origin(ex)
    assert (val.origins == origins.max()).all() and (fit.origins < origins.max()).all()
    # newest origin Jul 1: B's Jul 15 order is its label, A's Jun 10 order an input
    newest = ex.select(ex.origins == origins.max())
    assert pd.Timestamp(origins.max()) == pd.Timestamp("2024-07-01")
    labels = dict(zip(newest.inputs["customer_id"], newest.labels))
    assert labels["B"] == 1 and labels["A"] == 0
    assert newest.inputs.set_index("customer_id").loc["A", "recency_days"] == 21
