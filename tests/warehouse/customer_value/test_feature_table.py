"""features.customer_value is built the same way by DuckDB and PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from ml.families.customer_value import features as customer_value
from tests.helpers import load, order_lines

pytestmark = pytest.mark.warehouse

AS_OF = dt.date(2024, 7, 1)
LINES = order_lines([
    ("1", "P1", 2, 10.0, "2023-06-03 10:00", "a"),
    ("2", "P2", 1, 5.0, "2023-06-03 15:00", "a"),
    ("3", "P1", 1, 10.0, "2024-03-01 09:00", "a"),
    ("C4", "P1", -1, 10.0, "2024-03-09 09:00", "a"),
    ("5", "P3", 4, 2.5, "2024-05-20 12:00", "b"),
    ("6", "POST", 1, 40.0, "2024-05-20 12:00", "b"),  # postage is not merchandise
    ("C7", "P3", -2, 2.5, "2024-01-05 12:00", "c"),  # only a return: history, no purchase
    ("8", "P2", 3, 5.0, "2024-07-01 00:00", "a"),  # on the as-of date: not yet known
    ("9", "P2", 1, 5.0, "2024-02-01 08:00", None),  # guest
])


def _build(wh) -> pd.DataFrame:
    load(wh, LINES)
    assert customer_value.build_features(wh, AS_OF) == [customer_value.FEATURES]
    customer_value.build_features(wh, AS_OF)  # idempotent
    return customer_value.read_features(wh, AS_OF, AS_OF)


def test_features_on_duckdb_and_postgres_agree(warehouse, pg_warehouse):
    duck, pg = _build(warehouse), _build(pg_warehouse)
    pd.testing.assert_frame_equal(duck, pg, check_dtype=False)
    assert list(duck.index) == ["a", "b", "c"]
    a = duck.loc["a"]
    assert (a["frequency"], a["recency_days"], a["tenure_days"], a["monetary_value"]) == (1, 272, 393, 10.0)
    assert a["historical_value"] == 25.0 + 10.0 - 10.0
    assert duck.loc["b", "total_value"] == 10.0  # no postage
    assert duck.loc["c", "n_transactions"] == 0 and duck.loc["c", "historical_value"] == -5.0
    rows = warehouse.query(f"SELECT cutoff_date, COUNT(*) AS n FROM {customer_value.FEATURES} GROUP BY 1 ORDER BY 1")
    assert len(rows) == 5 and rows["cutoff_date"].iloc[-1] == pd.Timestamp(AS_OF)
