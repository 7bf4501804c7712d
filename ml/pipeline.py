"""Run the whole pipeline under Airflow on the embedded defaults (SQLite metadata, DuckDB, local MLflow).

This module prepares Airflow's environment and starts `tools/run_dags.py` in a subprocess, which runs
the DAGs with `dag.test()`; `ml/` itself never imports Airflow.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from ml import run_journal, settings
from ml.families import FAMILY_NAMES


def airflow_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for Airflow commands: everything under var/, this repo's dags and plugins."""
    home = settings.state_dir() / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("AIRFLOW_HOME", str(home))
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(settings.REPO_ROOT / "dags"))
    env.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(settings.REPO_ROOT / "plugins"))
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}")
    env.setdefault("AIRFLOW__LOGGING__BASE_LOG_FOLDER", str(home / "logs"))
    env.setdefault("AIRFLOW_CONN_WAREHOUSE", settings.warehouse_url())
    env.setdefault("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri())
    env.setdefault("VALUEFLOW_HOME", str(settings.state_dir()))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(settings.REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


def airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


class WorkspaceBusy(RuntimeError):
    """Another run holds this workspace: two runs would fight over one DuckDB file and one registry."""


@contextlib.contextmanager
def workspace_lock(home: Path) -> Iterator[None]:
    """Hold `home/.run.lock` for the block, or fail at once naming the run that holds it. The OS
    releases the lock when its process dies, so a killed run never leaves the workspace locked."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / ".run.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise WorkspaceBusy(f"another run is using {home} ({handle.read().strip() or 'unknown'}); wait for it "
                                "to finish, or give this one its own --workspace") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, {' '.join(sys.argv[:3])}")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def migrate_metadata(env: dict[str, str], log=None) -> None:
    subprocess.run([airflow_bin(), "db", "migrate"], env=env, check=True, stdout=log or subprocess.DEVNULL,
                   stderr=log)


def pipeline_dag_ids() -> list[str]:
    """Ingest, then every family's training, then scoring in family order, then audiences and the
    outcomes of past scores, where their DAG files exist."""
    trains = [f"train_{name}" for name in FAMILY_NAMES]
    scores = [f"score_{name}" for name in FAMILY_NAMES]
    extra = [dag_id for dag_id in ("build_audiences", "evaluate_outcomes")
             if (settings.REPO_ROOT / "dags" / f"{dag_id}.py").exists()]
    return ["ingest_orders", *trains, *scores, *extra]


def run_pipeline(source: str, as_of: str | None = None, env_extra: dict[str, str] | None = None,
                 dag_ids: list[str] | None = None, keep_going: bool = False, encoding: str | None = None,
                 repeated_lines: str | None = None, verbose: bool = False) -> int:
    """Run the DAGs on `source`; returns the exit status of the run (0 = every DAG succeeded).

    `keep_going` runs the DAGs after a failed one too (each family's DAGs stand on their own);
    `encoding` and `repeated_lines` go to the ingest DAG's params of the same names. Airflow's own
    output goes to `log_path()` and `ml.console` shows the run's progress; `verbose` prints Airflow's
    output here instead.
    """
    ingest_conf = {"source": str(Path(source).resolve()), "as_of": as_of, "encoding": encoding,
                   "repeated_lines": repeated_lines}
    with workspace_lock(settings.state_dir()):
        return _run_locked(ingest_conf, env_extra, dag_ids, keep_going, verbose)


def journal_path() -> Path:
    """The journal of the latest run in this workspace (one run at a time holds the lock)."""
    return settings.state_dir() / "runs" / "latest.jsonl"


def log_path() -> Path:
    """Airflow's output of the latest run in this workspace (unless it ran with `verbose`)."""
    return settings.state_dir() / "runs" / "latest.log"


def _note_other_export(source: str) -> None:
    """Say so when this run brings another file's export into a workspace that holds one (the lock is
    held: no run of ours has the warehouse open)."""
    from ml import summary
    from ml.warehouse import connect

    url = settings.warehouse_url()
    if url.startswith("duckdb:///") and not Path(url.removeprefix("duckdb:///")).exists():
        return  # a new workspace: nothing to compare with, and no file to create before the run does
    with connect() as wh:
        note = summary.other_export_note(wh, source)
    if note:
        print(note, file=sys.stderr, flush=True)


def _run_locked(ingest_conf, env_extra, dag_ids, keep_going, verbose) -> int:
    from ml import console

    journal = journal_path()
    journal.parent.mkdir(parents=True, exist_ok=True)
    journal.unlink(missing_ok=True)
    _note_other_export(ingest_conf["source"])
    env = airflow_env({run_journal.JOURNAL_ENV: str(journal), **(env_extra or {})})
    dag_ids = dag_ids or pipeline_dag_ids()
    confs = {"ingest_orders": ingest_conf}
    for dag_id in dag_ids[1:]:
        confs[dag_id] = {"as_of": ingest_conf["as_of"]}
    command = [sys.executable, str(settings.REPO_ROOT / "tools" / "run_dags.py"),
               *(["--keep-going"] if keep_going else []), json.dumps(confs), *dag_ids]
    if verbose:
        migrate_metadata(env)
        return subprocess.run(command, env=env).returncode
    with open(log_path(), "w", encoding="utf8") as log:
        migrate_metadata(env, log)
        with subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT) as process:
            return console.follow(process, journal, log_path())
