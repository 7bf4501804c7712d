"""The warehouse feature SQL computes exactly what the pandas feature builder computes, in both dialects."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ml.families.customer_value.features import MODEL_INPUT_COLUMNS, customer_features_sql
from ml.families.customer_value.summary import build_customer_features, build_transactions
from ml.warehouse import Warehouse

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
    pd.testing.assert_frame_equal(sql[list(MODEL_INPUT_COLUMNS)], expected[list(MODEL_INPUT_COLUMNS)], check_dtype=False,
                                  check_index_type=False, check_names=False)
    lines = order_lines[order_lines["customer_id"].notna() & (order_lines["invoice_ts"] < pd.Timestamp(cutoff))]
    net = (lines["quantity"] * lines["unit_price"]).groupby(lines["customer_id"]).sum()
    np.testing.assert_allclose(sql["historical_value"], net.reindex(sql.index))
    assert (everyone["cutoff_date"] == pd.Timestamp(cutoff)).all()
    # Customers with only returns before the cutoff are kept, with zero features and their net value.
    returns_only = everyone[everyone["n_transactions"] == 0]
    assert "zz" in returns_only.index
    assert set(returns_only.index) == set(net.index) - set(sql.index)
    assert (returns_only[list(MODEL_INPUT_COLUMNS[:-2])] == 0).all().all()


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
