"""The export loader: both UCI header spellings, CSV and XLSX, returns, guests, and clear errors."""
from __future__ import annotations

import pandas as pd
import pytest

from ml import ingest

UCI_I = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART,6,12/1/2010 8:26,2.55,17850.0,United Kingdom
536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850.0,United Kingdom
C536379,D,Discount,-1,12/1/2010 9:41,27.5,14527.0,United Kingdom
536380,22961,JAM MAKING SET,2,12/2/2010 9:41,1.45,,United Kingdom
"""
UCI_II = """Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country
489434,85048,15CM CHRISTMAS GLASS BALL,12,2009-12-01 07:45:00,6.95,13085,United Kingdom
C489449,22087,PAPER BUNTING,-12,2009-12-01 10:33:00,2.95,16321,Australia
"""


def test_reads_online_retail_i_headers_and_normalises(tmp_path):
    path = tmp_path / "retail.csv"
    path.write_text(UCI_I)
    lines = ingest.read_order_lines(path)
    assert list(lines["invoice_id"]) == ["536365", "536365", "C536379", "536380"]
    assert list(lines["line_no"]) == [1, 2, 1, 1]
    assert lines["customer_id"].iloc[0] == "17850"  # '17850.0' normalised
    assert pd.isna(lines["customer_id"].iloc[3])  # guest line kept, without a customer
    assert list(lines["is_return"]) == [False, False, True, False]
    assert lines["invoice_ts"].iloc[0] == pd.Timestamp("2010-12-01 08:26")  # month-first date
    assert lines["unit_price"].iloc[1] == pytest.approx(3.39)
    assert list(lines["source_row"]) == [2, 3, 4, 5]


def test_reads_a_gzipped_csv_as_its_plain_csv(tmp_path):
    import gzip

    plain, packed = tmp_path / "retail.csv", tmp_path / "retail.csv.gz"
    text = UCI_II.replace("PAPER BUNTING", "PAPER BUNTING É")  # UTF-8 survives decompression
    plain.write_text(text, encoding="utf8")
    packed.write_bytes(gzip.compress(text.encode("utf8")))
    got, want = ingest.read_order_lines(packed), ingest.read_order_lines(plain)
    pd.testing.assert_frame_equal(got.drop(columns="source_file"), want.drop(columns="source_file"))
    assert got["description"].iloc[1] == "PAPER BUNTING É" and set(got["source_file"]) == {"retail.csv.gz"}
    bad = tmp_path / "retail.json.gz"
    bad.write_bytes(gzip.compress(b"{}"))
    with pytest.raises(ingest.SourceError, match="expected .csv, .csv.gz or .xlsx"):
        ingest.read_order_lines(bad)


def test_reads_online_retail_ii_xlsx_every_sheet(tmp_path):
    frame = pd.read_csv(pd.io.common.StringIO(UCI_II), dtype=str)
    path = tmp_path / "retail.xlsx"
    with pd.ExcelWriter(path) as writer:
        frame.iloc[:1].to_excel(writer, sheet_name="Year 2009-2010", index=False)
        frame.iloc[1:].to_excel(writer, sheet_name="Year 2010-2011", index=False)
    lines = ingest.read_order_lines(path)
    assert len(lines) == 2
    assert set(lines["source_file"]) == {"retail.xlsx[Year 2009-2010]", "retail.xlsx[Year 2010-2011]"}
    assert lines["quantity"].tolist() == [12, -12]
    assert lines["is_return"].tolist() == [False, True]


def test_invoices_repeated_in_a_later_sheet_are_read_once(tmp_path):
    frame = pd.read_csv(pd.io.common.StringIO(UCI_II), dtype=str)
    path = tmp_path / "overlap.xlsx"
    with pd.ExcelWriter(path) as writer:
        frame.to_excel(writer, sheet_name="Year 2009-2010", index=False)
        frame.to_excel(writer, sheet_name="Year 2010-2011", index=False)  # the real export overlaps like this
    lines = ingest.read_order_lines(path)
    assert len(lines) == 2 and set(lines["source_file"]) == {"overlap.xlsx[Year 2009-2010]"}


def test_missing_column_names_file_and_columns(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text("Invoice,StockCode,Quantity,InvoiceDate,Customer ID\n1,A,1,2020-01-01,5\n")
    with pytest.raises(ingest.SourceError, match=r"broken.csv: missing required column\(s\) \['unit_price'\]"):
        ingest.read_order_lines(path)


def test_unknown_headers_are_reported(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("order,sku,qty\n1,A,2\n")
    with pytest.raises(ingest.SourceError, match="found \\['order', 'sku', 'qty'\\]"):
        ingest.read_order_lines(path)


def test_header_only_file_is_an_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text(UCI_II.splitlines()[0] + "\n")
    with pytest.raises(ingest.SourceError, match="no order lines"):
        ingest.read_order_lines(path)


def test_unparseable_values_become_nulls_for_validation_to_report(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(UCI_II.replace(",12,", ",twelve,").replace("2009-12-01 10:33:00", "yesterday"))
    lines = ingest.read_order_lines(path)
    assert pd.isna(lines["quantity"].iloc[0])
    assert pd.isna(lines["invoice_ts"].iloc[1])


def test_missing_source_and_unsupported_type(tmp_path):
    with pytest.raises(ingest.SourceError, match="no such file"):
        ingest.read_source(tmp_path / "nope.csv")
    odd = tmp_path / "data.json"
    odd.write_text("{}")
    with pytest.raises(ingest.SourceError, match="unsupported file type"):
        ingest.read_source(odd)


def test_products_are_derived_when_the_export_has_none(tmp_path):
    path = tmp_path / "retail.csv"
    path.write_text(UCI_I)
    tables = ingest.read_source(path)
    products = tables["products"].set_index("product_id")
    assert set(products.index) == {"85123A", "71053", "22961"}  # the return line sells nothing
    assert products.loc["71053", "unit_price"] == pytest.approx(3.39)
    assert products["category"].isna().all()


def test_default_as_of_is_the_day_after_the_last_order():
    assert str(ingest.default_as_of(pd.Timestamp("2011-12-09 12:50"))) == "2011-12-10"


def test_a_truncated_xlsx_is_a_source_error_naming_the_file(tmp_path):
    frame = pd.read_csv(pd.io.common.StringIO(UCI_II), dtype=str)
    whole = tmp_path / "whole.xlsx"
    frame.to_excel(whole, index=False)
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # a download that stopped half-way
    with pytest.raises(ingest.SourceError, match=r"cut.xlsx: cannot be read as XLSX"):
        ingest.read_order_lines(cut)


def test_a_latin_1_export_is_read_and_the_log_says_so_with_the_line(tmp_path, caplog):
    import logging

    path = tmp_path / "legacy.csv"
    text = UCI_II.replace("United Kingdom", "Côte d'Ivoire", 1)
    path.write_bytes(text.encode("latin-1"))
    with caplog.at_level(logging.WARNING, logger="ml.ingest"):
        lines = ingest.read_order_lines(path)
    assert "Côte d'Ivoire" in set(lines["country"])
    line = 1 + text.split("Côte")[0].count("\n")
    assert f"legacy.csv is not UTF-8 (byte 0xf4 at line {line}) and holds no UTF-8 text: read as Latin-1" in caplog.text
    assert "--encoding" in caplog.text


def test_a_file_mixing_utf8_and_latin_1_is_refused_unless_its_encoding_is_declared(tmp_path):
    path = tmp_path / "mixed.csv"
    lines = UCI_II.splitlines(keepends=True)
    body = lines[0].encode() + lines[1].replace("United Kingdom", "CAFÉ").encode("utf8") + \
        lines[2].replace("Australia", "Côte d'Ivoire").encode("latin-1") + "".join(lines[3:]).encode()
    path.write_bytes(body)
    with pytest.raises(ingest.SourceError, match=r"mixed.csv: mixes UTF-8 text \(line 2\) with bytes that are not "
                                                 r"UTF-8 \(0xf4 at line 3\).*--encoding"):
        ingest.read_order_lines(path)
    declared = number_free(ingest.order_line_batches(path, "latin-1"))
    assert "Côte d'Ivoire" in set(declared["country"])  # what was declared is what is read


def number_free(batches):
    return pd.concat(list(batches), ignore_index=True)


def test_a_declared_encoding_is_used_and_an_unknown_one_is_refused_before_reading(tmp_path):
    path = tmp_path / "windows.csv"
    path.write_bytes(UCI_II.replace("United Kingdom", "€ zone", 1).encode("cp1252"))
    assert "€ zone" in set(number_free(ingest.order_line_batches(path, "cp1252"))["country"])
    with pytest.raises(ingest.SourceError, match=r"--encoding 'klingon': not an encoding"):
        ingest.check_encoding("klingon")


@pytest.mark.parametrize("policy, kept", [("keep", 2), ("drop", 1), ("fail", 2)])
def test_exact_repeats_of_a_line_are_counted_and_dropped_only_by_the_drop_policy(warehouse, tmp_path, policy, kept):
    path = tmp_path / "export.csv"
    first_line = UCI_II.splitlines()[1]
    path.write_text(UCI_II + first_line + "\n")  # the first line again, at the end of the file
    staged = ingest.stage_source(warehouse, path, repeated_lines=policy)
    assert staged.repeated_lines == 1
    assert staged.repeated_lines_dropped == (1 if policy == "drop" else 0)
    invoice, product = first_line.split(",")[:2]
    copies = warehouse.query(f"SELECT source_row FROM raw.stage_order_lines WHERE invoice_id = '{invoice}' "
                             f"AND product_id = '{product}' ORDER BY source_row")["source_row"].tolist()
    assert len(copies) == kept and copies[0] == 2  # the first in file order is the one kept


def test_an_unknown_repeated_lines_policy_is_refused(warehouse, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(UCI_II)
    with pytest.raises(ingest.SourceError, match="repeated_lines must be one of"):
        ingest.stage_source(warehouse, path, repeated_lines="ignore")


def test_the_repeat_key_is_the_one_the_suite_checks():
    from ml import validation

    definition = validation.load_suite_definition("raw_order_lines")
    tolerated = [e for e in definition["expectations"]
                 if e["type"] == "expect_compound_columns_to_be_unique" and "mostly" in e["kwargs"]]
    assert [tuple(e["kwargs"]["column_list"]) for e in tolerated] == [ingest.REPEAT_KEY]


def test_a_folder_export_without_events_drops_the_previous_exports_events(warehouse, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
        (folder / "order_lines.csv").write_text(UCI_II)
    (first / "events.csv").write_text("customer_id,product_id,event_type,event_ts\n"
                                      "13085,85048,view,2009-12-01 07:40:00\n")
    ingest.stage_source(warehouse, first)
    assert ingest.publish_staged(warehouse)["events"] == 1
    ingest.stage_source(warehouse, second)
    published = ingest.publish_staged(warehouse)
    assert "events" not in published and not warehouse.table_exists("raw.events")
    assert warehouse.row_count("raw.order_lines") == published["order_lines"]
