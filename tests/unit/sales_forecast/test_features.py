"""The sales_forecast family's warehouse side: the panel SQL in DuckDB and PostgreSQL, model input, settings."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from ml.families.sales_forecast import config, features
from ml.families.sales_forecast.lags import FEATURE_COLUMNS
from ml.families.sales_forecast.pyfunc import model_input
from tests.unit.sales_forecast.fixtures import order_lines

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


def test_build_features_duckdb(warehouse):
    load_lines(warehouse)
    check_panel(warehouse)


def test_build_features_postgres(pg_warehouse):
    pg_warehouse.ensure_schemas()
    load_lines(pg_warehouse)
    check_panel(pg_warehouse)


def test_read_matrix_without_a_partition_says_what_to_run(warehouse):
    load_lines(warehouse)
    features.build_features(warehouse, AS_OF)
    with pytest.raises(ValueError, match="build_features"):
        features.read_matrix(warehouse, dt.date(2024, 3, 4))


def test_model_input_always_has_a_string_category():
    frame = pd.DataFrame({c: [1.0, 2.0] for c in FEATURE_COLUMNS}).assign(category=["mugs", None])
    out = model_input(frame)
    assert list(out.columns) == FEATURE_COLUMNS and out["category"].tolist() == ["mugs", ""]


def test_active_weeks_is_configurable(tmp_path, monkeypatch):
    (tmp_path / "families").mkdir()
    (tmp_path / "families" / "sales_forecast.yaml").write_text("active_weeks: 26\n")
    monkeypatch.setenv("VALUEFLOW_CONFIG_DIR", str(tmp_path))
    assert config.load().active_weeks == 26
