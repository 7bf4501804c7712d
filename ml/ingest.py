"""Read a shop's export into the warehouse's staging tables.

A source is either one file in the UCI Online Retail / Online Retail II layout (CSV or XLSX, every
sheet), or a folder holding `order_lines.csv` in that layout plus optional `products.csv`,
`events.csv` and `reviews.csv` (what `python -m ml generate` writes).

Nothing here touches `raw.order_lines` itself: rows land in `raw.stage_*`, are validated, and only
then published (see `publish_staged`), so a bad export never replaces good data.

CSV files are read in blocks of `CSV_BLOCK_BYTES` and appended to staging batch by batch, so memory
stays flat whatever the export's size; what needs the whole table (numbering each invoice's lines,
the derived catalogue, the last order's date) is done by SQL in the warehouse.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import gzip
import io
import logging
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ml.warehouse import Warehouse

log = logging.getLogger(__name__)

# Both header spellings of the UCI exports, mapped to the warehouse's column names.
HEADER_ALIASES = {
    "invoice": "invoice_id", "invoiceno": "invoice_id",
    "stockcode": "product_id",
    "description": "description",
    "quantity": "quantity",
    "invoicedate": "invoice_ts",
    "price": "unit_price", "unitprice": "unit_price",
    "customer id": "customer_id", "customerid": "customer_id",
    "country": "country",
}
REQUIRED_COLUMNS = ("invoice_id", "product_id", "quantity", "invoice_ts", "unit_price", "customer_id")
OPTIONAL_TABLES = {
    "products": ("product_id", "description", "category", "unit_price"),
    "events": ("customer_id", "product_id", "event_type", "event_ts"),
    "reviews": ("customer_id", "product_id", "rating", "review_ts"),
}
STAGED_TABLES = ("order_lines", "products", "events", "reviews")
SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls")
# About 100k order lines per block: big enough that per-batch overhead is noise, small enough that a
# batch's pandas copy stays in the tens of MiB.
CSV_BLOCK_BYTES = 16 << 20
# An exact repeat: the same line of the same invoice, on the export's own columns (the suite's
# exact-repeat expectation checks the same ones). Real exports carry a few (a product scanned twice);
# a file pasted in twice repeats half its lines.
REPEAT_KEY = ("invoice_id", "product_id", "quantity", "unit_price", "invoice_ts", "customer_id")
# keep: kept and counted (more than the suite tolerates fails as a repeated file); drop: removed
# before validation, counted; fail: any repeat fails validation.
REPEATED_LINE_POLICIES = ("keep", "drop", "fail")
UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
ORDER_LINE_COLUMNS = ("invoice_id", "product_id", "description", "quantity", "unit_price", "invoice_ts",
                      "customer_id", "country", "is_return", "line_no", "source_file", "source_row")


class SourceError(ValueError):
    """The export cannot be read; the message names the file and what is wrong."""


@dataclass
class StagedSource:
    source: str
    rows: dict[str, int]
    last_order_ts: pd.Timestamp | None
    repeated_lines: int = 0  # order lines that repeat an earlier one exactly (before any drop)
    repeated_lines_dropped: int = 0


def _read_table_batches(path: Path, encoding: str | None = None) -> Iterator[tuple[str, int, pd.DataFrame]]:
    """(label, spreadsheet row of the first line, all-string frame) per CSV block or XLSX sheet."""
    suffix = path.suffix.lower()
    if suffix in SPREADSHEET_SUFFIXES:
        try:
            sheets = pd.read_excel(path, sheet_name=None, dtype=str)
        except (ValueError, OSError, zipfile.BadZipFile) as error:  # a truncated .xlsx is a broken zip
            raise SourceError(f"{path}: cannot be read as {suffix[1:].upper()}: {error}") from error
        for name, frame in sheets.items():
            yield f"{path.name}[{name}]", 2, frame
        return
    if suffix == ".gz" and Path(path.stem).suffix.lower() in (".csv", ".txt"):
        yield from _csv_batches(path, encoding)  # pyarrow and _open_binary decompress by the name's .gz
        return
    if suffix not in (".csv", ".txt"):
        raise SourceError(f"{path}: unsupported file type {suffix!r}; expected .csv, .csv.gz or .xlsx")
    yield from _csv_batches(path, encoding)


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")


def _csv_batches(path: Path, declared: str | None = None) -> Iterator[tuple[str, int, pd.DataFrame]]:
    try:
        encoding = csv_encoding(path, declared)
        with io.TextIOWrapper(_open_binary(path), encoding=encoding, newline="") as handle:
            header = next(csv.reader(handle), None)
    except (OSError, EOFError, UnicodeDecodeError) as error:  # a cut .gz, a file that vanished, a wrong --encoding
        raise SourceError(f"{path}: cannot be read as CSV: {error}") from error
    if not header:
        raise SourceError(f"{path}: is empty; expected a header line")
    # Every column as text: types are decided by normalisation, not guessed per block.
    options = pacsv.ConvertOptions(column_types={name: pa.string() for name in header},
                                   strings_can_be_null=False, auto_dict_encode=False)
    first_row = 2  # spreadsheet numbering: the header is row 1
    try:
        reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(encoding=encoding, block_size=CSV_BLOCK_BYTES),
                                convert_options=options)
        for batch in reader:
            if batch.num_rows:
                yield path.name, first_row, batch.to_pandas()
                first_row += batch.num_rows
        if first_row == 2:  # header only: still checked for its columns
            yield path.name, first_row, pd.DataFrame({name: pd.Series(dtype="string") for name in header})
    except (pa.ArrowInvalid, ValueError, OSError, EOFError) as error:
        hint = " (not valid UTF-8 there: pass --encoding to say how the file is encoded)" if "UTF8" in str(error) else ""
        raise SourceError(f"{path}: cannot be read as CSV near row {first_row} or after: {error}{hint}") from error


def check_encoding(name: str | None) -> str | None:
    """A declared encoding, checked before anything is read (`--encoding latin-1`)."""
    if name in (None, ""):
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise SourceError(f"--encoding {name!r}: not an encoding Python knows (e.g. utf-8, latin-1, cp1252)") from None


def csv_encoding(path: Path, declared: str | None = None) -> str:
    """The declared encoding, else UTF-8 when the first MiB is UTF-8, else Latin-1 when nothing in it is
    UTF-8 either (an old single-byte Excel export), with a warning naming the first such byte.

    A file with valid UTF-8 text beside bytes that are not UTF-8 has no single encoding: any choice
    garbles one part of it (`É` would become `Ã\x89`), so it is refused until one is declared.
    """
    if declared:
        return check_encoding(declared)
    with _open_binary(path) as handle:
        head = handle.read(1 << 20)
    try:
        head.decode("utf8")
        return "utf8"
    except UnicodeDecodeError as error:
        if error.start >= len(head) - 4:  # a cut multibyte character at the end is fine
            return "utf8"
        line = head.count(b"\n", 0, error.start) + 1
        utf8 = UTF8_MULTIBYTE.search(head)
        if utf8 is not None:
            utf8_line = head.count(b"\n", 0, utf8.start()) + 1
            raise SourceError(
                f"{path}: mixes UTF-8 text (line {utf8_line}) with bytes that are not "
                f"UTF-8 (0x{head[error.start]:02x} at line {line}), so no single encoding reads it without garbling "
                "part of it. Re-export it as UTF-8, or pass --encoding to say which encoding to read it with") from None
        log.warning("%s is not UTF-8 (byte 0x%02x at line %d) and holds no UTF-8 text: read as Latin-1. "
                    "Pass --encoding (e.g. cp1252) to read it otherwise", path, head[error.start], line)
        return "latin-1"


def _warehouse_names(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    renamed = {}
    for column in frame.columns:
        key = str(column).strip().lower()
        if key in HEADER_ALIASES:
            renamed[column] = HEADER_ALIASES[key]
    frame = frame.rename(columns=renamed)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise SourceError(
            f"{label}: missing required column(s) {missing}; found {list(map(str, frame.columns))}. "
            "Expected the Online Retail headers Invoice/InvoiceNo, StockCode, Description, Quantity, "
            "InvoiceDate, Price/UnitPrice, Customer ID/CustomerID, Country."
        )
    return frame


def normalise_order_lines(frame: pd.DataFrame, label: str, first_row: int = 2) -> pd.DataFrame:
    """Map a batch of an export to the warehouse layout, keeping values as read for validation.

    Unparseable numbers and dates become nulls here and are reported by validation, with the
    source file and row of each offender (`source_file`, `source_row`). `line_no` is left empty:
    an invoice's lines can span batches, so `number_invoice_lines` numbers them on the whole table.
    """
    frame = _warehouse_names(frame, label)
    out = pd.DataFrame(index=frame.index)
    # A blank id is a missing one (CSV has no null), so the suite's not-null checks see it.
    out["invoice_id"] = _blank_as_missing(frame["invoice_id"])
    out["product_id"] = _blank_as_missing(frame["product_id"])
    description = frame["description"] if "description" in frame else pd.Series(pd.NA, index=frame.index)
    out["description"] = description.astype("string").str.strip()
    quantity = pd.to_numeric(frame["quantity"], errors="coerce")
    out["quantity"] = quantity.where(quantity.isna() | (quantity == quantity.round())).astype("Int64")
    out["unit_price"] = pd.to_numeric(frame["unit_price"], errors="coerce").astype("float64")
    out["invoice_ts"] = _parse_timestamps(frame["invoice_ts"])
    out["customer_id"] = normalise_customer_ids(frame["customer_id"])
    country = frame["country"] if "country" in frame else pd.Series(pd.NA, index=frame.index)
    out["country"] = country.astype("string").str.strip()
    out["is_return"] = (out["quantity"].fillna(0) < 0) | out["invoice_id"].str.upper().str.startswith("C").fillna(False)
    out["line_no"] = pd.Series(pd.NA, index=out.index, dtype="Int64")
    out["source_file"] = label
    out["source_row"] = np.arange(first_row, first_row + len(out), dtype="int64")
    return out.reset_index(drop=True)


def _blank_as_missing(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def normalise_customer_ids(values: pd.Series) -> pd.Series:
    """'12417.0' -> '12417'; blanks and 'nan' -> missing (guest checkout)."""
    text = values.astype("string").str.strip()
    text = text.str.replace(r"\.0+$", "", regex=True)
    return text.mask(text.isin(["", "nan", "NaN", "None"]))


def _parse_timestamps(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    retry = parsed.isna() & text.notna() & (text != "")
    if retry.any():
        # UCI's first export writes month-first dates like '12/1/2010 8:26'.
        parsed[retry] = pd.to_datetime(text[retry], format="mixed", dayfirst=False, errors="coerce")
    return parsed.astype("datetime64[us]")


def order_line_batches(path: Path, encoding: str | None = None) -> Iterator[pd.DataFrame]:
    """The export's order lines, normalised, one CSV block or XLSX sheet at a time."""
    seen: set[str] = set()
    empty = True
    for label, first_row, frame in _read_table_batches(path, encoding):
        batch = normalise_order_lines(frame, label, first_row)
        if path.suffix.lower() in SPREADSHEET_SUFFIXES:
            batch = drop_invoices_seen(batch, seen)
        empty = empty and batch.empty
        yield batch
    if empty:
        raise SourceError(f"{path.name}: has a header but no order lines")


def drop_invoices_seen(sheet: pd.DataFrame, seen: set[str]) -> pd.DataFrame:
    """Keep each invoice from the first sheet that has it; `seen` collects the invoices kept so far.

    Online Retail II's yearly sheets overlap (both hold 2010-12-01..09): the same invoices twice
    would double those days' sales. Within one sheet, nothing is dropped.
    """
    repeated = sheet["invoice_id"].isin(seen)
    if repeated.any():
        log.warning("%s: %d lines of %d invoices already read from an earlier sheet were skipped",
                    sheet["source_file"].iat[0], int(repeated.sum()), sheet.loc[repeated, "invoice_id"].nunique())
    seen.update(sheet["invoice_id"].dropna().unique())
    return sheet[~repeated]


def number_lines(lines: pd.DataFrame) -> pd.DataFrame:
    """Each invoice's lines numbered 1.. in file order (the pandas twin of `number_invoice_lines`)."""
    order = lines.sort_values(["source_file", "source_row"], kind="stable").index
    numbered = lines.loc[order]
    lines = lines.copy()
    lines.loc[order, "line_no"] = numbered.groupby("invoice_id", sort=False, dropna=False).cumcount().to_numpy() + 1
    lines["line_no"] = lines["line_no"].astype("int64")
    return lines


def read_order_lines(path: Path) -> pd.DataFrame:
    """The whole export's order lines in memory (small files, tests); staging streams instead."""
    return number_lines(pd.concat(list(order_line_batches(Path(path))), ignore_index=True))


def _optional_batches(folder: Path, name: str, encoding: str | None = None) -> Iterator[pd.DataFrame] | None:
    path = folder / f"{name}.csv"
    if not path.exists():
        return None
    return (_normalise_optional(frame, label, name) for label, _, frame in _read_table_batches(path, encoding))


def _normalise_optional(frame: pd.DataFrame, label: str, name: str) -> pd.DataFrame:
    columns = OPTIONAL_TABLES[name]
    missing = [c for c in columns if c not in frame.columns and c != "category"]
    if missing:
        raise SourceError(f"{label}: missing column(s) {missing}; found {list(frame.columns)}")
    frame = frame.reindex(columns=list(columns))
    if "customer_id" in frame:
        frame["customer_id"] = normalise_customer_ids(frame["customer_id"])
    for column in columns:
        if column.endswith("_ts"):
            frame[column] = _parse_timestamps(frame[column])
        elif column in ("unit_price",):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        elif column == "rating":
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
        else:
            frame[column] = frame[column].astype("string")
    return frame


def derive_products(order_lines: pd.DataFrame) -> pd.DataFrame:
    """A catalogue from the order lines when the export has none (the pandas twin of `derive_products_sql`)."""
    sold = order_lines[(order_lines["quantity"] > 0) & (order_lines["unit_price"] > 0)]
    grouped = sold.groupby("product_id", sort=True)
    products = pd.DataFrame({
        "description": grouped["description"].agg(lambda s: s.mode().iat[0] if s.notna().any() else pd.NA),
        "unit_price": grouped["unit_price"].median(),
    }).reset_index()
    products["category"] = pd.Series(pd.NA, index=products.index, dtype="string")
    return products[["product_id", "description", "category", "unit_price"]]


def derive_products_sql(wh: Warehouse, order_lines: str) -> pd.DataFrame:
    """A catalogue from staged order lines, aggregated in the warehouse (no categories then).

    Each product's most frequent description (ties: the first in code-point order, as pandas' mode
    gives) and median price over lines that sold something.
    """
    sold = f"SELECT product_id, description, unit_price FROM {order_lines} WHERE quantity > 0 AND unit_price > 0"
    prices = wh.query(f"SELECT product_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY unit_price) AS unit_price "
                      f"FROM ({sold}) s GROUP BY product_id")
    counts = wh.query(f"SELECT product_id, description, count(*) AS n FROM ({sold}) s "
                      "WHERE description IS NOT NULL GROUP BY product_id, description")
    # Ranking a few rows per product in pandas keeps the tie-break independent of the server's collation.
    top = (counts.sort_values(["product_id", "n", "description"], ascending=[True, False, True], kind="stable")
           .drop_duplicates("product_id")[["product_id", "description"]])
    products = prices.merge(top, on="product_id", how="left").sort_values("product_id", ignore_index=True)
    products["product_id"] = products["product_id"].astype("string")
    products["description"] = products["description"].astype("string")
    products["category"] = pd.Series(pd.NA, index=products.index, dtype="string")
    products["unit_price"] = products["unit_price"].astype("float64")
    return products[["product_id", "description", "category", "unit_price"]]


def read_source(source: Path) -> dict[str, pd.DataFrame]:
    """Every table of a source in memory (small exports, tests); `stage_source` streams instead."""
    source = _check_source(Path(source))
    order_file = source / "order_lines.csv" if source.is_dir() else source
    tables = {"order_lines": read_order_lines(order_file)}
    if source.is_dir():
        for name in OPTIONAL_TABLES:
            batches = _optional_batches(source, name)
            if batches is not None:
                tables[name] = pd.concat(list(batches), ignore_index=True)
    if "products" not in tables:
        tables["products"] = derive_products(tables["order_lines"])
    return tables


def _check_source(source: Path) -> Path:
    if not source.exists():
        raise SourceError(f"{source}: no such file or folder")
    if source.is_dir() and not (source / "order_lines.csv").exists():
        raise SourceError(f"{source}: a source folder must contain order_lines.csv")
    return source


def number_invoice_lines(wh: Warehouse, unnumbered: str, target: str) -> None:
    """`target` = `unnumbered` with each invoice's lines numbered 1.. in file order."""
    columns = ", ".join(c for c in ORDER_LINE_COLUMNS if c != "line_no")
    select = ", ".join(
        "CAST(row_number() OVER (PARTITION BY invoice_id ORDER BY source_file, source_row) AS BIGINT) AS line_no"
        if c == "line_no" else c for c in ORDER_LINE_COLUMNS)
    wh.execute(f"DROP TABLE IF EXISTS {target}")
    # Sorted back into file order: the window would otherwise leave rows grouped by invoice.
    wh.execute(f"CREATE TABLE {target} AS SELECT {select} FROM (SELECT {columns} FROM {unnumbered}) u "
               "ORDER BY source_file, source_row")


def repeated_lines_sql(table: str) -> str:
    """Each order line with its position among the exact repeats of it (1 = the first in file order)."""
    key = ", ".join(REPEAT_KEY)
    return (f"SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY source_file, source_row) AS repeat_no "
            f"FROM {table}")


def count_repeated_lines(wh: Warehouse, table: str) -> int:
    return int(wh.scalar(f"SELECT count(*) FROM ({repeated_lines_sql(table)}) r WHERE repeat_no > 1") or 0)


def drop_repeated_lines(wh: Warehouse, table: str) -> None:
    """Keep the first of each set of exact repeats, in file order."""
    columns = ", ".join(ORDER_LINE_COLUMNS)
    kept = f"{table}_first"
    wh.execute(f"DROP TABLE IF EXISTS {kept}")
    wh.execute(f"CREATE TABLE {kept} AS SELECT {columns} FROM ({repeated_lines_sql(table)}) r WHERE repeat_no = 1 "
               "ORDER BY source_file, source_row")
    wh.execute(f"DROP TABLE {table}")
    wh.execute(f"ALTER TABLE {kept} RENAME TO {table.split('.')[-1]}")


def stage_source(wh: Warehouse, source: Path, encoding: str | None = None, repeated_lines: str = "keep") -> StagedSource:
    """Land every table of the source in raw.stage_* in one transaction, streaming each file.

    Tables the source lacks are dropped from staging; a catalogue is derived when it has none. A
    file that fails part-way rolls the whole staging back. `encoding` is the declared one (default:
    detected, see `csv_encoding`); `repeated_lines` is the policy for exact repeats (REPEATED_LINE_POLICIES).
    """
    if repeated_lines not in REPEATED_LINE_POLICIES:
        raise SourceError(f"repeated_lines must be one of {list(REPEATED_LINE_POLICIES)}, got {repeated_lines!r}")
    encoding = check_encoding(encoding)
    source = _check_source(Path(source))
    order_file = source / "order_lines.csv" if source.is_dir() else source
    optional = ({name: _optional_batches(source, name, encoding) for name in OPTIONAL_TABLES}
                if source.is_dir() else {})
    rows = {}
    with wh.transaction():
        incoming = "raw.stage_order_lines_unnumbered"
        wh.replace_table(incoming, order_line_batches(order_file, encoding))
        number_invoice_lines(wh, incoming, "raw.stage_order_lines")
        wh.execute(f"DROP TABLE {incoming}")
        repeated = count_repeated_lines(wh, "raw.stage_order_lines")
        if repeated and repeated_lines == "drop":
            drop_repeated_lines(wh, "raw.stage_order_lines")
            log.warning("%s: %d order lines repeat an earlier line exactly and were dropped (policy: drop)",
                        order_file, repeated)
        elif repeated:
            log.info("%s: %d order lines repeat an earlier line exactly (policy: %s)", order_file, repeated,
                     repeated_lines)
        rows["order_lines"] = wh.row_count("raw.stage_order_lines")
        for name in ("products", "events", "reviews"):
            staged, batches = f"raw.stage_{name}", optional.get(name)
            if batches is not None:
                rows[name] = wh.replace_table(staged, batches)
            elif name == "products":
                rows[name] = wh.replace_table(staged, derive_products_sql(wh, "raw.stage_order_lines"))
            else:
                wh.execute(f"DROP TABLE IF EXISTS {staged}")
        last = wh.scalar("SELECT max(invoice_ts) FROM raw.stage_order_lines")
    return StagedSource(str(source), rows, None if last is None or pd.isna(last) else pd.Timestamp(last),
                        repeated, repeated if repeated_lines == "drop" else 0)


def publish_staged(wh: Warehouse) -> dict[str, int]:
    """Swap validated staging tables into raw.* in one transaction (readers never see a mix).

    An export is the whole shop: a table it does not carry (no events.csv this time) is dropped from
    raw.*, not kept from the previous export, whose customers and products it would describe."""
    published = {}
    with wh.transaction():
        for name in STAGED_TABLES:
            staged, target = f"raw.stage_{name}", f"raw.{name}"
            if not wh.table_exists(staged):
                if wh.table_exists(target):
                    log.warning("the export has no %s: %s from the previous export is dropped", name, target)
                    wh.execute(f"DROP TABLE {target}")
                continue
            wh.execute(f"DROP TABLE IF EXISTS {target}")
            wh.execute(f"CREATE TABLE {target} AS SELECT * FROM {staged}")
            published[name] = wh.row_count(target)
    return published


def default_as_of(last_order_ts: pd.Timestamp) -> dt.date:
    """The day after the export's last order: everything in it is history."""
    return (pd.Timestamp(last_order_ts).normalize() + pd.Timedelta(days=1)).date()
