"""Read a shop's export into the warehouse's staging tables.

A source is either one file in the UCI Online Retail / Online Retail II layout (CSV or XLSX, every
sheet), or a folder holding `order_lines.csv` in that layout plus optional `products.csv`,
`events.csv` and `reviews.csv` (what `python -m ml generate` writes).

Nothing here touches `raw.order_lines` itself: rows land in `raw.stage_*`, are validated, and only
then published (see `publish_staged`), so a bad export never replaces good data.
"""
from __future__ import annotations

import datetime as dt
import logging
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


class SourceError(ValueError):
    """The export cannot be read; the message names the file and what is wrong."""


@dataclass
class StagedSource:
    source: str
    rows: dict[str, int]
    last_order_ts: pd.Timestamp | None


def _read_table_file(path: Path) -> list[tuple[str, pd.DataFrame]]:
    """(label, all-string frame) per CSV file or XLSX sheet."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm", ".xls"):
            sheets = pd.read_excel(path, sheet_name=None, dtype=str)
            return [(f"{path.name}[{name}]", frame) for name, frame in sheets.items()]
        if suffix in (".csv", ".txt"):
            options = pacsv.ConvertOptions(strings_can_be_null=False, auto_dict_encode=False)
            table = pacsv.read_csv(path, convert_options=options,
                                   read_options=pacsv.ReadOptions(encoding="latin-1" if _not_utf8(path) else "utf8"))
            table = table.cast(pa.schema([pa.field(f.name, pa.string()) for f in table.schema]))
            return [(path.name, table.to_pandas())]
    except (pa.ArrowInvalid, ValueError, OSError) as error:
        raise SourceError(f"{path}: cannot be read as {suffix[1:].upper()}: {error}") from error
    raise SourceError(f"{path}: unsupported file type {suffix!r}; expected .csv or .xlsx")


def _not_utf8(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(1 << 20)
    try:
        head.decode("utf8")
        return False
    except UnicodeDecodeError as error:
        return error.start < len(head) - 4  # a cut multibyte character at the end is fine


def normalise_order_lines(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """Map an export's columns to the warehouse layout, keeping values as read for validation.

    Unparseable numbers and dates become nulls here and are reported by validation, with the
    source file and row of each offender (`source_file`, `source_row`).
    """
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
    if frame.empty:
        raise SourceError(f"{label}: has a header but no order lines")
    out = pd.DataFrame(index=frame.index)
    out["invoice_id"] = frame["invoice_id"].astype("string").str.strip()
    out["product_id"] = frame["product_id"].astype("string").str.strip()
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
    out["line_no"] = out.groupby("invoice_id", sort=False, dropna=False).cumcount().astype("int64") + 1
    out["source_file"] = label
    out["source_row"] = np.arange(2, len(out) + 2, dtype="int64")  # spreadsheet row, header is row 1
    return out.reset_index(drop=True)


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


def read_order_lines(path: Path) -> pd.DataFrame:
    frames = [normalise_order_lines(frame, label) for label, frame in _read_table_file(path)]
    return drop_overlapping_sheets(frames)


def drop_overlapping_sheets(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Keep each invoice from the first sheet that has it.

    Online Retail II's yearly sheets overlap (both hold 2010-12-01..09): the same invoices twice
    would double those days' sales. Within one sheet, nothing is dropped.
    """
    kept, seen = [], set()
    for frame in frames:
        repeated = frame["invoice_id"].isin(seen)
        if repeated.any():
            log.warning("%s: %d lines of %d invoices already read from an earlier sheet were skipped",
                        frame["source_file"].iat[0], int(repeated.sum()), frame.loc[repeated, "invoice_id"].nunique())
        kept.append(frame[~repeated])
        seen.update(frame["invoice_id"].dropna().unique())
    return pd.concat(kept, ignore_index=True)


def _read_optional(folder: Path, name: str) -> pd.DataFrame | None:
    path = folder / f"{name}.csv"
    if not path.exists():
        return None
    (label, frame), = _read_table_file(path)
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
    """A catalogue from the order lines when the export has none (no categories then)."""
    sold = order_lines[(order_lines["quantity"] > 0) & (order_lines["unit_price"] > 0)]
    grouped = sold.groupby("product_id", sort=True)
    products = pd.DataFrame({
        "description": grouped["description"].agg(lambda s: s.mode().iat[0] if s.notna().any() else pd.NA),
        "unit_price": grouped["unit_price"].median(),
    }).reset_index()
    products["category"] = pd.Series(pd.NA, index=products.index, dtype="string")
    return products[["product_id", "description", "category", "unit_price"]]


def read_source(source: Path) -> dict[str, pd.DataFrame]:
    source = Path(source)
    if not source.exists():
        raise SourceError(f"{source}: no such file or folder")
    if source.is_dir():
        order_file = source / "order_lines.csv"
        if not order_file.exists():
            raise SourceError(f"{source}: a source folder must contain order_lines.csv")
        tables = {"order_lines": read_order_lines(order_file)}
        for name in OPTIONAL_TABLES:
            frame = _read_optional(source, name)
            if frame is not None:
                tables[name] = frame
    else:
        tables = {"order_lines": read_order_lines(source)}
    if "products" not in tables:
        tables["products"] = derive_products(tables["order_lines"])
    return tables


def stage_source(wh: Warehouse, source: Path) -> StagedSource:
    """Land every table of the source in raw.stage_*; tables the source lacks are staged empty-less (dropped)."""
    tables = read_source(source)
    rows = {}
    with wh.transaction():
        for name in STAGED_TABLES:
            staged = f"raw.stage_{name}"
            if name in tables:
                rows[name] = wh.replace_table(staged, tables[name])
            else:
                wh.execute(f"DROP TABLE IF EXISTS {staged}")
    last = tables["order_lines"]["invoice_ts"].max()
    return StagedSource(str(source), rows, None if pd.isna(last) else last)


def publish_staged(wh: Warehouse) -> dict[str, int]:
    """Swap validated staging tables into raw.* in one transaction (readers never see a mix)."""
    published = {}
    with wh.transaction():
        for name in STAGED_TABLES:
            staged, target = f"raw.stage_{name}", f"raw.{name}"
            if not wh.table_exists(staged):
                continue
            wh.execute(f"DROP TABLE IF EXISTS {target}")
            wh.execute(f"CREATE TABLE {target} AS SELECT * FROM {staged}")
            published[name] = wh.row_count(target)
    return published


def default_as_of(last_order_ts: pd.Timestamp) -> dt.date:
    """The day after the export's last order: everything in it is history."""
    return (pd.Timestamp(last_order_ts).normalize() + pd.Timedelta(days=1)).date()
