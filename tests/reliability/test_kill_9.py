"""`kill -9` at seeded random moments of a real `ml run`: every partition of raw, features and marts
is afterwards either the one before the run or the one a complete run writes, never a part of one;
and the workspace still runs (no stale lock, a readable warehouse).

The killed runs re-run the baseline's export into the baseline's workspace, so each partition has
exactly two right answers: the baseline's, and what a complete re-run writes (measured at the end).
"""
from __future__ import annotations

import hashlib
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from ml.warehouse import connect
from tests.reliability.state import SCHEMAS, VOLATILE, tables

pytestmark = pytest.mark.reliability
ROOT = Path(__file__).resolve().parents[2]
KILLS = 2
SEED = 20261202


def partitions() -> dict[str, str]:
    """A digest per table of raw, and per (table, as-of date) of features and marts."""
    found = {}
    with connect() as wh:
        for table in tables(wh):
            if table.startswith("ops."):
                continue  # the platform's own log: each attempt appends to it by design
            columns = [c for c in wh.columns(table) if c not in VOLATILE]
            frame = wh.query(f"SELECT {', '.join(chr(34) + c + chr(34) for c in columns)} FROM {table} ORDER BY ALL")
            groups = frame.groupby("as_of_date", sort=True) if "as_of_date" in frame else [("all", frame)]
            for as_of, rows in groups:
                found[f"{table}[{str(as_of)[:10]}]"] = hashlib.sha256(rows.to_csv(index=False).encode()).hexdigest()
    assert set(SCHEMAS) >= {key.split(".")[0] for key in found}
    return found


def start_run(workspace: Path, source: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ml", "run", "--workspace", str(workspace), "--source", str(source)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL the run and every process it started (task processes included), all at once."""
    parent = psutil.Process(process.pid)
    victims = [parent, *parent.children(recursive=True)]
    for victim in victims:
        try:
            victim.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(victims, timeout=30)
    process.wait(timeout=30)


def test_kill_9_at_random_moments_leaves_every_partition_whole(pipeline_baseline, baseline_workspace, small_shop):
    before = partitions()
    moments = random.Random(SEED)
    after_kills = []
    for _ in range(KILLS):
        run = start_run(baseline_workspace, small_shop)
        time.sleep(moments.uniform(0.1, 0.9) * pipeline_baseline.seconds)
        still_running = run.poll() is None
        kill_tree(run)
        after_kills.append((still_running, partitions()))
    assert any(still for still, _ in after_kills), "every run had finished before its kill: nothing was tested"

    complete = start_run(baseline_workspace, small_shop)
    assert complete.wait(timeout=1800) == 0, "after the kills, a run must still complete in the same workspace"
    after = partitions()
    for number, (_, state) in enumerate(after_kills, 1):
        for key in before.keys() | after.keys() | state.keys():
            assert state.get(key) in (before.get(key), after.get(key)), f"after kill {number}: {key} is neither"
