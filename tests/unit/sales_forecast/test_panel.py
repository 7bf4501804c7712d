"""The weekly aggregation SQL (run in an in-memory DuckDB), the panel checks and the dense matrices."""
from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml.families.sales_forecast.calendar import calendar_features, forecast_origin, holidays
from ml.families.sales_forecast.features import weekly_panel_sql
from ml.families.sales_forecast.panel import PANEL_COLUMNS, check_panel, to_matrix
from ml.sql import MissingColumns
from tests.unit.sales_forecast.fixtures import order_lines

ORIGIN = dt.date(2024, 2, 5)  # a Monday


def run_panel_sql(lines: pd.DataFrame, products: pd.DataFrame | None, origin=ORIGIN) -> pd.DataFrame:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw")
    con.register("lines_df", lines)
    con.execute("CREATE TABLE raw.order_lines AS SELECT * FROM lines_df")
    if products is not None:
        con.register("products_df", products)
        con.execute("CREATE TABLE raw.products AS SELECT * FROM products_df")
    sql = weekly_panel_sql(origin, products_table="raw.products" if products is not None else None)
    return con.execute(sql + " ORDER BY 1, 2").fetch_df()


@pytest.fixture
def lines():
    return order_lines(
        [
            ("1", "A", 5, 2.0, "2024-01-08 10:00", "c1"),  # Monday, week 2024-01-08
            ("2", "A", 3, 2.0, "2024-01-14 23:00", None),  # Sunday: same week; a guest
            ("C2", "A", -2, 2.0, "2024-01-10 09:00", None),  # cancellation nets out
            ("3", "A", 4, 3.0, "2024-01-29 12:00", "c2"),  # after two empty weeks
            ("4", "A", 9, 2.0, "2024-02-05 00:00", "c1"),  # at the origin: not known yet
            ("5", "B", 1, 5.0, "2024-01-22 08:00", "c3"),
        ]
    )


def test_panel_nets_cancellations_includes_guests_and_fills_empty_weeks(lines):
    panel = run_panel_sql(lines, pd.DataFrame({"product_id": ["A", "B"], "description": "x", "category": ["mugs", None], "unit_price": 1.0}))
    a = panel[panel["product_id"] == "A"].set_index(pd.to_datetime(panel.loc[panel["product_id"] == "A", "week_start"]))
    assert list(a.index.strftime("%Y-%m-%d")) == ["2024-01-08", "2024-01-15", "2024-01-22", "2024-01-29"]
    assert list(a["units"]) == [6.0, 0.0, 0.0, 4.0]  # 5 + 3 (guest) - 2; the origin-day line is excluded
    assert list(a["n_buyers"]) == [1, 0, 0, 1]  # the guest buys but cannot be counted as a buyer
    assert a["gross_revenue"].iat[0] == pytest.approx(16.0)
    assert set(panel["category"].dropna()) == {"mugs"}
    b = panel[panel["product_id"] == "B"]
    assert len(b) == 2  # from its first week to the week before the origin
    assert set(PANEL_COLUMNS) <= set(panel.columns)


def test_panel_without_products_table_has_unknown_category(lines):
    panel = run_panel_sql(lines, None)
    assert panel["category"].isna().all()


def test_panel_sql_rejects_an_origin_that_is_not_a_monday():
    with pytest.raises(ValueError, match="Monday"):
        weekly_panel_sql(dt.date(2024, 2, 7))


def test_forecast_origin_is_the_monday_on_or_before_as_of():
    assert forecast_origin(dt.date(2024, 2, 5)) == dt.date(2024, 2, 5)
    assert forecast_origin(dt.date(2024, 2, 7)) == dt.date(2024, 2, 5)
    assert forecast_origin(dt.datetime(2024, 2, 11, 23, 0)) == dt.date(2024, 2, 5)


def test_calendar_marks_christmas_and_easter_weeks():
    assert dt.date(2024, 3, 29) in holidays(2024)  # Good Friday 2024
    cal = calendar_features(pd.DatetimeIndex(["2024-12-23", "2024-03-25", "2024-06-10", "2024-12-30"]))
    assert list(cal["holiday_week"]) == [1, 1, 0, 1]
    assert cal["week_of_year"].iat[0] == 52
    assert cal["weeks_to_christmas"].iat[0] == 0 and cal["weeks_to_christmas"].iat[3] == 51


def test_check_panel_fails_on_missing_column_empty_input_and_duplicates(lines):
    panel = run_panel_sql(lines, None)
    with pytest.raises(MissingColumns, match=r"lacks column\(s\) \['units'\]"):
        check_panel(panel.drop(columns="units"))
    with pytest.raises(ValueError, match="empty"):
        check_panel(panel.iloc[0:0])
    with pytest.raises(ValueError, match="duplicate"):
        check_panel(pd.concat([panel, panel.iloc[:1]]))
    shifted = panel.assign(week_start=pd.to_datetime(panel["week_start"]) + pd.Timedelta(days=1))
    with pytest.raises(ValueError, match="Monday"):
        check_panel(shifted)


def test_to_matrix_is_dense_with_zero_before_launch_and_price_only_in_sale_weeks(lines):
    m = to_matrix(run_panel_sql(lines, None))
    assert list(m.product_ids) == ["A", "B"] and m.n_weeks == 4
    assert m.units[1].tolist() == [0.0, 0.0, 1.0, 0.0]
    assert m.first_idx.tolist() == [0, 2]
    assert np.isnan(m.price[0, 1]) and m.price[0, 3] == pytest.approx(3.0)
    assert m.week_at(4) == pd.Timestamp(ORIGIN)


def test_line_filter_drops_non_merchandise(lines):
    extra = order_lines([("9", "POST", 1, 18.0, "2024-01-09 10:00", "c1")])
    con_lines = pd.concat([lines, extra], ignore_index=True)
    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw")
    con.register("lines_df", con_lines)
    con.execute("CREATE TABLE raw.order_lines AS SELECT * FROM lines_df")
    sql = weekly_panel_sql(ORIGIN, products_table=None, line_filter="product_id <> 'POST'")
    assert "POST" not in set(con.execute(sql).fetch_df()["product_id"])
