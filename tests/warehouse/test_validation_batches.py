"""Validation in batches reports what validating the whole table reports, on both dialects."""
from __future__ import annotations

import datetime as dt

import pytest

from ml import ingest, validation

pytestmark = pytest.mark.warehouse

AS_OF = dt.date(2024, 2, 1)
HEADER = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n"


def export(path, bad_prices: set[int] = frozenset()) -> None:
    rows = []
    for i in range(120):
        for line in range(1 + i % 3):
            price = "-1.0" if i in bad_prices and line == 0 else "2.5"
            rows.append(f"{1000 + i},P{line},ITEM,{1 + line},2024-01-{1 + i % 28:02d} 10:00:00,{price},{500 + i % 9},UK\n")
    path.write_text(HEADER + "".join(rows))


@pytest.fixture
def wh(any_warehouse):
    return any_warehouse


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(validation, "VALIDATION_BATCH_ROWS", 40)


def test_batches_split_by_key_cover_every_row_once(wh, tmp_path, small_batches):
    export(tmp_path / "export.csv")
    ingest.stage_source(wh, tmp_path / "export.csv")
    batches = list(validation.staged_batches(wh, "raw.stage_order_lines", ["invoice_id"]))
    assert len(batches) > 3
    rows = sorted(r for b in batches for r in b["source_row"])
    assert rows == sorted(wh.query("SELECT source_row FROM raw.stage_order_lines")["source_row"])
    owners = {}
    for number, batch in enumerate(batches):
        for invoice in batch["invoice_id"].unique():
            assert owners.setdefault(invoice, number) == number  # no invoice split between batches


def test_offending_rows_are_counted_over_all_batches(wh, tmp_path, small_batches):
    bad = {3, 40, 77, 101, 119}
    export(tmp_path / "export.csv", bad_prices=bad)
    ingest.stage_source(wh, tmp_path / "export.csv")
    with pytest.raises(validation.ValidationFailed) as failure:
        validation.validate_staged(wh, AS_OF, "run-batched")
    message = str(failure.value)
    total = wh.row_count("raw.stage_order_lines")
    assert f"{len(bad)} offending row(s) ({100 * len(bad) / total:.2f}%)" in message
    assert "1 of 18 expectations failed" in message
    assert message.count("source_file=export.csv") == validation.SAMPLE_ROWS


def test_a_duplicate_line_is_caught_whichever_batch_it_lands_in(wh, tmp_path, small_batches):
    export(tmp_path / "export.csv")
    ingest.stage_source(wh, tmp_path / "export.csv")
    assert all(o.success for o in validation.validate_staged(wh, AS_OF, "run-clean"))
    wh.execute("UPDATE raw.stage_order_lines SET line_no = 1 WHERE invoice_id = '1110'")
    with pytest.raises(validation.ValidationFailed, match="expect_compound_columns_to_be_unique"):
        validation.validate_staged(wh, AS_OF, "run-dup")


def test_uniqueness_keys_are_what_every_uniqueness_expectation_shares():
    order_lines = validation.load_suite_definition("raw_order_lines")
    # (invoice_id, line_no) and the exact-repeat check share the invoice: a repeated line lands in
    # its invoice's batch, so both hold over the whole table
    assert validation.uniqueness_keys(order_lines) == ["invoice_id"]
    assert validation.uniqueness_keys(validation.load_suite_definition("raw_products")) == ["product_id"]
    assert validation.uniqueness_keys(validation.load_suite_definition("raw_events")) == []
    clash = {"name": "x", "expectations": [
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "a"}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "b"}}]}
    with pytest.raises(ValueError, match="share no column"):
        validation.uniqueness_keys(clash)
