"""marts.marketing_audiences in a DuckDB warehouse: partial marts, stale partitions, config errors."""
import datetime as dt
import logging

import pandas as pd
import pytest

from ml.audiences.build import AUDIENCES_MART, build_marketing_audiences
from ml.audiences.rules import AudienceConfigError
from ml.sql import sql_literal

AS_OF = dt.date(2024, 6, 1)


def _write(wh, table, frame, as_of=AS_OF):
    wh.replace_partition(table, frame.assign(as_of_date=as_of), {"as_of_date": as_of})


@pytest.fixture
def value_mart(warehouse):
    value = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"], "expected_orders_90d": [2.0, 0.1, 0.0, 1.0],
        "p_alive": [0.9, 0.3, 0.1, 0.8], "predicted_clv_365d": [900.0, 300.0, 1.0, 50.0],
        "value_tier": ["platinum", "gold", "bronze", "silver"], "historical_value": [1.0, 1.0, 1.0, 1.0],
    })
    _write(warehouse, "marts.user_value", value)
    _write(warehouse, "marts.user_value", value.assign(value_tier="bronze"), AS_OF - dt.timedelta(days=7))
    return warehouse


def _mart(wh):
    return wh.query(f"SELECT * FROM {AUDIENCES_MART} WHERE as_of_date = {sql_literal(AS_OF)}").set_index("customer_id")


def test_works_with_only_the_value_mart(value_mart, caplog):
    with caplog.at_level(logging.WARNING):
        rows = build_marketing_audiences(value_mart, AS_OF, "run-1")
    out = _mart(value_mart)
    assert rows == len(out)
    # a: platinum and alive -> loyal_top_value; b: gold with p_alive 0.3 -> high_value_slipping;
    # c: bronze, p_alive 0.1 -> dormant_low_value; d: silver matches nothing.
    assert out["audience"].to_dict() == {"a": "loyal_top_value", "b": "high_value_slipping", "c": "dormant_low_value"}
    assert (out["run_id"] == "run-1").all() and set(out["as_of_date"]) == {pd.Timestamp(AS_OF)}
    assert "marts.user_segments does not exist" in caplog.text
    assert "marts.user_propensity does not exist" in caplog.text


def test_uses_every_mart_present_and_tolerates_stale_and_partial_ones(value_mart, caplog):
    wh = value_mart
    _write(wh, "marts.user_segments", pd.DataFrame({"customer_id": ["c", "d"], "segment_id": [1, 2],
                                                    "segment_name": ["lapsed (lower spend)", "new"]}),
           AS_OF - dt.timedelta(days=3))
    _write(wh, "marts.user_propensity", pd.DataFrame({"customer_id": ["a", "b", "d"], "p_purchase_30d": [0.2, 0.1, 0.6]}))
    _write(wh, "marts.user_recommendations", pd.DataFrame({
        "customer_id": ["a", "a", "a", "a", "d"], "rank": [2, 1, 3, 4, 1], "product_id": ["p2", "p1", "p3", "p4", "p9"],
        "score": 1.0}))
    with caplog.at_level(logging.WARNING):
        build_marketing_audiences(wh, AS_OF, "run-2")
    out = _mart(wh)
    assert out.loc["c", "audience"] == "lapsed_low_value"  # segment variant name matches "lapsed"
    assert out.loc["d", "audience"] == "new_high_propensity" and out.loc["d", "offer_product_ids"] == "p9"
    assert out.loc["a", "offer_product_ids"] == "p1,p2,p3"
    # No churn_risk column in this propensity mart: high_value_at_risk matches no one.
    assert "high_value_at_risk" not in set(out["audience"])
    assert "stale" in caplog.text and "churn_risk" in caplog.text


def test_rerun_replaces_the_partition_and_empty_results_still_write(warehouse):
    assert build_marketing_audiences(warehouse, AS_OF, "empty") == 0  # no marts at all
    assert warehouse.row_count(AUDIENCES_MART) == 0
    types = warehouse.query("SELECT column_name, data_type FROM information_schema.columns "
                            "WHERE table_schema = 'marts' AND table_name = 'marketing_audiences'")
    types = dict(zip(types["column_name"], types["data_type"]))
    assert types["as_of_date"] == "DATE" and types["priority"] == "BIGINT" and types["is_control"] == "BOOLEAN"
    _write(warehouse, "marts.user_value", pd.DataFrame({
        "customer_id": ["a"], "expected_orders_90d": [1.0], "p_alive": [0.9], "predicted_clv_365d": [9.0],
        "value_tier": ["platinum"], "historical_value": [1.0]}))
    for _ in range(2):
        build_marketing_audiences(warehouse, AS_OF, "again")
    assert warehouse.row_count(AUDIENCES_MART) == 1


def test_invalid_config_stops_before_writing(value_mart, tmp_path):
    bad = tmp_path / "audiences.yaml"
    bad.write_text("audiences:\n  - name: x\n    priority: 1\n    action: a\n    reason: r\n"
                   "    when: {value_tier: [diamond]}\n")
    with pytest.raises(AudienceConfigError, match="diamond"):
        build_marketing_audiences(value_mart, AS_OF, "bad", config_path=bad)
    assert not value_mart.table_exists(AUDIENCES_MART)


def test_a_control_group_too_small_for_the_expected_effect_is_warned_about(value_mart, caplog):
    with caplog.at_level(logging.WARNING):
        build_marketing_audiences(value_mart, AS_OF, "run-3")
    # four customers: no control group can detect +5 points of conversion
    assert "its control group of" in caplog.text and "not the 0.050 the config expects" in caplog.text
    assert "audience dormant_low_value: its control group" not in caplog.text  # suppression keeps no control
