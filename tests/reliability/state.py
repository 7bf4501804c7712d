"""What a reliability case compares: every table of raw, features, marts and ops, and every champion.

`snapshot` digests each table's rows in a fixed order, so "unchanged" means byte for byte. The one
record a refused export adds on purpose, its own failed checks in ops.validation_results, is left
out: only the rows of runs that published (ops.ingest_runs) are compared there.
"""
from __future__ import annotations

import hashlib

from ml import catalog, registry
from ml.families import FAMILY_NAMES
from ml.warehouse import connect

SCHEMAS = ("raw", "features", "marts", "ops")
# Written anew by every run that reaches them, with nothing a person reads as data.
VOLATILE = {"scored_at", "published_at", "validated_at", "decided_at"}


def tables(wh) -> list[str]:
    names = wh.query("SELECT table_schema || '.' || table_name AS t FROM information_schema.tables "
                     f"WHERE table_schema IN {SCHEMAS} AND table_name NOT LIKE 'stage_%'")["t"]
    return sorted(names)


def table_digest(wh, table: str, where: str = "", leave_out: set[str] = frozenset()) -> str:
    columns = [c for c in wh.columns(table) if c not in leave_out]
    listed = ", ".join(f'"{c}"' for c in columns)
    frame = wh.query(f"SELECT {listed} FROM {table} {where} ORDER BY ALL")
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest() + f" ({len(frame)} rows)"


def snapshot(leave_out: set[str] = frozenset()) -> dict[str, str]:
    """Every table's digest, and every family's champion (version and run)."""
    with connect() as wh:
        state = {}
        for table in tables(wh):
            where = ""
            if table == catalog.VALIDATION_RESULTS:
                where = f"WHERE run_id IN (SELECT run_id FROM {catalog.INGEST_RUNS})"
            state[table] = table_digest(wh, table, where, leave_out)
    for name in FAMILY_NAMES:
        champion = registry.get_alias(name, registry.CHAMPION)
        state[f"{name}@champion"] = f"{champion.version} {champion.run_id}" if champion else "none"
    return state


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
