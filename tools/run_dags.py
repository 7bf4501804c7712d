"""Run ValueFlow's DAGs in dependency order with `dag.test()` — what `airflow dags test` does — in one
process, so the demo pays Airflow's start-up once instead of once per DAG.

Usage: python tools/run_dags.py [--keep-going] '<json conf per dag_id>' dag_id [dag_id ...]
Exit status 1 if any DAG run does not succeed; later DAGs are then not run, unless --keep-going (the
quality report measures every family that could run, and names the ones that failed).
"""
from __future__ import annotations

import json
import sys
import time


def main(argv: list[str]) -> int:
    from airflow.dag_processing.dagbag import DagBag

    keep_going = bool(argv) and argv[0] == "--keep-going"
    argv = argv[1:] if keep_going else argv
    confs = json.loads(argv[0])
    failed = []
    bag = DagBag()
    if bag.import_errors:
        for path, error in bag.import_errors.items():
            print(f"DAG import error in {path}:\n{error}", file=sys.stderr)
        return 1
    for dag_id in argv[1:]:
        dag = bag.get_dag(dag_id)
        if dag is None:
            print(f"no DAG {dag_id!r}; known: {sorted(bag.dag_ids)}", file=sys.stderr)
            return 1
        started = time.monotonic()
        run = dag.test(run_conf=confs.get(dag_id, {}))
        state = str(getattr(run, "state", "unknown"))
        print(f"[valueflow] {dag_id}: {state} in {time.monotonic() - started:.1f}s", flush=True)
        if not state.endswith("success"):
            if not keep_going:
                return 1
            failed.append(dag_id)
    if failed:
        print(f"[valueflow] failed: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
