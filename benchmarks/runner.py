"""The benchmark run: per shop size, every stage in its own child process, then the side-by-side comparisons.

Each size gets a throw-away workspace (generated shop, a DuckDB warehouse and MLflow store for the
stages, a fresh one for the whole DAG run). The PostgreSQL side writes into a throw-away database on
the server at `pg_admin_url`, dropped at the end whatever happens.
"""
from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.measure import Measurement, run_stage
from ml import settings
from ml.families import FAMILY_NAMES

DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# implicit's ALS at the settings this project uses by default; the reference run uses the same two.
ALS_FACTORS, ALS_ITERATIONS = 64, 15
RECOMMENDER_FITS = ("als", "implicit_reference", "item_cosine")
# The stages that only move data: `--stages` measures a prefix of these (e.g. at 1M customers,
# where training every family would take hours on 2 cores).
DATA_PATH = ("ingest", "validate", "publish", "features_sql", "features_pandas")
# `--stages dag_run`: the shop, then only the whole pipeline under Airflow (at 1M the per-stage
# measurements take as long again as the DAG run, so each gets its own run)
DAG_RUN = "dag_run"
# `--stages clv_fits`: the shop, then only the BG/NBD and Gamma-Gamma fits against lifetimes'
CLV_FITS = "clv_fits"
STANDALONE = (DAG_RUN, CLV_FITS)  # stages that need only the generated shop


@dataclass
class BenchConfig:
    sizes: list[int]
    seed: int = 7
    workdir: Path = field(default_factory=lambda: settings.state_dir() / "bench")
    pg_admin_url: str | None = field(default_factory=lambda: os.environ.get("VALUEFLOW_BENCH_PG", DEFAULT_PG_ADMIN_URL))
    # pandas.to_sql sends rows through executemany: capped, and compared as rows/s. Into DuckDB (sqlite3-style
    # DBAPI fallback) it manages about a hundred rows a second, hence the lower cap.
    to_sql_max_rows: int = 100_000
    duckdb_to_sql_max_rows: int = 2_000
    dag_run: bool = True
    keep: bool = False
    stage_timeout_s: float | None = None
    budget_s: float | None = None  # past this, the running stage is killed and later ones are skipped
    memory_limit_mib: float | None = 16 * 1024  # a stage past this is killed (the machine is shared)
    stages: list[str] | None = None  # only these data-path stages (and what they need before them), or dag_run
    # only these families' features, train, promote and score, after the data path up to features_sql
    # (at 1M customers: the families whose memory grows with the shop, without hours for the rest)
    families: list[str] | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.stages or ()) - {*DATA_PATH, *STANDALONE})
        if unknown:
            raise ValueError(f"--stages: {', '.join(unknown)} not among {', '.join((*DATA_PATH, *STANDALONE))}")
        known = list(FAMILY_NAMES)
        unknown = sorted(set(self.families or ()) - set(known))
        if unknown:
            raise ValueError(f"--families: {', '.join(unknown)} not among {', '.join(known)}")

    @property
    def partial(self) -> bool:
        return bool(self.stages or self.families)

    def data_path(self) -> tuple[str, ...]:
        """The data-path stages a partial run measures: up to the last one asked, or to features_sql
        when families are asked (they read the published tables and the user features)."""
        wanted = [*(name for name in self.stages or () if name not in STANDALONE),
                  *(["features_sql"] if self.families else [])]
        return DATA_PATH[:max(DATA_PATH.index(name) for name in wanted) + 1] if wanted else ()

    @property
    def dag_run_only(self) -> bool:
        """`--stages dag_run` alone: the generated shop, then the whole DAG run."""
        return DAG_RUN in (self.stages or ()) and not self.data_path()


def recommender_available() -> tuple[bool, str]:
    """Whether the recommender family's code (ml.families.recommender) is present with the names the harness uses."""
    wanted = {"ml.families.recommender.config": ["RecommenderConfig"], "ml.families.recommender.interactions":
              ["InteractionMatrix", "read_matrix"], "ml.families.recommender.features": ["interactions_sql"],
              "ml.families.recommender.candidates": ["fit_model"]}
    for module_name, names in wanted.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            return False, f"not available ({module_name} cannot be imported: {error})"
        missing = [n for n in names if not hasattr(module, n)]
        if missing:
            return False, f"not available ({module_name} has no {', '.join(missing)})"
    return True, "available"


def child_env(home: Path) -> dict[str, str]:
    """Environment of a stage: all state under `home`, nothing inherited from another Airflow set-up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({
        "VALUEFLOW_HOME": str(home),
        "AIRFLOW_CONN_WAREHOUSE": f"duckdb:///{home / 'warehouse.duckdb'}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(settings.REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "GX_ANALYTICS_ENABLED": "False",
    })
    env.pop("MLFLOW_ARTIFACT_ROOT", None)
    return env


def as_of_from_manifest(shop: Path) -> dt.date:
    import pandas as pd

    from ml.ingest import default_as_of

    return default_as_of(pd.Timestamp(json.loads((shop / "manifest.json").read_text())["last_order_ts"]))


class _PostgresScratch:
    """A throw-away database on the PostgreSQL server, dropped on exit."""

    def __init__(self, admin_url: str | None, log: Callable[[str], None]):
        self.admin_url, self.log, self.url, self.reason = admin_url, log, None, "not configured"
        self.name = f"valueflow_bench_{uuid.uuid4().hex[:10]}"

    def __enter__(self) -> _PostgresScratch:
        if not self.admin_url:
            return self
        import psycopg

        try:
            with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as admin:
                admin.execute(f"CREATE DATABASE {self.name}")
        except psycopg.Error as error:
            self.reason = f"PostgreSQL at {self.admin_url} unavailable: {error}".strip()
            self.log(f"[bench] {self.reason}; PostgreSQL comparisons skipped")
            return self
        self.url = self.admin_url.rsplit("/", 1)[0] + f"/{self.name}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.url is None:
            return
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


def run_benchmark(config: BenchConfig, log: Callable[[str], None] = print,
                  progress: Callable[[dict], None] | None = None) -> dict:
    """Run every stage at every size; returns the results (what `benchmarks.report` renders).

    `progress` gets the results so far after every stage, so an interrupted run still leaves figures.
    """
    available, recommender_status = recommender_available()
    results = {"sizes": [], "recommender": recommender_status, "to_sql_max_rows": config.to_sql_max_rows,
               "duckdb_to_sql_max_rows": config.duckdb_to_sql_max_rows,
               "families": list(FAMILY_NAMES), "seed": config.seed,
               "als": {"factors": ALS_FACTORS, "iterations": ALS_ITERATIONS}}
    deadline = None if config.budget_s is None else time.monotonic() + config.budget_s
    with _PostgresScratch(config.pg_admin_url, log) as postgres:
        results["postgres"] = "available" if postgres.url else postgres.reason
        results["postgres_database"] = postgres.name
        for customers in config.sizes:
            entry = {"customers": customers, "as_of": None, "shop": {}, "stages": []}
            if config.partial:
                entry["stages_only"] = list(config.stages or config.data_path()[-1:])
            if config.families:
                entry["families_only"] = list(config.families)
            results["sizes"].append(entry)
            _run_size(entry, config, postgres.url, available, log, lambda: progress and progress(results), deadline)
    return results


def _run_size(entry: dict, config: BenchConfig, pg_url: str | None, with_recommender: bool,
              log: Callable[[str], None], progress: Callable[[], None], deadline: float | None) -> None:
    customers = entry["customers"]
    workspace = Path(config.workdir) / f"customers_{customers}"
    shutil.rmtree(workspace, ignore_errors=True)
    shop, stage_home, dag_home = workspace / "shop", workspace / "stages", workspace / "dag"
    for folder in (stage_home, dag_home):
        folder.mkdir(parents=True)
    env = child_env(stage_home)

    def stage(name: str, args: dict, label: str | None = None, stage_env: dict | None = None) -> Measurement:
        timeout, cause = config.stage_timeout_s, "--stage-timeout-s"
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                m = Measurement(label or name, False, error=f"skipped: the time budget of {config.budget_s / 60:.0f} min ran out")
                entry["stages"].append(m.as_dict())
                progress()
                return m
            if timeout is None or left < timeout:
                timeout, cause = left, f"the run's {config.budget_s / 60:.0f}-min budget (--budget-min)"
        m = run_stage(name, args, stage_env or env, cwd=settings.REPO_ROOT, label=f"{customers}: {label or name}",
                      timeout_s=timeout, memory_limit_mib=config.memory_limit_mib, log=log, timeout_cause=cause)
        m.stage = label or name
        entry["stages"].append(m.as_dict())
        progress()
        return m

    try:
        generated = stage("generate", {"customers": customers, "seed": config.seed, "shop": str(shop)})
        if not generated.ok:
            return
        entry["shop"] = generated.info
        entry["as_of"] = as_of = as_of_from_manifest(shop).isoformat()
        common = {"shop": str(shop), "as_of": as_of}
        if config.partial:  # each stage needs the ones before it, so they run (and are measured) too
            if all(stage(name, common).ok for name in config.data_path()) and config.families:
                _family_stages(stage, common, config.families)
            if CLV_FITS in (config.stages or ()):
                _clv_fits(stage, common)
            if DAG_RUN in (config.stages or ()):  # on its own fresh warehouse, like the full run's
                stage(DAG_RUN, common, stage_env=child_env(dag_home))
            return
        for name in DATA_PATH:
            stage(name, common)
        _mart_writes(stage, customers, as_of, workspace, pg_url, config)
        if with_recommender:
            matrix = str(workspace / "interactions.npz")
            if stage("recommender_matrix", {**common, "matrix": matrix}).ok:
                for kind in RECOMMENDER_FITS:
                    stage("recommender_fit", {"matrix": matrix, "kind": kind, "factors": ALS_FACTORS,
                                              "iterations": ALS_ITERATIONS}, f"recommender:{kind}")
        _clv_fits(stage, common)
        _family_stages(stage, common, list(FAMILY_NAMES))
        # Last, as it repeats every stage above: a run cut short by --budget-min keeps the pieces.
        if config.dag_run:
            stage(DAG_RUN, common, stage_env=child_env(dag_home))
    finally:
        if not config.keep:
            shutil.rmtree(workspace, ignore_errors=True)


def _family_stages(stage, common: dict, families: list[str]) -> None:
    """Each family's features, train, promote and score, in FAMILY_NAMES order; a family stops at
    its first failed step."""
    for family in (name for name in FAMILY_NAMES if name in families):
        for step in ("family_features", "train", "promote", "score"):
            if not stage(step, {**common, "family": family}, f"{step.replace('family_', '')}:{family}").ok:
                break


def _clv_fits(stage, common: dict) -> None:
    """BG/NBD and Gamma-Gamma, this project's fit and lifetimes', on CDNOW and on this size's shop."""
    from benchmarks.clv_fits import DATASETS

    for dataset in DATASETS:
        stage(CLV_FITS, {**common, "dataset": dataset}, f"clv_fits:{dataset}")


def _mart_writes(stage, customers: int, as_of: str, workspace: Path, pg_url: str | None, config: BenchConfig) -> None:
    """One mart row per customer, written by this project's path and by pandas.to_sql, per warehouse."""
    targets = [("duckdb", f"duckdb:///{workspace / 'writes.duckdb'}")]
    if pg_url:
        targets.append(("postgres", pg_url))
    for dialect, url in targets:
        for method in ("project", "to_sql"):
            cap = config.duckdb_to_sql_max_rows if dialect == "duckdb" else config.to_sql_max_rows
            rows = customers if method == "project" else min(customers, cap)
            stage("write_mart", {"as_of": as_of, "rows": rows, "method": method, "url": url},
                  f"write:{dialect}:{method}")


def bench_command(argv: list[str] | None = None) -> str:
    """The command line as a person would retype it."""
    args = sys.argv[1:] if argv is None else argv
    return "python -m ml " + " ".join(args)
