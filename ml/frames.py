"""Frames in and out of the warehouse: Arrow tables with warehouse types going in, pandas frames with
the same dtypes on both dialects coming out."""
from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

COLUMN_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class WarehouseError(RuntimeError):
    """A warehouse operation failed; the message names the table and what was wrong."""


def sql_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    if pa.types.is_integer(arrow_type):
        return "BIGINT"
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "DOUBLE PRECISION"
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMP"
    if pa.types.is_date(arrow_type):
        return "DATE"
    if pa.types.is_null(arrow_type) or pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "TEXT"
    raise WarehouseError(f"no warehouse column type for Arrow type {arrow_type}")


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """Arrow table with warehouse-friendly types (microsecond timestamps, no index, no tz)."""
    for column in frame.columns:
        if not COLUMN_NAME.match(str(column)):
            raise WarehouseError(f"column name {column!r} is not a lower-case identifier")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = []
    for field in table.schema:
        kind = field.type
        if pa.types.is_timestamp(kind):
            kind = pa.timestamp("us")
        elif pa.types.is_large_string(kind) or pa.types.is_string_view(kind) or pa.types.is_dictionary(kind):
            kind = pa.string()
        fields.append(pa.field(field.name, kind))
    return table.cast(pa.schema(fields))


_PG_FLOAT_TYPES = {700, 701, 1700}  # float4, float8, numeric


def arrow_runs(reader, column: str) -> Iterator[pd.DataFrame]:
    """Frames of consecutive equal `column` values from an ordered Arrow stream."""
    pending: list[pa.RecordBatch] = []
    for batch in reader:
        keys = batch.column(column).to_numpy(zero_copy_only=False)
        if pending:
            carried = pending[-1].column(column)[-1].as_py()
            if len(keys) and keys[0] != carried:
                yield _run_frame(pending, column)
                pending = []
        starts = [0, *(np.flatnonzero(keys[1:] != keys[:-1]) + 1).tolist()] if len(keys) else []
        for start, end in zip(starts, starts[1:]):
            yield _run_frame(pending + [batch.slice(start, end - start)], column)
            pending = []
        if starts:
            pending.append(batch.slice(starts[-1]))
    if pending:
        yield _run_frame(pending, column)


def _run_frame(batches: list[pa.RecordBatch], column: str) -> pd.DataFrame:
    return normalise(pa.Table.from_batches(batches).drop_columns([column]).to_pandas())


def frame_from_rows(rows, description) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[c.name for c in description])
    for column in description:
        # A float column holding only NULLs would otherwise come back as object None.
        if column.type_code in _PG_FLOAT_TYPES:
            frame[column.name] = pd.to_numeric(frame[column.name].astype("float64"))
    return normalise(frame)


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """Give both dialects' results the same dtypes: datetime64 for dates, float for decimals."""
    for column in frame.columns:
        series = frame[column]
        if series.dtype != object:
            if str(series.dtype).startswith("datetime64") and getattr(series.dt, "tz", None) is not None:
                frame[column] = series.dt.tz_localize(None)
            continue
        sample = series.dropna()
        if sample.empty:
            continue
        first = sample.iloc[0]
        if isinstance(first, decimal.Decimal):
            frame[column] = pd.to_numeric(series.astype("float64"))
        elif isinstance(first, (dt.date, dt.datetime)):
            frame[column] = pd.to_datetime(series)
    return frame
