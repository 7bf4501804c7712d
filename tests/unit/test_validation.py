"""Great Expectations suites really run: good data passes, each kind of bad data is named with rows."""
from __future__ import annotations

import datetime as dt

import pytest

from ml import ingest, validation

AS_OF = dt.date(2010, 12, 3)
GOOD = """Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country
536365,85123A,HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom
536365,71053,LANTERN,6,2010-12-01 08:26:00,3.39,17850,United Kingdom
C536379,22960,JAM SET,-1,2010-12-01 09:41:00,4.25,14527,United Kingdom
536380,22961,JAM SET,2,2010-12-02 09:41:00,1.45,,United Kingdom
"""


def stage(wh, tmp_path, text):
    path = tmp_path / "export.csv"
    path.write_text(text)
    ingest.stage_source(wh, path)


def test_good_export_passes_and_is_recorded(warehouse, tmp_path):
    stage(warehouse, tmp_path, GOOD)
    outcomes = validation.validate_staged(warehouse, AS_OF, "run-ok")
    assert {o.suite for o in outcomes} == {"raw_order_lines", "raw_products"}
    assert all(o.success for o in outcomes)
    recorded = warehouse.query("SELECT suite, success, failed FROM ops.validation_results ORDER BY suite")
    assert recorded["success"].all() and recorded["failed"].sum() == 0
    assert outcomes[0].data_docs and outcomes[0].data_docs.endswith("index.html")


@pytest.mark.parametrize("broken, expectation, where", [
    (GOOD.replace("2.55", "-2.55"), "expect_column_values_to_be_between on column unit_price", "source_row=2"),
    (GOOD.replace(",6,2010-12-01", ",six,2010-12-01", 1), "expect_column_values_to_not_be_null on column quantity", "source_row=2"),
    (GOOD.replace("2010-12-02 09:41:00", "2010-12-05 09:41:00"), "on column invoice_ts", "source_row=5"),
    (GOOD.replace("1.45,,", "1.45,??,"), "expect_column_values_to_match_regex on column customer_id", "source_row=5"),
    (GOOD.replace(",2,2010", ",0,2010"), "expect_column_values_to_not_be_in_set on column quantity", "source_row=5"),
])
def test_each_kind_of_bad_row_is_named_with_its_location(warehouse, tmp_path, broken, expectation, where):
    stage(warehouse, tmp_path, broken)
    with pytest.raises(validation.ValidationFailed) as failure:
        validation.validate_staged(warehouse, AS_OF, "run-bad")
    message = str(failure.value)
    assert "raw.stage_order_lines" in message and expectation in message
    assert f"source_file=export.csv, {where}" in message
    recorded = warehouse.query("SELECT success FROM ops.validation_results WHERE suite = 'raw_order_lines'")
    assert not recorded["success"].any()


def test_duplicate_invoice_lines_are_caught(warehouse, tmp_path):
    stage(warehouse, tmp_path, GOOD)
    warehouse.execute("UPDATE raw.stage_order_lines SET line_no = 1 WHERE invoice_id = '536365'")
    with pytest.raises(validation.ValidationFailed, match="expect_compound_columns_to_be_unique"):
        validation.validate_staged(warehouse, AS_OF, "run-dup")


def test_missing_suite_file_is_an_error():
    with pytest.raises(FileNotFoundError, match="no expectation suite file"):
        validation.load_suite_definition("raw_nothing")


def test_an_export_pasted_in_twice_is_caught_though_the_loader_numbers_its_lines(warehouse, tmp_path):
    body = GOOD.split("\n", 1)[1]
    stage(warehouse, tmp_path, GOOD + body)  # every line twice: the loader's line numbers differ
    with pytest.raises(validation.ValidationFailed) as failure:
        validation.validate_staged(warehouse, AS_OF, "run-twice")
    message = str(failure.value)
    assert "expect_compound_columns_to_be_unique" in message and "customer_id=<a customer id>" in message
    assert "17850" not in message and "14527" not in message  # where the rows are, not whose they are
    recorded = warehouse.query("SELECT * FROM ops.validation_results WHERE run_id = 'run-twice'")
    assert "17850" not in recorded.to_json()
    docs = "".join(p.read_text() for p in (tmp_path / "var" / "data_docs").rglob("*.html"))
    assert "536365" in docs, "Data Docs print the offending rows"
    assert "17850" not in docs and "14527" not in docs, "with pseudonyms for their customers"
    # a shop's few exact repeats (well below 20% of its lines) are real and pass
    many = "".join(f"5{i:05d},P{i},THING,1,2010-12-01 10:00:00,1.00,{i},United Kingdom\n" for i in range(40))
    stage(warehouse, tmp_path, GOOD + many + many.splitlines(keepends=True)[0])
    assert all(o.success for o in validation.validate_staged(warehouse, AS_OF, "run-one-repeat"))


def test_an_order_dated_before_the_earliest_date_is_refused_with_its_row(warehouse, tmp_path, monkeypatch):
    stage(warehouse, tmp_path, GOOD.replace("2010-12-01 09:41:00", "1900-01-01 09:41:00"))
    with pytest.raises(validation.ValidationFailed) as failure:
        validation.validate_staged(warehouse, AS_OF, "run-1900")
    assert "on column invoice_ts" in str(failure.value) and "source_row=4" in str(failure.value)
    monkeypatch.setenv("VALUEFLOW_EARLIEST_ORDER_DATE", "1899-01-01")  # a shop with that long a history
    assert all(o.success for o in validation.validate_staged(warehouse, AS_OF, "run-1900-allowed"))


def test_pseudonyms_keep_customers_apart_and_the_debug_flag_shows_them(state_home, monkeypatch):
    import pandas as pd

    frame = pd.DataFrame({"customer_id": ["17850", "14527", "17850", None, "bad id"]})
    seen = validation.without_customer_ids(frame)["customer_id"]
    assert seen[0] == seen[2] != seen[1] and "17850" not in seen[0]
    assert seen[3] is None and seen[4] == "bad id", "a missing or malformed id is what gets reported"
    assert frame["customer_id"][0] == "17850", "the staged frame itself is untouched"
    monkeypatch.setenv("VALUEFLOW_SHOW_CUSTOMER_IDS", "1")
    assert validation.without_customer_ids(frame) is frame
