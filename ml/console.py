"""What a person sees while a pipeline runs: one line per DAG with each task's state and duration, a
progress bar over the run's tasks (a terminal only), and on failure the failing task and its error.

Airflow's own output goes to the run's log file (`pipeline.log_path()`), whose path is printed; the
lines here are drawn with rich from the run journal (`ml.run_journal`) that the DAG runner and the
tasks' callbacks write, so nothing is parsed out of Airflow's log format.
"""
from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

POLL_SECONDS = 0.3
MARKS = {"success": "[green]✓[/]", "failed": "[red]✗[/]", "skipped": "[yellow]-[/]", "upstream_failed": "[red]-[/]"}


class JournalTail:
    """The journal's entries written since the last read (a line still being written waits for the next)."""

    def __init__(self, path: Path):
        self.path, self.offset = Path(path), 0

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
        complete = chunk[:chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        return [json.loads(line) for line in complete.decode("utf8").splitlines() if line.strip()]


@dataclass
class DagProgress:
    dag_id: str
    planned: int
    started: dict[str, float] = field(default_factory=dict)  # task id -> journal time it started
    finished: dict[str, tuple[str, float]] = field(default_factory=dict)  # task id -> (state, seconds)
    retries: int = 0


def first_line(text: str, width: int = 160) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= width else line[:width - 1] + "…"


class RunView:
    """Turns journal entries into lines on `console` and moves the progress bar."""

    def __init__(self, console: Console):
        self.console = console
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console, transient=True)
        self.bar = self.progress.add_task("starting Airflow", total=None)
        self.dags: dict[str, DagProgress] = {}
        self.done_before = 0  # tasks of the DAGs already finished

    def handle(self, entry: dict) -> None:
        event = entry["event"]
        if event == "plan":
            self.dags = {dag_id: DagProgress(dag_id, len(tasks)) for dag_id, tasks in entry["dags"].items()}
            self.progress.update(self.bar, total=sum(d.planned for d in self.dags.values()), completed=0)
        elif event == "as_of":
            self.console.print(f"as-of date of this run: [bold]{entry['as_of']}[/]")
        elif event == "task_started":
            dag = self._dag(entry)
            dag.started[entry["task_id"]] = entry["at"]
            attempt = f" (try {entry['try_number']})" if (entry.get("try_number") or 1) > 1 else ""
            self.progress.update(self.bar, description=f"{dag.dag_id} › {entry['task_id']}{attempt}")
        elif event in ("task_finished", "failed"):
            self._finish_task(entry, entry.get("state", "failed"))
            if event == "failed":
                self.console.print(f"  [red]✗ {escape(entry['dag_id'])}.{escape(entry['task_id'])}[/]: "
                                   f"{escape(first_line(entry['error']))}")
        elif event == "task_retrying":
            self._dag(entry).retries += 1
            self.console.print(f"  [yellow]↻ {escape(entry['dag_id'])}.{escape(entry['task_id'])} will be retried[/]:"
                               f" {escape(first_line(entry['error']))}")
        elif event == "dag":
            self._finish_dag(entry)

    def _dag(self, entry: dict) -> DagProgress:
        return self.dags.setdefault(entry["dag_id"], DagProgress(entry["dag_id"], 0))

    def _finish_task(self, entry: dict, state: str) -> None:
        dag = self._dag(entry)
        started = dag.started.get(entry["task_id"], entry["at"])
        dag.finished[entry["task_id"]] = (state, entry["at"] - started)
        self.progress.update(self.bar, completed=self.done_before + min(len(dag.finished), dag.planned or 10**9))

    def _finish_dag(self, entry: dict) -> None:
        dag = self._dag(entry)
        state = entry["state"].rsplit(".", 1)[-1]
        tasks = "  ".join(f"{MARKS.get(s, '?')} {escape(task)} {seconds:.1f}s"
                          for task, (s, seconds) in dag.finished.items())
        retries = f"  [yellow]({dag.retries} retried)[/]" if dag.retries else ""
        self.console.print(f"{MARKS.get(state, '[red]✗[/]')} [bold]{escape(dag.dag_id)}[/] {state} in "
                           f"{entry['seconds']:.1f}s — {tasks}{retries}")
        self.done_before += max(dag.planned, len(dag.finished))
        self.progress.update(self.bar, completed=self.done_before)


def follow(process: subprocess.Popen, journal: Path, log: Path, console: Console | None = None) -> int:
    """Show the run's progress until `process` ends; returns its exit status."""
    console = console or Console(highlight=False, soft_wrap=True)  # a log line stays one line
    console.print(f"Airflow's log of this run: {log}  (--verbose prints it here)")
    tail, view = JournalTail(journal), RunView(console)
    with view.progress:
        while True:
            ended = process.poll() is not None
            for entry in tail.read():
                view.handle(entry)
            if ended:
                break
            time.sleep(POLL_SECONDS)
    return process.returncode
