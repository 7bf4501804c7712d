"""Writes to marts.*: every row carries the model version and run that produced it."""
from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable

import pandas as pd

from ml.families.base import ModelRef
from ml.warehouse import Warehouse, WarehouseError, sql_type, to_arrow


def with_lineage(frame: pd.DataFrame, as_of: dt.date, model: ModelRef, scored_at: pd.Timestamp) -> pd.DataFrame:
    frame = frame.copy()
    frame["as_of_date"] = pd.Timestamp(as_of).date()
    frame["model_name"] = model.name
    frame["model_version"] = str(model.version)
    frame["run_id"] = model.run_id
    frame["model_kind"] = model.kind
    frame["scored_at"] = scored_at
    return frame


def _add_new_columns(wh: Warehouse, table: str, first: pd.DataFrame) -> None:
    """Marts written by an older release get the columns this one writes (NULL for their old rows),
    so a newer release can write into an older warehouse without dropping its history."""
    schema = to_arrow(first).schema
    wh.add_missing_columns(table, {field.name: sql_type(field.type) for field in schema})


def write_mart(wh: Warehouse, table: str, frames: pd.DataFrame | Iterable[pd.DataFrame], as_of: dt.date,
               model: ModelRef) -> int:
    """Replace the as-of partition of a mart atomically (idempotent per as-of date)."""
    if not table.startswith("marts."):
        raise ValueError(f"{table} is not a mart table")
    scored_at = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("s")
    chunks = iter([frames] if isinstance(frames, pd.DataFrame) else frames)
    first = next(chunks, None)
    if first is None:
        raise WarehouseError(f"no data frames were given to write into {table}")
    first = with_lineage(first, as_of, model, scored_at)
    _add_new_columns(wh, table, first)
    rows = itertools.chain([first], (with_lineage(c, as_of, model, scored_at) for c in chunks))
    return wh.replace_partition(table, rows, {"as_of_date": pd.Timestamp(as_of).date()})
