"""Run ValueFlow's DAGs in dependency order with `dag.test()` — what `airflow dags test` does — in one
process, so the demo pays Airflow's start-up once instead of once per DAG.

Usage: python tools/run_dags.py [--keep-going] '<json conf per dag_id>' dag_id [dag_id ...]
Exit status 1 if any DAG run does not succeed; later DAGs are then not run, unless --keep-going (the
quality report measures every family that could run, and names the ones that failed). A failed
`ingest_orders` always stops the run: nothing downstream has an export to work on.

The DAGs after `ingest_orders` get the as-of date that ingest published (unless their conf names
one), never "the newest date ever ingested": a run on an older export than the last one must train
and score for its own date.
"""
from __future__ import annotations

import json
import sys
import time

INGEST_DAG = "ingest_orders"


def published_as_of(ingest_run_id: str) -> str:
    """The as-of date the ingest run `ingest_run_id` published (ops.ingest_runs)."""
    from ml import catalog
    from ml.sql import sql_literal
    from ml.warehouse import connect

    with connect() as wh:
        value = wh.scalar(f"SELECT max(as_of_date) FROM {catalog.INGEST_RUNS} WHERE run_id = {sql_literal(ingest_run_id)}")
    if value is None:
        raise LookupError(f"ingest run {ingest_run_id} succeeded but published no as-of date in {catalog.INGEST_RUNS}")
    return str(value)[:10]


def pin_as_of(confs: dict, dag_ids: list[str], as_of: str) -> None:
    """Give every DAG after ingest the ingest's as-of date, unless its conf already names one."""
    for dag_id in dag_ids:
        if dag_id != INGEST_DAG and not (confs.setdefault(dag_id, {}).get("as_of")):
            confs[dag_id]["as_of"] = as_of
    print(f"[valueflow] as-of date of this run: {as_of}", flush=True)
    from ml import run_journal

    run_journal.as_of_chosen(as_of)


def main(argv: list[str]) -> int:
    from airflow.dag_processing.dagbag import DagBag

    from ml import run_journal

    keep_going = bool(argv) and argv[0] == "--keep-going"
    argv = argv[1:] if keep_going else argv
    confs = json.loads(argv[0])
    failed = []
    bag = DagBag()
    if bag.import_errors:
        for path, error in bag.import_errors.items():
            print(f"DAG import error in {path}:\n{error}", file=sys.stderr)
        return 1
    dag_ids = argv[1:]
    unknown = [dag_id for dag_id in dag_ids if bag.get_dag(dag_id) is None]
    if unknown:
        print(f"no DAG {unknown[0]!r}; known: {sorted(bag.dag_ids)}", file=sys.stderr)
        return 1
    run_journal.plan({dag_id: list(bag.get_dag(dag_id).task_ids) for dag_id in dag_ids})
    for position, dag_id in enumerate(dag_ids):
        dag = bag.get_dag(dag_id)
        run_journal.dag_started(dag_id)
        started = time.monotonic()
        run = dag.test(run_conf=confs.get(dag_id, {}))
        state = str(getattr(run, "state", "unknown"))
        print(f"[valueflow] {dag_id}: {state} in {time.monotonic() - started:.1f}s", flush=True)
        run_journal.dag_finished(dag_id, state, time.monotonic() - started)
        if not state.endswith("success"):
            if not keep_going or dag_id == INGEST_DAG:
                run_journal.not_run(dag_ids[position + 1:])
                return 1
            failed.append(dag_id)
        elif dag_id == INGEST_DAG:
            pin_as_of(confs, argv[1:], published_as_of(run.run_id))
    if failed:
        print(f"[valueflow] failed: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
