"""`python -m ml run` as a user runs it, on a workspace that holds a real run: the exit status, what it
prints about what it changed, one attempt where a retry cannot help, and nothing changed that it
does not name."""
from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.state import changed, snapshot
from tests.reliability.test_bad_exports import INVOICE_DATE, lines, with_field, write_lines

pytestmark = pytest.mark.reliability
ROOT = Path(__file__).resolve().parents[2]


def ml_run(workspace: Path, *arguments: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "ml", "run", "--workspace", str(workspace), *arguments],
                          cwd=ROOT, capture_output=True, text=True, timeout=900, env={**os.environ, **(env or {})})


def attempts(workspace: Path, dag_id: str, task_id: str) -> tuple[int, str]:
    """The latest run's try number and state of one task, from Airflow's own metadata database."""
    with sqlite3.connect(workspace / "airflow" / "airflow.db") as db:
        return db.execute("SELECT try_number, state FROM task_instance WHERE dag_id = ? AND task_id = ? "
                          "ORDER BY start_date DESC LIMIT 1", (dag_id, task_id)).fetchone()


def failed_tries(workspace: Path, dag_id: str) -> list[int]:
    """The try numbers of the failed tasks of a DAG's latest run."""
    with sqlite3.connect(workspace / "airflow" / "airflow.db") as db:
        latest = db.execute("SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)).fetchone()
        return [row[0] for row in db.execute("SELECT try_number FROM task_instance WHERE dag_id = ? AND run_id = ? "
                                             "AND state = 'failed'", (dag_id, latest[0]))]


def future_dated(folder: Path, shop: Path) -> Path:
    return write_lines(folder, with_field(lines(shop), 3, INVOICE_DATE, "2030-01-01 10:00:00"))


def test_an_export_that_cannot_be_used_fails_in_one_attempt_and_changes_nothing(baseline_workspace, small_shop,
                                                                                tmp_path):
    """One case of test_bad_exports.py through the whole command (each costs an Airflow start-up)."""
    message = "its last order line is dated 2030-01-01 10:00:00, after today"
    before = snapshot()
    result = ml_run(baseline_workspace, "--source", str(future_dated(tmp_path, small_shop)))
    assert result.returncode == 1, result.stderr[-2000:]
    assert message in result.stdout + result.stderr
    assert "failed: ingest_orders.stage_export: SourceError" in result.stderr
    assert "this run changed nothing" in result.stderr
    assert "not run: train_segmentation" in result.stderr
    last_lines = "\n".join(result.stderr.splitlines()[-10:])  # where a person looks first
    assert message in last_lines and "failed: ingest_orders.stage_export" in last_lines
    assert len(result.stdout.splitlines()) <= 5, result.stdout  # Airflow's output is in the log, not here
    assert message in (baseline_workspace / "runs" / "latest.log").read_text()
    assert attempts(baseline_workspace, "ingest_orders", "stage_export") == (1, "failed")  # no retry
    assert changed(before, snapshot()) == []


@pytest.mark.parametrize("arguments, message", [
    (["--as-of", "2011/12/01"], "--as-of: as_of must be YYYY-MM-DD, got '2011/12/01'"),
    (["--as-of", "2011-12-01xyz"], "--as-of: as_of must be YYYY-MM-DD, got '2011-12-01xyz'"),
    (["--encoding", "klingon"], "--encoding 'klingon': not an encoding"),
])
def test_a_bad_argument_stops_before_anything_starts(baseline_workspace, small_shop, arguments, message):
    journal = baseline_workspace / "runs" / "latest.jsonl"
    journal_before = journal.read_text() if journal.exists() else None
    before = snapshot()
    result = ml_run(baseline_workspace, "--source", str(small_shop), *arguments)
    assert result.returncode == 2 and message in result.stderr
    assert (journal.read_text() if journal.exists() else None) == journal_before  # no run started
    assert changed(before, snapshot()) == []


def test_a_second_run_on_a_busy_workspace_is_refused_naming_the_holder(baseline_workspace, small_shop):
    from ml import pipeline

    with pipeline.workspace_lock(baseline_workspace):
        result = ml_run(baseline_workspace, "--source", str(small_shop))
    assert result.returncode == 3
    assert f"another run is using {baseline_workspace} (pid " in result.stderr
    assert "give this one its own --workspace" in result.stderr


def test_a_run_that_fails_after_ingest_names_what_it_changed_and_keeps_every_mart(baseline_workspace, small_shop,
                                                                                  tmp_path):
    """A family that cannot train (a bad setting): the export and its features were published by the
    steps before it, and the run says so; marts and champions stay as they were."""
    config = shutil.copytree(ROOT / "config", tmp_path / "config")
    (config / "families" / "segmentation.yaml").write_text("k_max: many\n")
    before = snapshot()
    result = ml_run(baseline_workspace, "--source", str(small_shop), env={"VALUEFLOW_CONFIG_DIR": str(config)})
    assert result.returncode == 1
    report = result.stderr[result.stderr.index("The pipeline stopped"):]
    assert "failed: train_segmentation." in report and "k_max" in report
    assert "this run changed (each step committed before the failure):" in report
    assert "raw.order_lines, raw.products, raw.events, raw.reviews replaced by" in report
    assert "features.user_features for " in report
    assert "not run: train_propensity" in report and "build_audiences" in report
    assert failed_tries(baseline_workspace, "train_segmentation") == [1]  # failed at once, not retried
    after = snapshot()
    assert [t for t in changed(before, after) if t.startswith("marts.") or "@champion" in t] == []
