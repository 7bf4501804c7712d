"""The warehouse feature SQL computes exactly what the pandas feature builder computes, in both dialects."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ml.families.customer_value.features import LINE_COLUMNS, MODEL_INPUT_COLUMNS, customer_features_sql
from ml.families.customer_value.summary import build_customer_features, build_transactions
from ml.warehouse import Warehouse

# what the pandas builder computes from customer-day transactions (the line features need lines)
DAY_COLUMNS = [c for c in MODEL_INPUT_COLUMNS if c not in LINE_COLUMNS]

pytestmark = pytest.mark.warehouse


@pytest.fixture
def order_lines() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 400
    frame = pd.DataFrame({
        "invoice_id": [f"i{i}" for i in range(n)],
        "line_no": 1,
        "product_id": "p",
        "quantity": rng.integers(1, 4, n),
        "unit_price": rng.gamma(2.0, 5.0, n).round(2),
        "invoice_ts": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 500 * 24, n), unit="h"),
        "customer_id": rng.choice([f"c{i}" for i in range(40)] + [None], n),
    })
    returns = frame.sample(30, random_state=1).assign(quantity=lambda f: -f["quantity"])
    returns["invoice_ts"] += pd.to_timedelta(rng.integers(0, 20, 30), unit="D")  # some the same day
    # A customer whose purchase predates the export: only a return is visible.
    orphan = frame.head(1).assign(customer_id="zz", quantity=-2, invoice_id="C1", invoice_ts=pd.Timestamp("2023-01-02"))
    lines = pd.concat([frame, returns, orphan], ignore_index=True)
    return lines.assign(is_return=lines["quantity"] < 0)


@pytest.fixture
def wh(any_warehouse):
    return any_warehouse


@pytest.mark.parametrize("cutoff", [dt.date(2023, 6, 1), dt.date(2024, 5, 1)])
def test_sql_features_match_pandas(wh, order_lines, cutoff):
    wh.replace_table("raw.order_lines", order_lines)
    everyone = wh.query(customer_features_sql(cutoff)).set_index("customer_id").sort_index()
    sql = everyone[everyone["n_transactions"] > 0]
    expected = build_customer_features(build_transactions(order_lines), cutoff).sort_index()
    assert list(sql.index) == list(expected.index)
    pd.testing.assert_frame_equal(sql[DAY_COLUMNS], expected[DAY_COLUMNS], check_dtype=False,
                                  check_index_type=False, check_names=False)
    lines = order_lines[order_lines["customer_id"].notna() & (order_lines["invoice_ts"] < pd.Timestamp(cutoff))]
    net = (lines["quantity"] * lines["unit_price"]).groupby(lines["customer_id"]).sum()
    np.testing.assert_allclose(sql["historical_value"], net.reindex(sql.index))
    assert (everyone["cutoff_date"] == pd.Timestamp(cutoff)).all()
    # Customers with only returns before the cutoff are kept, with zero features and their net value.
    returns_only = everyone[everyone["n_transactions"] == 0]
    assert "zz" in returns_only.index
    assert set(returns_only.index) == set(net.index) - set(sql.index)
    assert (returns_only[DAY_COLUMNS[:-2] + ["n_invoices", "n_products", "lines_per_invoice"]] == 0).all().all()


def test_non_merchandise_lines_are_left_out(tmp_path, order_lines):
    postage = order_lines.head(3).assign(product_id="POST", unit_price=1000.0)
    with Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}") as wh:
        wh.execute("CREATE SCHEMA raw")
        wh.replace_table("raw.order_lines", order_lines)
        before = wh.query(customer_features_sql(dt.date(2024, 5, 1)))
        wh.replace_table("raw.order_lines", pd.concat([order_lines, postage], ignore_index=True))
        after = wh.query(customer_features_sql(dt.date(2024, 5, 1)))
    pd.testing.assert_frame_equal(before.sort_values("customer_id", ignore_index=True),
                                  after.sort_values("customer_id", ignore_index=True))


def test_line_features_equal_a_hand_computation(wh):
    """Invoices, products, basket breadth, returns, gap regularity and last year's coming season of
    two customers, counted by hand; a line on the cutoff day changes none of them."""
    rows = [  # customer, invoice, product, quantity, price, timestamp
        ("a", "i1", "p1", 2, 5.0, "2023-01-10 09:00"), ("a", "i1", "p2", 1, 10.0, "2023-01-10 09:00"),
        ("a", "i2", "p1", 1, 5.0, "2023-01-10 15:00"),  # a second invoice on the same day
        ("a", "i3", "p3", 4, 2.5, "2023-01-20 10:00"), ("a", "C1", "p3", -2, 2.5, "2023-01-25 10:00"),
        ("a", "i4", "p1", 1, 5.0, "2023-02-19 10:00"),
        ("b", "i5", "p2", 1, 30.0, "2022-03-05 10:00"), ("b", "i6", "p2", 1, 30.0, "2023-02-25 10:00"),
        ("a", "i7", "p1", 9, 5.0, "2023-03-01 00:00"),  # on the cutoff: never an input
    ]
    lines = pd.DataFrame(rows, columns=["customer_id", "invoice_id", "product_id", "quantity", "unit_price", "invoice_ts"])
    lines = lines.assign(invoice_ts=pd.to_datetime(lines["invoice_ts"]), line_no=1, is_return=lines["quantity"] < 0)
    wh.replace_table("raw.order_lines", lines)
    got = wh.query(customer_features_sql(dt.date(2023, 3, 1))).set_index("customer_id").sort_index()
    a, b = got.loc["a"], got.loc["b"]
    assert (a["n_invoices"], a["invoices_30d"], a["n_products"]) == (4, 1, 3)  # i4 is within 30 days
    assert a["lines_per_invoice"] == pytest.approx(5 / 4)
    assert a["return_share"] == pytest.approx(5.0 / 40.0)
    gaps = np.array([10.0, 30.0])  # purchase days 01-10, 01-20, 02-19
    assert a["gap_cv"] == pytest.approx(gaps.std() / gaps.mean()) and a["mean_gap_days"] == pytest.approx(20.0)
    assert b["gap_cv"] == pytest.approx(0.0) and b["n_invoices"] == 2
    # b bought in [cutoff - 365, cutoff - 275) a year ago: the customer's own coming season
    assert (b["orders_year_ago_ahead"], b["spend_year_ago_ahead"]) == (1, 30.0)
    assert (a["orders_year_ago_ahead"], a["spend_year_ago_ahead"]) == (0, 0.0)
