"""The weekly panel SQL of the sales_forecast family, the same on DuckDB and on PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from ml.families.sales_forecast import features
from tests.unit.sales_forecast.fixtures import order_lines

pytestmark = pytest.mark.warehouse

AS_OF = dt.date(2024, 2, 5)  # a Monday


def load_lines(wh) -> None:
    lines = order_lines(
        [
            ("1", "P1", 5, 2.0, "2024-01-08 10:00", "c1"),
            ("2", "P1", 3, 2.0, "2024-01-09 11:00", None),  # guest
            ("C3", "P1", -2, 2.0, "2024-01-10 09:00", "c1"),  # cancellation
            ("4", "P2", 2, 4.0, "2024-01-24 09:00", "c2"),
            ("5", "POST", 1, 18.0, "2024-01-24 09:00", "c2"),  # postage, not merchandise
            ("6", "P1", 7, 2.0, "2024-02-05 08:00", "c3"),  # on the as-of date: not history
        ]
    )
    wh.replace_table("raw.order_lines", lines)
    wh.replace_table("raw.products", pd.DataFrame({"product_id": ["P1", "P2"], "description": "x", "category": ["mugs", None], "unit_price": [2.0, 4.0]}))


def check_panel(wh) -> None:
    assert features.build_features(wh, AS_OF) == [features.PANEL]
    features.build_features(wh, AS_OF)  # idempotent: the partition is replaced, not appended
    panel = wh.query(f"SELECT * FROM {features.PANEL} ORDER BY product_id, week_start")
    assert set(panel["product_id"]) == {"P1", "P2"}
    a = panel[panel["product_id"] == "P1"]
    assert len(a) == 4 and a["units"].tolist() == [6.0, 0.0, 0.0, 0.0]
    assert pd.to_datetime(a["week_start"]).iat[-1] == pd.Timestamp("2024-01-29")
    assert (pd.to_datetime(panel["as_of_date"]) == pd.Timestamp(AS_OF)).all()
    assert panel.loc[panel["product_id"] == "P1", "category"].iat[0] == "mugs"
    m = features.read_matrix(wh, AS_OF)
    assert m.week_at(m.n_weeks) == pd.Timestamp(AS_OF)


def test_build_features(any_warehouse):
    load_lines(any_warehouse)
    check_panel(any_warehouse)


def test_read_matrix_without_a_partition_says_what_to_run(warehouse):
    load_lines(warehouse)
    features.build_features(warehouse, AS_OF)
    with pytest.raises(ValueError, match="build_features"):
        features.read_matrix(warehouse, dt.date(2024, 3, 4))
