"""The `default_args` every ValueFlow DAG gives its tasks (standard library only: read at DAG parse time).

A retry is for what can mend (a dead MLflow or PostgreSQL, a lock): one minute, then two, up to ten.
What cannot mend fails at once (`orchestration.fail_fast`). Each task's start, end, retry or failure
is noted in the run's journal, so `ml run` can show progress and say what the run changed before it stopped.
"""
from __future__ import annotations

import datetime as dt

from ml import run_journal

DEFAULT_ARGS = {
    "owner": "valueflow",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=10),
    "on_failure_callback": run_journal.record_failure,
    "on_execute_callback": run_journal.task_started,
    "on_success_callback": run_journal.task_succeeded,
    "on_skipped_callback": run_journal.task_skipped,
    "on_retry_callback": run_journal.task_retrying,
}
