"""What one `ml run` did, step by step, so a run that stops can say exactly what it changed.

`tools/run_dags.py` names a journal file (JSON lines) in `VALUEFLOW_RUN_JOURNAL`; each step that
writes something notes it here once its write has committed (`changed`), a failing task notes its
error (`record_failure`, Airflow's `on_failure_callback`), every task notes its start and end (the
other callbacks), and the runner notes its plan and each DAG's start and end: `ml.console` draws the
run's progress from it. Without the variable (a scheduler's run) nothing is written: the task logs and
`ops.*` tell the story there.

Standard library only: the DAG files import it at parse time.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

JOURNAL_ENV = "VALUEFLOW_RUN_JOURNAL"


def _append(entry: dict) -> None:
    path = os.environ.get(JOURNAL_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf8") as handle:  # one short line per append: no interleaving to fear
        handle.write(json.dumps({**entry, "at": round(time.time(), 3)}, default=str) + "\n")


def changed(step: str, what: str) -> None:
    """`step` (e.g. `publish_raw_tables`) committed `what` (a person's sentence naming the tables or models)."""
    _append({"event": "changed", "step": step, "what": what})


def plan(dags: dict[str, list[str]]) -> None:
    """The DAGs this run will try, in order, with their task ids: the console's progress bar counts them."""
    _append({"event": "plan", "dags": dags})


def dag_started(dag_id: str) -> None:
    _append({"event": "dag_started", "dag_id": dag_id})


def as_of_chosen(as_of: str) -> None:
    _append({"event": "as_of", "as_of": as_of})


def _task(context, event: str, **extra) -> None:
    ti = context.get("ti") or context.get("task_instance")
    _append({"event": event, "dag_id": getattr(ti, "dag_id", None), "task_id": getattr(ti, "task_id", None),
             "try_number": getattr(ti, "try_number", None), **extra})


def task_started(context) -> None:
    """Airflow `on_execute_callback`."""
    _task(context, "task_started")


def task_succeeded(context) -> None:
    """Airflow `on_success_callback`."""
    _task(context, "task_finished", state="success")


def task_skipped(context) -> None:
    """Airflow `on_skipped_callback`."""
    _task(context, "task_finished", state="skipped")


def task_retrying(context) -> None:
    """Airflow `on_retry_callback`: the error that will be retried, so a person sees why the run waits."""
    _task(context, "task_retrying", error=_error_text(context.get("exception")))


def _error_text(error) -> str:
    if type(error).__name__ == "AirflowFailException" and error.__cause__ is not None:
        error = error.__cause__  # the error itself, not the "do not retry" wrapper around it
    return f"{type(error).__name__}: {error}" if error is not None else "unknown error"


def dag_finished(dag_id: str, state: str, seconds: float) -> None:
    _append({"event": "dag", "dag_id": dag_id, "state": state, "seconds": round(seconds, 1)})


def not_run(dag_ids: list[str]) -> None:
    if dag_ids:
        _append({"event": "not_run", "dag_ids": list(dag_ids)})


def record_failure(context) -> None:
    """Airflow `on_failure_callback`: the task and its error, as the task log's last line gives it."""
    ti = context.get("ti") or context.get("task_instance")
    _append({"event": "failed", "dag_id": getattr(ti, "dag_id", None), "task_id": getattr(ti, "task_id", None),
             "error": _error_text(context.get("exception"))})


def read(path: Path) -> list[dict]:
    if not Path(path).exists():
        return []
    return [json.loads(line) for line in Path(path).read_text(encoding="utf8").splitlines() if line.strip()]


def describe(entries: list[dict]) -> str:
    """What a stopped run changed, what did not run and, last (where a person looks first), what failed."""
    failures = [e for e in entries if e["event"] == "failed"]
    changes = [e for e in entries if e["event"] == "changed"]
    failed_dags = [e["dag_id"] for e in entries if e["event"] == "dag" and not e["state"].endswith("success")]
    skipped = [d for e in entries if e["event"] == "not_run" for d in e["dag_ids"]]
    lines = []
    if changes:
        lines.append("this run changed (each step committed before the failure):")
        lines += [f"  - {change['what']}" for change in changes]
        lines.append("everything else (other marts, champions) is as it was")
    else:
        lines.append("this run changed nothing: raw, features, marts and champions are as they were")
    if skipped:
        lines.append(f"not run: {', '.join(skipped)}")
    for dag_id in failed_dags:
        if not any(f["dag_id"] == dag_id for f in failures):
            lines.append(f"failed: {dag_id}")
    for failure in failures:
        lines.append(f"failed: {failure['dag_id']}.{failure['task_id']}: {failure['error']}")
    return "\n".join(lines)
