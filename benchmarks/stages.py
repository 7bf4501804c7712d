"""The benchmark's stages, each run in its own child process by `benchmarks.measure.run_stage`.

Usage (what the runner does): python -m benchmarks.stages <stage> <args.json> <result.json>

A stage reads its arguments, does its setup untimed, times only its operation with
`measure.timed`, and writes {"wall_s", "cpu_s", "info"} to the result file. The warehouse, MLflow
store and state folder come from the environment the runner gives the child (VALUEFLOW_HOME,
AIRFLOW_CONN_WAREHOUSE, MLFLOW_TRACKING_URI), exactly as for the DAGs.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks.measure import timed

BENCH_RUN_ID = "benchmark"
MART_BATCH_ROWS = 50_000  # what the families stream their marts in
WRITE_TABLE = "bench_mart_writes"


def _as_of(args: dict) -> dt.date:
    return dt.date.fromisoformat(args["as_of"])


# -- backbone stages ----------------------------------------------------------------------------
def generate(args: dict) -> dict:
    from ml.generate import ShopSpec, write_shop

    out: dict = {}
    with timed(out):
        out["info"] = write_shop(ShopSpec(customers=int(args["customers"]), seed=int(args["seed"])), Path(args["shop"]))
    return out


def ingest(args: dict) -> dict:
    from ml import ingest as ingest_module
    from ml.warehouse import connect

    out: dict = {}
    with connect() as wh, timed(out):
        out["info"] = ingest_module.stage_source(wh, Path(args["shop"])).rows
    return out


def validate(args: dict) -> dict:
    from ml import validation
    from ml.warehouse import connect

    out: dict = {}
    with connect() as wh, timed(out):
        outcomes = validation.validate_staged(wh, _as_of(args), BENCH_RUN_ID)
    out["info"] = {"suites": [o.suite for o in outcomes], "expectations": sum(o.evaluated for o in outcomes)}
    return out


def publish(args: dict) -> dict:
    from ml import ingest as ingest_module
    from ml.warehouse import connect

    out: dict = {}
    with connect() as wh, timed(out):
        out["info"] = ingest_module.publish_staged(wh)
    return out


def features_sql(args: dict) -> dict:
    from ml import features
    from ml.warehouse import connect

    out: dict = {}
    with connect() as wh, timed(out):
        out["info"] = {"rows": features.build_user_features(wh, _as_of(args))}
    return out


def features_pandas(args: dict) -> dict:
    from benchmarks import pandas_features
    from ml.warehouse import connect

    out: dict = {}
    info: dict = {}
    as_of = _as_of(args)
    with connect() as wh, timed(out):
        with timed(info, "read_"):
            raw = pandas_features.read_raw_tables(wh, as_of)
        with timed(info, "compute_"):
            frame = pandas_features.compute_user_features(raw["order_lines"], raw["products"], raw["events"], as_of)
    info["rows"] = len(frame)
    out["info"] = info
    return out


# -- model families -------------------------------------------------------------------------------
def family_features(args: dict) -> dict:
    from ml.families import load_family
    from ml.warehouse import connect

    family = load_family(args["family"])
    out: dict = {}
    with connect() as wh, timed(out):
        out["info"] = {"tables": family.build_features(wh, _as_of(args))}
    return out


def train(args: dict) -> dict:
    from ml.families import load_family
    from ml.warehouse import connect

    family = load_family(args["family"])
    out: dict = {}
    with connect() as wh, timed(out):
        ref = family.train(wh, _as_of(args))
    out["info"] = {"model": ref.name, "version": ref.version}
    return out


def promote(args: dict) -> dict:
    from ml import promotion
    from ml.families import load_family
    from ml.warehouse import connect

    family = load_family(args["family"])
    out: dict = {}
    with connect() as wh, timed(out):
        decision = promotion.promote_challenger(wh, family, _as_of(args), BENCH_RUN_ID)
    out["info"] = {"promoted": bool(decision.promote)}
    return out


def score(args: dict) -> dict:
    """Score with the champion, or with the challenger when the policy kept it out: the cost is the same."""
    from ml import registry
    from ml.families import load_family
    from ml.warehouse import connect

    family = load_family(args["family"])
    alias = registry.CHAMPION
    model = registry.get_alias(family.name, alias)
    if model is None:
        alias = registry.CHALLENGER
        model = registry.get_alias(family.name, alias)
    if model is None:
        raise LookupError(f"{family.name} has neither a champion nor a challenger to score with")
    out: dict = {}
    with connect() as wh, timed(out):
        rows = family.score(wh, _as_of(args), model)
    out["info"] = {"rows": rows, "mart": family.mart, "alias": alias}
    return out


# -- mart writes: this project's path vs pandas.to_sql ------------------------------------------
def mart_frame(rows: int, as_of: dt.date):
    """A mart-shaped frame: one row per customer with a segment and the lineage every mart carries."""
    import numpy as np
    import pandas as pd

    from ml import marts
    from ml.families.base import ModelRef

    names = np.array(["lapsed", "at risk", "new", "high-value loyal", "loyal regulars", "occasional"])
    position = np.arange(rows)
    frame = pd.DataFrame({"customer_id": (12000 + position).astype(str), "segment_id": position % 6,
                          "segment_name": names[position % 6]})
    model = ModelRef("benchmark", "1", "0" * 32)
    return frame, model, marts.with_lineage(frame, as_of, model, pd.Timestamp("2026-01-01 00:00:00"))


def write_mart(args: dict) -> dict:
    """Write `rows` mart rows with `method` ("project" or "to_sql") into `url` (DuckDB or PostgreSQL)."""
    from ml.warehouse import Warehouse

    as_of, rows, method, url = _as_of(args), int(args["rows"]), args["method"], args["url"]
    frame, model, with_lineage = mart_frame(rows, as_of)
    out: dict = {}
    with Warehouse(url) as wh:
        wh.ensure_schemas()
        wh.execute(f"DROP TABLE IF EXISTS marts.{WRITE_TABLE}")
        if method == "project":
            from ml import marts

            chunks = (frame.iloc[start:start + MART_BATCH_ROWS] for start in range(0, rows, MART_BATCH_ROWS))
            with timed(out):
                written = marts.write_mart(wh, f"marts.{WRITE_TABLE}", chunks, as_of, model)
        elif method == "to_sql":
            written = _to_sql(wh, with_lineage, out)
        else:
            raise ValueError(f"unknown write method {method!r}")
        stored = wh.row_count(f"marts.{WRITE_TABLE}")
        wh.execute(f"DROP TABLE IF EXISTS marts.{WRITE_TABLE}")
    if stored != rows:
        raise AssertionError(f"{method} wrote {written} rows but the table holds {stored}, expected {rows}")
    out["info"] = {"rows": rows, "rows_per_s": round(rows / max(out["wall_s"], 1e-9), 1), "method": method,
                   "dialect": wh.dialect}
    return out


def _to_sql(wh, frame, out: dict) -> int:
    """What a notebook does: `DataFrame.to_sql(..., if_exists="append")` with pandas' defaults.

    PostgreSQL through SQLAlchemy and psycopg2 (pandas' documented route). DuckDB through its own
    DBAPI connection, which pandas drives like sqlite3 (duckdb-engine is not installed); DuckDB
    cannot take a schema that way, so the table is written under `main` and moved afterwards.
    """
    import warnings

    if wh.dialect == "postgres":
        import sqlalchemy

        engine = sqlalchemy.create_engine("postgresql+psycopg2://" + wh.location.target.split("://", 1)[1])
        try:
            with timed(out):
                written = frame.to_sql(WRITE_TABLE, engine, schema="marts", if_exists="append", index=False)
        finally:
            engine.dispose()
        return written
    wh.execute(f"DROP TABLE IF EXISTS main.{WRITE_TABLE}")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pandas only supports SQLAlchemy")
        with timed(out):
            written = frame.to_sql(WRITE_TABLE, wh._con, if_exists="append", index=False)
    wh.execute(f"CREATE TABLE marts.{WRITE_TABLE} AS SELECT * FROM main.{WRITE_TABLE}")
    wh.execute(f"DROP TABLE main.{WRITE_TABLE}")
    return written


# -- recommender: this project's ALS vs implicit's reference settings vs item-item cosine ---------
BENCH_INTERACTIONS = "features.bench_interactions"


def recommender_matrix(args: dict) -> dict:
    """Build the recommender's user x item matrix from the warehouse and save it for the fits."""
    import scipy.sparse as sp

    from ml.data import has_events
    from ml.families.recommender.config import RecommenderConfig
    from ml.families.recommender.features import interactions_sql
    from ml.families.recommender.interactions import read_matrix
    from ml.warehouse import connect

    config = RecommenderConfig()
    as_of = _as_of(args)
    out: dict = {}
    # as the family does: the SQL aggregates in the warehouse, the matrix is streamed out of a table
    with connect() as wh, timed(out):
        wh.execute("CREATE SCHEMA IF NOT EXISTS features")
        wh.execute(f"DROP TABLE IF EXISTS {BENCH_INTERACTIONS}")
        wh.execute(f"CREATE TABLE {BENCH_INTERACTIONS} AS {interactions_sql(as_of, config, has_events(wh))}")
        matrix = read_matrix(wh, BENCH_INTERACTIONS, "TRUE", as_of, config)
        wh.execute(f"DROP TABLE {BENCH_INTERACTIONS}")
    sp.save_npz(args["matrix"], matrix.weights.tocsr())
    out["info"] = {"users": int(matrix.shape[0]), "items": int(matrix.shape[1]), "nnz": int(matrix.weights.nnz)}
    return out


def recommender_fit(args: dict) -> dict:
    """Fit one recommender on the saved matrix: `als` and `item_cosine` as this project fits them,
    `implicit_reference` as implicit's README does (its defaults, same factors and iterations)."""
    import numpy as np
    import scipy.sparse as sp

    weights = sp.load_npz(args["matrix"]).tocsr().astype(np.float32)
    factors, iterations, kind = int(args["factors"]), int(args["iterations"]), args["kind"]
    out: dict = {}
    if kind == "implicit_reference":
        from implicit.als import AlternatingLeastSquares

        model = AlternatingLeastSquares(factors=factors, iterations=iterations, random_state=42)
        with timed(out):
            model.fit(weights, show_progress=False)
        out["info"] = {"factors": factors, "iterations": iterations, "regularization": model.regularization,
                       "alpha": float(getattr(model, "alpha", 1.0)), "threads": "implicit default (all cores)"}
        return out
    from ml.families.recommender.candidates import fit_model
    from ml.families.recommender.config import RecommenderConfig
    from ml.families.recommender.interactions import InteractionMatrix

    config = RecommenderConfig()
    ids = np.arange(weights.shape[0]).astype(str).astype(object), np.arange(weights.shape[1]).astype(str).astype(object)
    matrix = InteractionMatrix(users=ids[0], items=ids[1], weights=weights, recent=sp.csr_matrix(weights.shape, dtype=np.float32))
    params = {"factors": factors, "iterations": iterations} if kind == "als" else None
    with timed(out):
        fitted = fit_model(kind, matrix, config, params)
    out["info"] = {"params": {k: v for k, v in fitted.params.items()}, "threads": config.threads}
    return out


# -- customer value: this project's BG/NBD and Gamma-Gamma fits against lifetimes' ------------------
def clv_fits(args: dict) -> dict:
    """Both fits by both implementations on one set of summaries (CDNOW, or the shop's customers)."""
    from benchmarks import clv_fits as fits

    summary = fits.summaries(args["dataset"], args.get("shop"), args.get("as_of"))
    out: dict = {}
    with timed(out):
        out["info"] = {"dataset": args["dataset"], **fits.compare(summary)}
    return out


# -- the whole pipeline under Airflow ---------------------------------------------------------------
def dag_run(args: dict) -> dict:
    from ml import pipeline

    out: dict = {}
    with timed(out):
        status = pipeline.run_pipeline(args["shop"], args["as_of"])
    if status != 0:
        raise RuntimeError(f"the DAG run failed with exit status {status}")
    out["info"] = {"dags": pipeline.pipeline_dag_ids(), "tasks": task_durations(pipeline.airflow_env())}
    return out


def task_durations(airflow_env: dict[str, str]) -> dict[str, float]:
    """Seconds per `dag_id.task_id` of the run, from Airflow's metadata database (SQLite here)."""
    import sqlite3

    url = airflow_env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if not url.startswith("sqlite:///"):
        return {}
    with contextlib.closing(sqlite3.connect(url[len("sqlite:///"):])) as db:
        rows = db.execute("SELECT dag_id, task_id, duration FROM task_instance ORDER BY start_date").fetchall()
    return {f"{dag_id}.{task_id}": round(float(duration or 0.0), 2) for dag_id, task_id, duration in rows}


STAGES: dict[str, Callable[[dict], dict]] = {
    "generate": generate, "ingest": ingest, "validate": validate, "publish": publish,
    "features_sql": features_sql, "features_pandas": features_pandas,
    "family_features": family_features, "train": train, "promote": promote, "score": score,
    "write_mart": write_mart, "recommender_matrix": recommender_matrix, "recommender_fit": recommender_fit,
    "clv_fits": clv_fits, "dag_run": dag_run,
}


def main(argv: list[str]) -> int:
    stage, args_path, result_path = argv
    result = STAGES[stage](json.loads(Path(args_path).read_text()))
    Path(result_path).write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
