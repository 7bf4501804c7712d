"""The console a person reads while a pipeline runs: drawn from the run journal that a real process
writes while it works, one line per DAG with its tasks, the failing task's error, the exit status."""
from __future__ import annotations

import io
import subprocess
import sys
import textwrap

from rich.console import Console

from ml import console, run_journal

# A stand-in for tools/run_dags.py: writes the journal as the runner and the task callbacks do, with
# pauses, so the console reads it while it grows (a task line arrives after its start line).
FAKE_RUN = textwrap.dedent("""
    import sys, time
    from ml import run_journal

    class TI:
        def __init__(self, dag_id, task_id, try_number=1):
            self.dag_id, self.task_id, self.try_number = dag_id, task_id, try_number

    run_journal.plan({"ingest_orders": ["stage_export", "validate_order_lines"],
                      "train_segmentation": ["build_segmentation_features", "train_segmentation"]})
    run_journal.dag_started("ingest_orders")
    run_journal.task_started({"ti": TI("ingest_orders", "stage_export")})
    time.sleep(0.4)
    run_journal.task_succeeded({"ti": TI("ingest_orders", "stage_export")})
    run_journal.task_started({"ti": TI("ingest_orders", "validate_order_lines")})
    run_journal.task_retrying({"ti": TI("ingest_orders", "validate_order_lines"),
                               "exception": ConnectionError("PostgreSQL is restarting")})
    run_journal.task_started({"ti": TI("ingest_orders", "validate_order_lines", 2)})
    time.sleep(0.4)
    run_journal.record_failure({"ti": TI("ingest_orders", "validate_order_lines", 2),
                                "exception": RuntimeError("Validation failed; nothing downstream was written.\\n"
                                                          "  - expect_column_values_to_be_between on unit_price")})
    run_journal.dag_finished("ingest_orders", "failed", 1.2)
    run_journal.not_run(["train_segmentation"])
    print("Airflow's own chatter, which belongs in the log file")
    sys.exit(1)
""")


def run_fake(tmp_path) -> tuple[int, str, str]:
    journal, log = tmp_path / "latest.jsonl", tmp_path / "latest.log"
    shown = io.StringIO()
    with open(log, "w") as handle:
        process = subprocess.Popen([sys.executable, "-c", FAKE_RUN], stdout=handle, stderr=subprocess.STDOUT,
                                   env={**__import__("os").environ, run_journal.JOURNAL_ENV: str(journal)})
        status = console.follow(process, journal, log, Console(file=shown, width=300, highlight=False))
    return status, shown.getvalue(), log.read_text()


def test_a_failing_run_shows_one_line_per_dag_its_tasks_the_retry_and_the_error(tmp_path):
    status, shown, log = run_fake(tmp_path)
    assert status == 1
    lines = shown.splitlines()
    assert lines[0] == f"Airflow's log of this run: {tmp_path / 'latest.log'}  (--verbose prints it here)"
    dag_line = next(line for line in lines if line.startswith("✗ ingest_orders failed in 1.2s"))
    # each task once, in the order they ran, with its state and its duration from start to end
    assert "✓ stage_export 0.4s" in dag_line or "✓ stage_export 0.5s" in dag_line
    assert dag_line.count("validate_order_lines") == 1 and "✗ validate_order_lines" in dag_line
    assert "(1 retried)" in dag_line
    assert "↻ ingest_orders.validate_order_lines will be retried: ConnectionError: PostgreSQL is restarting" in shown
    assert "✗ ingest_orders.validate_order_lines: RuntimeError: Validation failed; nothing downstream was written." \
        in shown
    # Airflow's output went to the log, not to the person
    assert "Airflow's own chatter" in log and "chatter" not in shown
    assert len([line for line in lines if line.strip()]) == 4  # the log line, the retry, the error, the DAG


def test_the_journal_is_read_a_whole_line_at_a_time(tmp_path):
    path = tmp_path / "journal.jsonl"
    tail = console.JournalTail(path)
    assert tail.read() == []  # not written yet
    path.write_text('{"event": "a", "at": 1}\n{"event": "b", "at"')
    assert [e["event"] for e in tail.read()] == ["a"]
    with open(path, "a") as handle:
        handle.write(': 2}\n')
    assert [e["event"] for e in tail.read()] == ["b"]
    assert tail.read() == []


def test_a_stopped_run_says_what_it_changed_then_what_did_not_run_and_last_what_failed():
    entries = [{"event": "changed", "step": "publish", "what": "raw.order_lines replaced"},
               {"event": "failed", "dag_id": "train_segmentation", "task_id": "train", "error": "ValueError: k_max"},
               {"event": "dag", "dag_id": "train_segmentation", "state": "failed", "seconds": 1.0},
               {"event": "not_run", "dag_ids": ["score_segmentation"]}]
    lines = run_journal.describe(entries).splitlines()
    assert lines[0] == "this run changed (each step committed before the failure):"
    assert lines[-2] == "not run: score_segmentation"
    assert lines[-1] == "failed: train_segmentation.train: ValueError: k_max"
