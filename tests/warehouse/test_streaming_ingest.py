"""Staging streams an export in blocks: the staged tables equal what reading it whole gives, on both dialects."""
from __future__ import annotations

import pandas as pd
import pytest

from ml import ingest

pytestmark = pytest.mark.warehouse

HEADER = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n"


def export_text(invoices: int = 60) -> str:
    """Invoices of 1..4 lines, one split by another invoice's line, so blocks cut invoices apart."""
    rows = []
    for i in range(invoices):
        for line in range(1 + i % 4):
            price = "0" if (i, line) == (5, 0) else f"{1 + line}.5"
            rows.append(f"{1000 + i},P{line + i % 3},ITEM {line % 2},{1 + line},2024-01-{1 + i % 28:02d} 10:00:00,"
                        f"{price},{500 + i % 9},UK\n")
    rows.append("1003,P9,LATE LINE,2,2024-01-04 10:00:00,9.0,503,UK\n")  # a line of invoice 1003, out of place
    rows.append("C1004,P1,ITEM 1,-1,2024-01-05 11:00:00,2.5,504,UK\n")
    return HEADER + "".join(rows)


@pytest.fixture
def wh(any_warehouse):
    return any_warehouse


@pytest.fixture
def tiny_blocks(monkeypatch):
    monkeypatch.setattr(ingest, "CSV_BLOCK_BYTES", 256)  # a few lines per block


def staged_lines(wh) -> pd.DataFrame:
    return wh.query("SELECT * FROM raw.stage_order_lines ORDER BY source_row")


def test_staging_in_blocks_equals_reading_the_whole_file(wh, tmp_path, tiny_blocks):
    path = tmp_path / "export.csv"
    path.write_text(export_text())
    batches = list(ingest.order_line_batches(path))
    assert len(batches) > 10  # the test means something only if invoices straddle blocks

    staged = ingest.stage_source(wh, path)
    whole = ingest.read_order_lines(path)
    got = staged_lines(wh)
    assert staged.rows["order_lines"] == len(whole) == len(got)
    assert got["source_row"].tolist() == list(range(2, len(whole) + 2))
    columns = ["invoice_id", "line_no", "product_id", "quantity", "unit_price", "customer_id", "is_return"]
    pd.testing.assert_frame_equal(got[columns].reset_index(drop=True), whole[columns].reset_index(drop=True),
                                  check_dtype=False)
    # The out-of-place line is its invoice's last, numbered after the three before it.
    late = got[got["description"] == "LATE LINE"]
    assert late[["invoice_id", "line_no"]].values.tolist() == [["1003", 5]]
    assert staged.last_order_ts == pd.Timestamp("2024-01-28 10:00:00")


def test_staged_rows_keep_file_order(wh, tmp_path, tiny_blocks):
    path = tmp_path / "export.csv"
    path.write_text(export_text())
    ingest.stage_source(wh, path)
    as_stored = wh.query("SELECT source_row FROM raw.stage_order_lines")["source_row"].tolist()
    assert as_stored == sorted(as_stored)


def test_derived_catalogue_in_sql_equals_the_pandas_one(wh, tmp_path, tiny_blocks):
    path = tmp_path / "export.csv"
    path.write_text(export_text())
    ingest.stage_source(wh, path)
    got = wh.query("SELECT * FROM raw.stage_products ORDER BY product_id").reset_index(drop=True)
    expected = ingest.derive_products(ingest.read_order_lines(path)).reset_index(drop=True)
    assert got["product_id"].tolist() == expected["product_id"].tolist()
    assert got["description"].tolist() == expected["description"].tolist()
    assert got["unit_price"].tolist() == pytest.approx(expected["unit_price"].tolist())
    assert got["category"].isna().all()


def test_a_malformed_row_deep_in_the_file_is_named_and_keeps_the_previous_staging(wh, tmp_path, tiny_blocks):
    good = tmp_path / "good.csv"
    good.write_text(export_text())
    ingest.stage_source(wh, good)
    before = staged_lines(wh)

    bad = tmp_path / "bad.csv"
    lines = export_text().splitlines(keepends=True)
    lines.insert(len(lines) - 5, "1099,P1,TOO,MANY,FIELDS,1,2024-01-01,1.0,5,UK\n")
    bad.write_text("".join(lines))
    with pytest.raises(ingest.SourceError, match=r"bad.csv: cannot be read as CSV near row \d+"):
        ingest.stage_source(wh, bad)
    pd.testing.assert_frame_equal(staged_lines(wh), before)
    assert not wh.table_exists("raw.stage_order_lines_unnumbered")


def test_header_only_files_are_checked_for_columns_first(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("order,sku,qty\n")
    with pytest.raises(ingest.SourceError, match="missing required column"):
        list(ingest.order_line_batches(path))
