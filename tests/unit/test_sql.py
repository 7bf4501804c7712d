"""The SQL pieces written once: literals, the column check and the partition rebuild."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from ml.sql import MissingColumns, date_literal, rebuild_partitions, require_columns, sql_literal

D1, D2 = dt.date(2024, 1, 1), dt.date(2024, 2, 1)
COLUMNS = {"as_of_date": "DATE", "x": "INTEGER"}


def test_literals_read_the_same_in_both_dialects():
    assert date_literal(dt.date(2024, 3, 5)) == date_literal("2024-03-05 17:00") == "DATE '2024-03-05'"
    assert sql_literal("O'Brien") == "'O''Brien'" and sql_literal(None) == "NULL" and sql_literal(True) == "TRUE"
    assert sql_literal(pd.Timestamp("2024-03-05 01:02:03")) == "TIMESTAMP '2024-03-05 01:02:03'"


def test_require_columns_names_what_is_missing_and_who_needed_it():
    frame = pd.DataFrame({"a": [1]})
    require_columns(frame, ["a"], "step")
    with pytest.raises(MissingColumns, match=r"segment input lacks column\(s\) \['b'\]; has \['a'\]"):
        require_columns(frame, ["a", "b"], "segment input")
    with pytest.raises(ValueError, match="has no rows"):
        require_columns(frame.iloc[:0], ["a"], "step", non_empty=True)


def test_rebuild_replaces_only_its_partitions(warehouse):
    rebuild_partitions(warehouse, "features.t", COLUMNS, {D1: f"SELECT {date_literal(D1)}, 1",
                                                          D2: [f"SELECT {date_literal(D2)}, 2", f"SELECT {date_literal(D2)}, 3"]})
    rebuild_partitions(warehouse, "features.t", COLUMNS, {D2: f"SELECT {date_literal(D2)}, 4"}, unordered=True)
    rows = warehouse.query("SELECT as_of_date, x FROM features.t ORDER BY x")
    assert rows["x"].tolist() == [1, 4]


def test_a_failed_rebuild_leaves_every_partition_as_it_was(warehouse):
    rebuild_partitions(warehouse, "features.t", COLUMNS, {D1: f"SELECT {date_literal(D1)}, 1"})
    with pytest.raises(Exception):  # noqa: B017 - the warehouse's own error for a broken SELECT
        rebuild_partitions(warehouse, "features.t", COLUMNS, {D1: f"SELECT {date_literal(D1)}, 9",
                                                              D2: "SELECT no_such_column"})
    assert warehouse.query("SELECT x FROM features.t")["x"].tolist() == [1]


def test_a_column_added_in_a_later_release_is_added_to_the_existing_table(warehouse):
    rebuild_partitions(warehouse, "features.t", COLUMNS, {D1: f"SELECT {date_literal(D1)}, 1"})
    wider = {**COLUMNS, "y": "BIGINT"}
    rebuild_partitions(warehouse, "features.t", wider, {D2: f"SELECT {date_literal(D2)}, 2, 7"})
    rows = warehouse.query("SELECT x, y FROM features.t ORDER BY x")
    assert warehouse.columns("features.t") == ["as_of_date", "x", "y"]
    assert rows["x"].tolist() == [1, 2] and pd.isna(rows["y"].iloc[0]) and rows["y"].iloc[1] == 7
