"""One small interface over the two warehouses: a DuckDB file (default) and PostgreSQL (production).

Bulk writes never go row by row: DuckDB inserts from a registered Arrow table, PostgreSQL receives
CSV through COPY. Every replace (a whole table, or one as-of-date partition) is one transaction, so
readers see the old rows or the new ones and a failure mid-write leaves the old rows in place.
"""
from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ml import settings
from ml.frames import (
    COLUMN_NAME,
    WarehouseError,
    arrow_runs,
    frame_from_rows,
    normalise,
    sql_type,
    to_arrow,
)
from ml.sql import sql_literal

_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")


def _check_table(table: str) -> str:
    if not _TABLE_NAME.match(table):
        raise WarehouseError(f"table name {table!r} must look like schema.table (lower case)")
    return table


@dataclass(frozen=True)
class WarehouseLocation:
    dialect: str  # "duckdb" or "postgres"
    target: str  # file path for DuckDB, libpq conninfo URL for PostgreSQL

    @classmethod
    def parse(cls, url: str) -> WarehouseLocation:
        parsed = urlparse(url)
        if parsed.scheme == "duckdb":
            path = unquote(parsed.netloc + parsed.path)
            return cls("duckdb", path or ":memory:")
        if parsed.scheme in ("postgres", "postgresql"):
            return cls("postgres", "postgresql://" + url.split("://", 1)[1])
        raise WarehouseError(
            f"warehouse URL {url!r} is neither duckdb:///path nor postgresql://user@host:port/db"
        )


class Warehouse:
    """A connection to the warehouse. Use as a context manager, or call close()."""

    def __init__(self, url: str | None = None, read_only: bool = False):
        """`read_only` (DuckDB): share the file with other readers, e.g. the Airflow UI's ValueFlow view;
        it still fails while a task holds the file for writing."""
        self.url = url or settings.warehouse_url()
        self.location = WarehouseLocation.parse(self.url)
        self.dialect = self.location.dialect
        if self.dialect == "duckdb":
            import duckdb

            if self.location.target != ":memory:":
                from pathlib import Path

                Path(self.location.target).parent.mkdir(parents=True, exist_ok=True)
            self._con = duckdb.connect(self.location.target, read_only=read_only and self.location.target != ":memory:",
                                       config={"memory_limit": settings.duckdb_memory_limit()})
        else:
            import psycopg

            self._con = psycopg.connect(self.location.target, autocommit=True)
        self._in_transaction = False

    # -- lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Warehouse]:
        """All statements inside commit together or not at all."""
        if self._in_transaction:
            yield self
            return
        self._in_transaction = True
        try:
            if self.dialect == "duckdb":
                self._con.execute("BEGIN TRANSACTION")
                try:
                    yield self
                except BaseException:
                    self._con.execute("ROLLBACK")
                    raise
                self._con.execute("COMMIT")
            else:
                with self._con.transaction():
                    yield self
        finally:
            self._in_transaction = False

    @contextlib.contextmanager
    def unordered_inserts(self) -> Iterator[Warehouse]:
        """Inside, DuckDB may store the rows of an INSERT ... SELECT in any order
        (preserve_insertion_order = false); PostgreSQL never promises an order anyway.

        Keeping the order makes DuckDB hold the SELECT's result in order before writing it: at 1M
        customers rebuilding features.user_features ran out of its 4 GB cap that way, and at 100k
        under a 300-500 MB cap, where without the order it fits in 200 MB. Use it only for tables
        that are read back with ORDER BY or by key.
        """
        if self.dialect != "duckdb":
            yield self
            return
        self._con.execute("SET preserve_insertion_order = false")
        try:
            yield self
        finally:
            self._con.execute("RESET preserve_insertion_order")

    # -- statements ----------------------------------------------------------------------------
    def execute(self, sql: str) -> None:
        if self.dialect == "duckdb":
            self._con.execute(sql)
        else:
            with self._con.cursor() as cur:
                cur.execute(sql)

    def ensure_schemas(self) -> None:
        for schema in settings.SCHEMAS:
            self.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")

    def query(self, sql: str) -> pd.DataFrame:
        """Run a SELECT and return a DataFrame with normalised dtypes (datetimes, floats)."""
        if self.dialect == "duckdb":
            return normalise(self._con.execute(sql).fetch_df())
        with self._con.cursor() as cur:
            cur.execute(sql)
            return frame_from_rows(cur.fetchall(), cur.description)

    def query_batches(self, sql: str, batch_rows: int = 50_000) -> Iterator[pd.DataFrame]:
        """Stream a SELECT in batches so memory stays flat whatever the result size.

        The stream reads through its own connection, so the caller may write (e.g. a mart partition
        in one transaction) while batches are still coming.
        """
        with self._reader() as reader:
            if reader.dialect == "duckdb":
                for batch in reader._con.sql(sql).to_arrow_reader(batch_rows):
                    yield normalise(batch.to_pandas())
                return
            for rows, description in reader._server_side_fetches(sql, batch_rows, "valueflow_batches"):
                yield frame_from_rows(rows, description)

    def query_runs(self, sql: str, column: str, fetch_rows: int = 100_000) -> Iterator[pd.DataFrame]:
        """Stream a SELECT ordered by `column`: one frame per run of equal `column` values (column dropped).

        One ordered pass instead of one scan per value; memory holds one run and one fetch.
        """
        with self._reader() as reader:
            if reader.dialect == "duckdb":
                yield from arrow_runs(reader._con.sql(sql).to_arrow_reader(fetch_rows), column)
                return
            run, current, position, columns = [], None, None, None
            for rows, description in reader._server_side_fetches(sql, fetch_rows, "valueflow_runs"):
                if position is None:
                    position = [d.name for d in description].index(column)
                    columns = [d for i, d in enumerate(description) if i != position]
                for row in rows:
                    if run and row[position] != current:
                        yield frame_from_rows(run, columns)
                        run = []
                    current = row[position]
                    run.append(row[:position] + row[position + 1:])
            if run:
                yield frame_from_rows(run, columns)

    @contextlib.contextmanager
    def _reader(self) -> Iterator[Warehouse]:
        """A connection of its own for a long read, so the caller may write meanwhile (in memory, where
        a second connection would see another database, the same one)."""
        reader = Warehouse(self.url) if self.location.target != ":memory:" else self
        try:
            yield reader
        finally:
            if reader is not self:
                reader.close()

    def _server_side_fetches(self, sql: str, fetch_rows: int, cursor_name: str) -> Iterator[tuple[list, Any]]:
        """(rows, cursor description) per fetch of a PostgreSQL server-side cursor."""
        # A server-side cursor needs a transaction; it only reads, so committing it is harmless.
        with self._con.transaction(), self._con.cursor(name=cursor_name) as cur:
            cur.itersize = fetch_rows
            cur.execute(sql)
            while rows := cur.fetchmany(fetch_rows):
                yield rows, cur.description

    def hash_bucket_sql(self, columns: list[str], buckets: int) -> str:
        """An SQL expression putting each row in bucket 0..buckets-1 by a hash of `columns` (nulls included)."""
        text = " || '|' || ".join(f"coalesce(CAST({_ident(c)} AS TEXT), '')" for c in columns)
        if self.dialect == "duckdb":
            return f"(hash({text}) % {int(buckets)})"
        return f"mod(abs(hashtext({text})::bigint), {int(buckets)})"

    def scalar(self, sql: str) -> Any:
        frame = self.query(sql)
        return None if frame.empty else frame.iat[0, 0]

    def table_exists(self, table: str) -> bool:
        schema, name = _check_table(table).split(".")
        found = self.query(
            "SELECT count(*) AS n FROM information_schema.tables "
            f"WHERE table_schema = '{schema}' AND table_name = '{name}'"
        )
        return int(found.iat[0, 0]) > 0

    def add_missing_columns(self, table: str, columns: Mapping[str, str]) -> list[str]:
        """Give an existing table the columns a newer release writes (`{name: SQL type}`); returns those added."""
        if not self.table_exists(table):
            return []
        existing = set(self.columns(table))
        added = [name for name in columns if name not in existing]
        for name in added:
            self.execute(f"ALTER TABLE {table} ADD COLUMN {_ident(name)} {columns[name]}")
        return added

    def columns(self, table: str) -> list[str]:
        schema, name = _check_table(table).split(".")
        found = self.query(
            "SELECT column_name FROM information_schema.columns "
            f"WHERE table_schema = '{schema}' AND table_name = '{name}' ORDER BY ordinal_position"
        )
        return list(found["column_name"])

    def row_count(self, table: str, where: str | None = None) -> int:
        clause = f" WHERE {where}" if where else ""
        return int(self.scalar(f"SELECT count(*) FROM {_check_table(table)}{clause}"))

    # -- bulk writes ---------------------------------------------------------------------------
    def replace_table(self, table: str, frames: pd.DataFrame | Iterable[pd.DataFrame]) -> int:
        """Atomically replace a whole table with new rows (the table is created from the first frame)."""
        return self._write(table, frames, delete_where=None, drop_first=True)

    def replace_partition(
        self, table: str, frames: pd.DataFrame | Iterable[pd.DataFrame], partition: Mapping[str, Any]
    ) -> int:
        """Atomically replace the rows matching `partition` (e.g. {"as_of_date": D}) with new rows.

        Idempotent: running it twice with the same rows leaves one copy. If writing any chunk fails,
        the transaction rolls back and the previous rows of that partition stay.
        """
        if not partition:
            raise WarehouseError(f"replace_partition on {table} needs at least one partition key")
        where = " AND ".join(f"{_ident(k)} = {sql_literal(v)}" for k, v in partition.items())
        return self._write(table, frames, delete_where=where, drop_first=False)

    def append(self, table: str, frames: pd.DataFrame | Iterable[pd.DataFrame]) -> int:
        return self._write(table, frames, delete_where=None, drop_first=False, append_only=True)

    def _write(self, table, frames, delete_where, drop_first, append_only=False) -> int:
        _check_table(table)
        chunks = [frames] if isinstance(frames, pd.DataFrame) else frames
        written = 0
        with self.transaction():
            target_columns = None
            for chunk in chunks:
                arrow = to_arrow(chunk)
                if target_columns is None:
                    self._prepare_target(table, arrow.schema, delete_where, drop_first, append_only)
                    # DuckDB inserts by position, so its chunks are aligned to the table's columns;
                    # COPY names its columns, so PostgreSQL needs no lookup
                    target_columns = self.columns(table) if self.dialect == "duckdb" else list(arrow.column_names)
                if arrow.num_rows:
                    self._bulk_insert(table, arrow, target_columns)
                    written += arrow.num_rows
            if target_columns is None:
                raise WarehouseError(f"no data frames were given to write into {table}")
        return written

    def _prepare_target(self, table, schema: pa.Schema, delete_where, drop_first, append_only) -> None:
        if drop_first:
            self.execute(f"DROP TABLE IF EXISTS {table}")
        if not self.table_exists(table):
            columns = ", ".join(f"{_ident(f.name)} {sql_type(f.type)}" for f in schema)
            self.execute(f"CREATE TABLE {table} ({columns})")
            return
        existing = set(self.columns(table))
        missing = [f.name for f in schema if f.name not in existing]
        if missing:
            raise WarehouseError(f"{table} has no column(s) {missing}; existing columns: {sorted(existing)}")
        if delete_where:
            self.execute(f"DELETE FROM {table} WHERE {delete_where}")

    def _bulk_insert(self, table: str, arrow: pa.Table, target_columns: list[str]) -> None:
        if self.dialect == "duckdb":
            # Not register(): a view dropped inside a transaction lives (with its Arrow buffers) until
            # COMMIT, so a streamed write would hold the whole input in memory (14 GiB at 1M customers).
            aligned = pa.table({name: arrow.column(name) if name in arrow.column_names else pa.nulls(arrow.num_rows)
                                for name in target_columns})
            self._con.from_arrow(aligned).insert_into(table)
            return
        column_list = ", ".join(_ident(n) for n in arrow.column_names)
        buffer = io.BytesIO()
        pacsv.write_csv(arrow, buffer, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
        with self._con.cursor() as cur:
            with cur.copy(f"COPY {table} ({column_list}) FROM STDIN (FORMAT csv)") as copy:
                copy.write(buffer.getvalue())


def _ident(name: str) -> str:
    if not COLUMN_NAME.match(name):
        raise WarehouseError(f"{name!r} is not a valid column name")
    return name


def connect(url: str | None = None) -> Warehouse:
    """Open the warehouse named by `url`, or by AIRFLOW_CONN_WAREHOUSE, or the default DuckDB file."""
    warehouse = Warehouse(url)
    warehouse.ensure_schemas()
    return warehouse
