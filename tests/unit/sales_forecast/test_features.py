"""The sales_forecast model input and settings (the panel SQL is tested in tests/warehouse/sales_forecast)."""
from __future__ import annotations

import datetime as dt

import pandas as pd

from ml.families.sales_forecast import config
from ml.families.sales_forecast.lags import FEATURE_COLUMNS
from ml.families.sales_forecast.pyfunc import model_input

AS_OF = dt.date(2024, 2, 5)  # a Monday


def test_model_input_always_has_a_string_category():
    frame = pd.DataFrame({c: [1.0, 2.0] for c in FEATURE_COLUMNS}).assign(category=["mugs", None])
    out = model_input(frame)
    assert list(out.columns) == FEATURE_COLUMNS and out["category"].tolist() == ["mugs", ""]


def test_active_weeks_is_configurable(tmp_path, monkeypatch):
    (tmp_path / "families").mkdir()
    (tmp_path / "families" / "sales_forecast.yaml").write_text("active_weeks: 26\n")
    monkeypatch.setenv("VALUEFLOW_CONFIG_DIR", str(tmp_path))
    assert config.load().active_weeks == 26
