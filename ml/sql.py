"""SQL pieces every module writes the same way: literals, column checks, partition rebuilds.

Literals are rendered so DuckDB and PostgreSQL read them alike; nothing here opens a connection.
"""
from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from ml.warehouse import Warehouse


class MissingColumns(ValueError):
    """A frame lacks columns a step needs: the message names them, what needed them and what it had."""


def sql_literal(value: Any) -> str:
    """Render a Python value as a SQL literal both dialects read the same way."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def date_literal(day: dt.date | str | pd.Timestamp) -> str:
    """`DATE 'YYYY-MM-DD'` of a day, whatever type it arrives as (a timestamp keeps only its date)."""
    return f"DATE '{pd.Timestamp(day):%Y-%m-%d}'"


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str, *, non_empty: bool = False) -> None:
    """Fail early and loudly on a frame that would be misread: missing columns (or no rows)."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MissingColumns(f"{what} lacks column(s) {missing}; has {list(map(str, frame.columns))}")
    if non_empty and frame.empty:
        raise ValueError(f"{what} has no rows")


def rebuild_partitions(wh: Warehouse, table: str, columns: Mapping[str, str],
                       selects: Mapping[dt.date, str | Iterable[str]], *, key: str = "as_of_date",
                       unordered: bool = False) -> None:
    """Replace partitions of a feature table with `INSERT ... SELECT`s run by the warehouse, atomically.

    `columns` maps every column of the table (the partition key included) to its SQL type; each
    select yields them in that order. All partitions change in one transaction, or none does.
    `unordered` lets DuckDB insert without keeping row order (for tables read back by key).
    """
    ddl = ", ".join(f"{name} {kind}" for name, kind in columns.items())
    names = ", ".join(columns)
    with wh.transaction(), wh.unordered_inserts() if unordered else contextlib.nullcontext():
        wh.execute(f"CREATE TABLE IF NOT EXISTS {table} ({ddl})")
        # a column added in a later release: derived rows, so adding it (NULL in old rows) is safe
        wh.add_missing_columns(table, columns)
        for partition, sqls in selects.items():
            wh.execute(f"DELETE FROM {table} WHERE {key} = {sql_literal(partition)}")
            for sql in [sqls] if isinstance(sqls, str) else sqls:
                wh.execute(f"INSERT INTO {table} ({names}) {sql}")



# Money is added up exactly, as DECIMAL at MONEY_SCALE places (1/10,000 of the currency unit), and only
# the sums become floats. Float addition is not associative, and DuckDB's parallel aggregation adds a
# group's rows in no fixed order: summed as floats, the same lines gave sums a last bit apart between
# runs and between DuckDB and PostgreSQL (a net spend of 1e-13 instead of 0, a price change of 1e-16
# that moved a LightGBM split). A decimal sum is the same whatever the order, and both engines round
# it to the nearest float.
MONEY_SCALE = 4


def money(price: str, quantity: str | None = None) -> str:
    """SQL for a price (or `quantity` x price) as an exact decimal: sums of it are order-independent."""
    exact = f"CAST({price} AS DECIMAL(18, {MONEY_SCALE}))"
    return exact if quantity is None else f"{quantity} * {exact}"


def as_double(expr: str) -> str:
    """SQL casting an exact sum (or count) to a float, before any division: DuckDB divides decimals as
    floats and PostgreSQL as decimals of its own chosen scale, so a quotient of decimals differs."""
    return f"CAST({expr} AS DOUBLE PRECISION)"


def newest_per_family_sql(table: str, select: str = "t.*", where: str = "TRUE", order: str = "t.family") -> str:
    """SELECT `select` over the rows of each family's newest as_of_date in `table` (aliased `t`, with
    `day`: that date as text): what `ml status` and the ValueFlow view show of outcomes and drift."""
    return (f"SELECT {select}, CAST(t.as_of_date AS VARCHAR) AS day FROM {table} t JOIN (SELECT family, "
            f"max(as_of_date) AS newest FROM {table} GROUP BY family) n ON n.family = t.family "
            f"AND n.newest = t.as_of_date WHERE {where} ORDER BY {order}")
