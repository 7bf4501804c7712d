"""Writes to marts.*: every row carries the model version and run that produced it."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd

from ml import catalog
from ml.families.base import ModelRef
from ml.warehouse import Warehouse


def with_lineage(frame: pd.DataFrame, as_of: dt.date, model: ModelRef, scored_at: pd.Timestamp) -> pd.DataFrame:
    frame = frame.copy()
    frame["as_of_date"] = pd.Timestamp(as_of).date()
    frame["model_name"] = model.name
    frame["model_version"] = str(model.version)
    frame["run_id"] = model.run_id
    frame["model_kind"] = model.kind
    frame["scored_at"] = scored_at
    return frame


# Columns a later release added to a mart, with their SQL types (lineage columns: to every mart).
ADDED_LINEAGE_COLUMNS = {"model_kind": "VARCHAR"}
ADDED_COLUMNS: dict[str, dict[str, str]] = {catalog.USER_SEGMENTS: {"segment_rule": "VARCHAR"}}


def _add_later_columns(wh: Warehouse, table: str) -> None:
    """Marts written before a column existed get it (NULL for their old rows), so a newer release
    can write into an older warehouse without dropping its history."""
    wh.add_missing_columns(table, {**ADDED_LINEAGE_COLUMNS, **ADDED_COLUMNS.get(table, {})})


def write_mart(wh: Warehouse, table: str, frames: pd.DataFrame | Iterable[pd.DataFrame], as_of: dt.date,
               model: ModelRef) -> int:
    """Replace the as-of partition of a mart atomically (idempotent per as-of date)."""
    if not table.startswith("marts."):
        raise ValueError(f"{table} is not a mart table")
    _add_later_columns(wh, table)
    scored_at = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("s")
    chunks = [frames] if isinstance(frames, pd.DataFrame) else frames
    return wh.replace_partition(table, (with_lineage(c, as_of, model, scored_at) for c in chunks),
                                {"as_of_date": pd.Timestamp(as_of).date()})
