"""Bad exports and bad arguments against a workspace that already holds a real run.

Each case goes through the ingest DAG's own steps (`orchestration.stage_export`, `validate_export`,
`publish_export`, `build_user_features`, in the DAG's order, in this process: Airflow adds nothing to
what they decide) and must stop with an error a retry cannot mend (the DAG turns it into
`AirflowFailException`: one attempt, no retries), a message naming the file, row or argument, and
every table of raw, features, marts and ops, and every champion, exactly as they were. The same
through `python -m ml run`, exit status and printed summary included, is in test_cli_runs.py.
"""
from __future__ import annotations

import datetime as dt
import gzip
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ml import ingest, orchestration, validation
from tests.reliability.state import changed, snapshot

pytestmark = pytest.mark.reliability

PERMANENT = (*orchestration.PERMANENT_ERRORS, validation.ValidationFailed)
DAG_STEPS = ["stage_export", "validate_order_lines", "publish_raw_tables", "build_user_features"]
# Online Retail columns of the generated export: Invoice, StockCode, Description, Quantity, InvoiceDate,
# Price, Customer ID, Country.
QUANTITY, INVOICE_DATE, PRICE, CUSTOMER = 3, 4, 5, 6


def ingest_as_the_dag_does(source: Path | str, as_of: str | None = None, run_id: str = "probe",
                           encoding: str | None = None, repeated_lines: str | None = None) -> dict:
    staged = orchestration.stage_export(str(source), as_of, None, encoding=encoding, repeated_lines=repeated_lines)
    orchestration.validate_export(staged["as_of"], run_id, staged["orders_before"],
                                  no_repeats=staged["repeated_lines_policy"] == "fail")
    published = orchestration.publish_export(staged["source"], staged["as_of"], run_id, staged["repeated_lines"],
                                             staged["repeated_lines_dropped"])
    orchestration.build_user_features(published["as_of"])
    return staged


def test_the_steps_here_are_the_ingest_dags_own_in_its_order():
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags" / "ingest_orders.py")).dags["ingest_orders"]
    order = [t.task_id for t in dag.topological_sort()]
    assert order == DAG_STEPS


def lines(shop: Path) -> list[str]:
    return (shop / "order_lines.csv").read_text().splitlines()


def write_lines(folder: Path, rows: list[str], name: str = "export.csv") -> Path:
    path = folder / name
    path.write_text("\n".join(rows) + "\n")
    return path


def with_field(rows: list[str], row: int, field: int, value: str) -> list[str]:
    """`rows` with one field of export row `row` (spreadsheet numbering: the header is row 1) replaced."""
    rows = list(rows)
    fields = rows[row - 1].split(",")
    fields[field] = value
    rows[row - 1] = ",".join(fields)
    return rows


def xlsx_cut_in_half(folder: Path, rows: list[str]) -> Path:
    whole = folder / "whole.xlsx"
    pd.read_csv(write_lines(folder, rows[:200]), dtype=str).to_excel(whole, index=False)
    cut = folder / "export.xlsx"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    return cut


def gzip_cut_short(folder: Path, rows: list[str]) -> Path:
    packed = gzip.compress(("\n".join(rows) + "\n").encode())
    path = folder / "export.csv.gz"
    path.write_bytes(packed[: len(packed) // 2])
    return path


def mixed_encodings(folder: Path, rows: list[str]) -> Path:
    path = folder / "export.csv"
    body = [rows[0].encode(), rows[1].replace("United Kingdom", "CAFÉ").encode("utf8"),
            rows[2].replace("United Kingdom", "Côte d'Ivoire").encode("latin-1"), *(r.encode() for r in rows[3:])]
    path.write_bytes(b"\n".join(body) + b"\n")
    return path


def folder_without_order_lines(folder: Path, rows: list[str]) -> Path:
    shop = folder / "shop"
    shop.mkdir()
    (shop / "products.csv").write_text("product_id,description,category,unit_price\nP1,A THING,misc,1.0\n")
    return shop


def few_customers(folder: Path, rows: list[str]) -> Path:
    keep = {r.split(",")[CUSTOMER] for r in rows[1:200]}
    kept = [r for r in rows[1:] if r.split(",")[CUSTOMER] in sorted(keep)[:12]]
    return write_lines(folder, [rows[0], *kept])


def future_rows(folder: Path, rows: list[str]) -> Path:
    rows = with_field(rows, 3, INVOICE_DATE, "2030-01-01 10:00:00")
    return write_lines(folder, with_field(rows, 4, INVOICE_DATE, "2030-01-02 10:00:00"))


# case id -> (build the source from the shop's rows, run arguments, error type, what the message must say)
CASES = {
    "negative price": (lambda f, r: write_lines(f, with_field(r, 6, PRICE, "-3.50")), {}, validation.ValidationFailed,
                       ["expect_column_values_to_be_between on column unit_price", "source_file=export.csv, source_row=6"]),
    "price too high": (lambda f, r: write_lines(f, with_field(r, 9, PRICE, "99999")), {}, validation.ValidationFailed,
                       ["on column unit_price", "source_row=9"]),
    "price not a number": (lambda f, r: write_lines(f, with_field(r, 7, PRICE, "abc")), {}, validation.ValidationFailed,
                           ["expect_column_values_to_not_be_null on column unit_price", "source_row=7"]),
    "quantity not a number": (lambda f, r: write_lines(f, with_field(r, 5, QUANTITY, "six")), {},
                              validation.ValidationFailed, ["not_be_null on column quantity", "source_row=5"]),
    "quantity zero": (lambda f, r: write_lines(f, with_field(r, 8, QUANTITY, "0")), {}, validation.ValidationFailed,
                      ["expect_column_values_to_not_be_in_set on column quantity", "source_row=8"]),
    "quantity absurd": (lambda f, r: write_lines(f, with_field(r, 8, QUANTITY, "10000000")), {},
                        validation.ValidationFailed, ["expect_column_values_to_be_between on column quantity",
                                                      "source_row=8"]),
    "date unreadable": (lambda f, r: write_lines(f, with_field(r, 10, INVOICE_DATE, "2024-13-45 25:00")), {},
                        validation.ValidationFailed, ["not_be_null on column invoice_ts", "source_row=10"]),
    "date in 1900": (lambda f, r: write_lines(f, with_field(r, 11, INVOICE_DATE, "1900-01-01 10:00:00")), {},
                     validation.ValidationFailed, ["on column invoice_ts", "source_row=11"]),
    "dates in 2030": (future_rows, {}, ingest.SourceError, ["export.csv: its last order line is dated 2030-01-02",
                                                            "after today"]),
    "invoice id missing": (lambda f, r: write_lines(f, with_field(r, 12, 0, "")), {}, validation.ValidationFailed,
                           ["not_be_null on column invoice_id", "source_row=12"]),
    "product id blank": (lambda f, r: write_lines(f, with_field(r, 14, 1, '"  "')), {}, validation.ValidationFailed,
                         ["not_be_null on column product_id", "source_row=14"]),
    "sql in a customer id": (lambda f, r: write_lines(f, with_field(r, 13, CUSTOMER, "1'; DROP TABLE raw.order_lines; --")),
                             {}, validation.ValidationFailed, ["match_regex on column customer_id", "source_row=13",
                                                               "DROP TABLE"]),
    "required column missing": (lambda f, r: write_lines(f, [",".join(x.split(",")[:PRICE] + x.split(",")[PRICE + 1:])
                                                             for x in r]), {}, ingest.SourceError,
                                ["export.csv: missing required column(s) ['unit_price']"]),
    "empty file": (lambda f, r: write_lines(f, [""]), {}, ingest.SourceError, ["export.csv: is empty"]),
    "header only": (lambda f, r: write_lines(f, r[:1]), {}, ingest.SourceError, ["export.csv: has a header but no order lines"]),
    "not a table file": (lambda f, r: write_lines(f, r, "export.json"), {}, ingest.SourceError,
                         ["export.json: unsupported file type '.json'"]),
    "no such file": (lambda f, r: f / "nowhere.csv", {}, ingest.SourceError, ["nowhere.csv: no such file or folder"]),
    "folder without order lines": (folder_without_order_lines, {}, ingest.SourceError,
                                   ["shop: a source folder must contain order_lines.csv"]),
    "xlsx cut in half": (xlsx_cut_in_half, {}, ingest.SourceError, ["export.xlsx: cannot be read as XLSX"]),
    "gzip cut short": (gzip_cut_short, {}, ingest.SourceError, ["export.csv.gz: cannot be read as CSV"]),
    # a small export (3,000 lines, 170 customers) pasted ten times: GX is slow at listing 27,000 offenders
    "file pasted ten times": (lambda f, r: write_lines(f, [r[0], *(r[1:3001] * 10)]), {}, validation.ValidationFailed,
                              ["expect_compound_columns_to_be_unique on columns ['invoice_id', 'product_id'"]),
    "repeated lines, policy fail": (lambda f, r: write_lines(f, [*r, r[20], r[21]]), {"repeated_lines": "fail"},
                                    validation.ValidationFailed,
                                    ["expect_compound_columns_to_be_unique on columns ['invoice_id', 'product_id', "
                                     "'quantity'"]),
    "utf-8 and latin-1 mixed": (mixed_encodings, {}, ingest.SourceError, ["export.csv: mixes UTF-8 text (line 2)",
                                                                           "--encoding"]),
    "unknown encoding": (lambda f, r: write_lines(f, r), {"encoding": "klingon"}, ingest.SourceError,
                         ["--encoding 'klingon': not an encoding"]),
    "unknown repeat policy": (lambda f, r: write_lines(f, r), {"repeated_lines": "ignore"}, ingest.SourceError,
                              ["repeated_lines must be one of ['keep', 'drop', 'fail'], got 'ignore'"]),
    "as-of with slashes": (lambda f, r: write_lines(f, r), {"as_of": "2011/12/01"}, ValueError,
                           ["as_of must be YYYY-MM-DD, got '2011/12/01'"]),
    "as-of with junk": (lambda f, r: write_lines(f, r), {"as_of": "2011-12-01xyz"}, ValueError,
                        ["as_of must be YYYY-MM-DD, got '2011-12-01xyz'"]),
    "too few customers": (few_customers, {}, ingest.SourceError,
                          ["identified customer(s) ordered before", "need at least 50 (VALUEFLOW_MIN_CUSTOMERS)"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_export_fails_at_once_names_where_and_changes_nothing(case, baseline_workspace, small_shop, tmp_path):
    build, arguments, error_type, messages = CASES[case]
    source = build(tmp_path, lines(small_shop))
    before = snapshot()
    with pytest.raises(error_type) as failure:
        ingest_as_the_dag_does(source, **arguments)
    assert isinstance(failure.value, PERMANENT), f"{type(failure.value).__name__} would be retried"
    for message in messages:
        assert message in str(failure.value)
    assert changed(before, snapshot()) == []


def test_a_backfill_shaped_export_is_refused_for_the_date_it_claims(baseline_workspace, small_shop, small_shop_as_of,
                                                                    tmp_path):
    """`--as-of` eight weeks before the export ends: the later orders are not history for that date."""
    before = snapshot()
    early = (small_shop_as_of - dt.timedelta(days=56)).isoformat()
    with pytest.raises(validation.ValidationFailed, match="on column invoice_ts") as failure:
        ingest_as_the_dag_does(small_shop, as_of=early)
    assert "source_file=order_lines.csv, source_row=" in str(failure.value)
    assert changed(before, snapshot()) == []


def test_a_bad_argument_is_refused_before_anything_is_staged(baseline_workspace, small_shop, tmp_path):
    from ml.warehouse import connect
    from tests.reliability.state import table_digest

    ingest_as_the_dag_does(small_shop)  # staging now holds the shop
    with connect() as wh:
        staged = table_digest(wh, "raw.stage_order_lines")
    for arguments in ({"as_of": "2011/12/01"}, {"encoding": "klingon"}):
        with pytest.raises((ValueError, ingest.SourceError)):
            ingest_as_the_dag_does(write_lines(tmp_path, lines(small_shop)[:50]), **arguments)
        with connect() as wh:
            assert table_digest(wh, "raw.stage_order_lines") == staged, arguments


def test_a_refusal_is_recorded_with_its_checks(baseline_workspace, small_shop, tmp_path):
    """The one record a refused export leaves on purpose: its failed checks, for the person who reads them."""
    from ml.warehouse import connect

    with pytest.raises(validation.ValidationFailed):
        ingest_as_the_dag_does(write_lines(tmp_path, with_field(lines(small_shop), 6, PRICE, "-3.50")), run_id="refused")
    with connect() as wh:
        recorded = wh.query("SELECT suite, success FROM ops.validation_results WHERE run_id = 'refused'")
    success = recorded.set_index("suite")["success"].to_dict()
    assert "raw_order_lines" in success and not success["raw_order_lines"]


def published_tables(before: dict, after: dict) -> list[str]:
    return [t for t in changed(before, after) if not t.startswith(("ops.", "features.")) and "@" not in t]


def test_repeated_lines_dropped_by_policy_are_counted_in_the_ingest_record(baseline_workspace, small_shop, tmp_path):
    from ml.warehouse import connect

    rows = lines(small_shop)
    already = int(ingest.read_order_lines(small_shop / "order_lines.csv").duplicated(list(ingest.REPEAT_KEY)).sum())
    source = shutil.copytree(small_shop, tmp_path / "shop")
    write_lines(source, [*rows, rows[30], rows[31], rows[31]], "order_lines.csv")
    ingest_as_the_dag_does(source, run_id="dropped", repeated_lines="drop")
    with connect() as wh:
        record = wh.query("SELECT order_lines, repeated_lines, repeated_lines_dropped FROM ops.ingest_runs "
                          "WHERE run_id = 'dropped'").iloc[0].to_dict()
        distinct = wh.scalar(f"SELECT count(*) FROM (SELECT DISTINCT {', '.join(ingest.REPEAT_KEY)} FROM raw.order_lines) d")
    kept = len(rows) - 1 - already  # every distinct line once
    assert record == {"order_lines": kept, "repeated_lines": already + 3, "repeated_lines_dropped": already + 3}
    assert distinct == kept


def test_a_folder_export_without_events_empties_that_table_with_a_warning(baseline_workspace, small_shop, tmp_path,
                                                                          caplog):
    """A documented acceptance: the export is the whole shop, so the previous export's events go."""
    import logging

    from ml.warehouse import connect

    source = shutil.copytree(small_shop, tmp_path / "shop")
    (source / "events.csv").unlink()
    before = snapshot()
    with caplog.at_level(logging.WARNING, logger="ml.ingest"):
        ingest_as_the_dag_does(source, run_id="no-events")
    assert "the export has no events: raw.events from the previous export is dropped" in caplog.text
    with connect() as wh:
        assert not wh.table_exists("raw.events")
    # the same order lines, products and reviews were published again: only the events changed in raw
    assert published_tables(before, snapshot()) == ["raw.events"]


def test_a_dead_mlflow_is_a_transient_error_and_changes_nothing(baseline_workspace, small_shop_as_of, monkeypatch):
    """Retried with backoff by the DAG (not failed at once: the server may come back), and nothing written."""
    from ml import tracking

    before = snapshot()
    with monkeypatch.context() as dead:
        dead.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
        with pytest.raises(tracking.TrackingUnavailable, match="http://127.0.0.1:9 is not reachable") as failure:
            orchestration.train_family("segmentation", small_shop_as_of.isoformat())
    assert not isinstance(failure.value, PERMANENT)
    assert changed(before, snapshot()) == []
