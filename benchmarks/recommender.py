"""Time the recommender: model fits and ranking on random feedback, or the data preparation on a
generated shop.

    python -m benchmarks.recommender [users] [items] [interactions]
        ALS / item-cosine fits and batched ranking on random implicit feedback. Defaults: 150,000
        users x 10,000 items x 3,000,000 draws (about 2M distinct pairs after de-duplication; item
        draws are Zipf-skewed like real sales).

    python -m benchmarks.recommender load SHOP WAREHOUSE
        Untimed setup: ingest a shop (`python -m ml generate --customers N --out SHOP`) into the
        DuckDB file WAREHOUSE and write the family's interaction partitions.
    python -m benchmarks.recommender matrix WAREHOUSE [--save FILE | --check FILE]
        The benchmark's `recommender_matrix` stage: interaction SQL, then `build_matrix`.
    python -m benchmarks.recommender prep WAREHOUSE [--save FILE | --check FILE]
        The recommender family's training inputs (`training_data`: two splits, final matrix).
    python -m benchmarks.recommender train WAREHOUSE
        The family's whole `train` (inputs, ALS tuning, baselines, refit, MLflow logging), into a
        throw-away MLflow store next to WAREHOUSE unless MLFLOW_TRACKING_URI is set; --save and
        --check cover every metric the run logged.

`matrix`, `prep` and `train` print wall and CPU seconds (this process's threads and children) and the
process's peak RSS; run one per process so the peak is that step's. `--save` writes the result,
`--check` fails unless the result is identical to a saved one (ids, order, every stored value).
"""
import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ml.families.recommender.candidates import fit_model, recommend_rows
from ml.families.recommender.config import RecommenderConfig
from ml.families.recommender.interactions import InteractionMatrix


def peak_rss_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def fits(n_users: int = 150_000, n_items: int = 10_000, draws: int = 3_000_000) -> None:
    rng = np.random.default_rng(0)
    rows = rng.integers(0, n_users, draws)
    cols = rng.zipf(1.3, draws) % n_items
    weights = sp.csr_matrix((rng.random(draws).astype(np.float32) + 0.1, (rows, cols)), shape=(n_users, n_items))
    weights.sum_duplicates()
    ids = lambda n: np.arange(n).astype(str).astype(object)  # noqa: E731
    matrix = InteractionMatrix(ids(n_users), ids(n_items), weights, weights.copy())
    config = RecommenderConfig()
    print(f"{n_users} users x {n_items} items, {weights.nnz} interactions, {config.threads} threads")
    for kind, params in [("als", {"factors": 64, "iterations": 15}), ("item_cosine", None)]:
        start = time.perf_counter()
        model = fit_model(kind, matrix, config, params)
        print(f"fit {kind} {params or ''}: {time.perf_counter() - start:.1f} s", flush=True)
        start = time.perf_counter()
        for _ in recommend_rows(model, matrix, np.arange(n_users), config):
            pass
        print(f"rank all users with {kind}: {time.perf_counter() - start:.1f} s", flush=True)
    print(f"peak RSS {peak_rss_mib()} MiB")


# -- data preparation on a generated shop ---------------------------------------------------------
def _warehouse(path: str):
    from ml.warehouse import connect

    return connect(f"duckdb:///{Path(path).resolve()}")


def _as_of(wh):
    from ml.ingest import default_as_of

    return default_as_of(wh.scalar("SELECT MAX(invoice_ts) FROM raw.order_lines"))


def load(shop: str, warehouse: str) -> None:
    from ml import ingest
    from ml.families.recommender.features import build_features

    start = time.perf_counter()
    with _warehouse(warehouse) as wh:
        ingest.stage_source(wh, Path(shop))
        ingest.publish_staged(wh)
        build_features(wh, _as_of(wh))
        print(f"loaded {shop} into {warehouse} (as of {_as_of(wh)}) in {time.perf_counter() - start:.1f} s")


def matrix_step(wh, as_of, timings: dict) -> dict[str, np.ndarray]:
    from benchmarks.measure import timed
    from ml.data import has_events
    from ml.families.recommender.features import interactions_sql
    from ml.families.recommender.interactions import build_matrix

    config = RecommenderConfig()
    with timed(timings, "query_"):
        frame = wh.query(interactions_sql(as_of, config, has_events(wh)))
    with timed(timings, "build_"):
        matrix = build_matrix(frame, as_of, config)
    return _matrix_arrays("", matrix)


def prep_step(wh, as_of, timings: dict) -> dict[str, np.ndarray]:
    from benchmarks.measure import timed
    from ml.families.recommender.train import training_data

    with timed(timings, "prep_"):
        data = training_data(wh, as_of, RecommenderConfig())
        validation, test, (final, final_allowed) = data.validation(), data.test(), data.final()
    arrays = {"final.allowed": final_allowed, **_matrix_arrays("final.", final)}
    for name, split in (("validation.", validation), ("test.", test)):
        arrays |= _matrix_arrays(name, split.train) | _sparse_arrays(name + "relevance.", split.relevance)
        arrays[name + "allowed"] = split.allowed
    return arrays


def train_step(wh, as_of, timings: dict) -> dict[str, np.ndarray]:
    import os
    import tempfile

    from benchmarks.measure import timed
    from ml.families.recommender.train import train

    state = tempfile.mkdtemp(prefix="bench-recommender-", dir=Path(wh.location.target).parent)
    os.environ.setdefault("VALUEFLOW_HOME", state)  # the model registry writes nothing into the repo
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{state}/mlflow.db")
    with timed(timings, "train_"):
        ref = train(wh, as_of)
    import mlflow

    # Every metric the run logged (validation and test, every candidate), so --check compares quality.
    metrics = mlflow.get_run(ref.run_id).data.metrics
    print(f"winner {mlflow.get_run(ref.run_id).data.params['winner']}: ndcg_at_10 {metrics['ndcg_at_10']:.6f}")
    return {f"metric.{name}": np.asarray(value) for name, value in sorted(metrics.items())}


def _sparse_arrays(prefix: str, matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    matrix = matrix.tocsr()
    matrix.sort_indices()  # the same matrix always compares equal, however it was assembled
    shape = np.asarray(matrix.shape, dtype=np.int64)
    return {f"{prefix}{key}": value for key, value in
            (("shape", shape), ("indptr", matrix.indptr), ("indices", matrix.indices), ("data", matrix.data))}


def _matrix_arrays(prefix: str, matrix: InteractionMatrix) -> dict[str, np.ndarray]:
    return {
        f"{prefix}users": np.asarray(matrix.users, dtype=str),
        f"{prefix}items": np.asarray(matrix.items, dtype=str),
        **_sparse_arrays(prefix + "weights.", matrix.weights),
        **_sparse_arrays(prefix + "recent.", matrix.recent),
    }


def _check(arrays: dict[str, np.ndarray], saved_path: str) -> None:
    saved = np.load(saved_path)
    differ = sorted(set(saved.files) ^ set(arrays))
    differ += [key for key in saved.files if key in arrays and not np.array_equal(saved[key], arrays[key])]
    if differ:
        raise SystemExit(f"differs from {saved_path}: {differ}")
    print(f"identical to {saved_path} ({len(arrays)} arrays)")


def prepare(step: str, warehouse: str, save: str | None, check: str | None) -> None:
    timings: dict = {}
    with _warehouse(warehouse) as wh:
        arrays = STEPS[step](wh, _as_of(wh), timings)
    phases = sorted({key.rsplit("_", 2)[0] for key in timings})
    print(f"{step} {warehouse}: " + ", ".join(
        f"{phase} wall {timings[phase + '_wall_s']:.2f} s cpu {timings[phase + '_cpu_s']:.2f} s" for phase in phases
    ) + f"; peak RSS {peak_rss_mib()} MiB")
    if "users" in arrays:
        print(f"{len(arrays['users'])} users x {len(arrays['items'])} items, {len(arrays['weights.data'])} non-zeros")
    if save:
        np.savez(save, **arrays)
    if check:
        _check(arrays, check)


STEPS = {"matrix": matrix_step, "prep": prep_step, "train": train_step}


def main(argv: list[str]) -> None:
    if not argv or argv[0].isdigit():
        fits(*(int(a) for a in argv[:3]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = parser.add_subparsers(dest="step", required=True)
    loader = steps.add_parser("load")
    loader.add_argument("shop")
    loader.add_argument("warehouse")
    for step in STEPS:
        sub = steps.add_parser(step)
        sub.add_argument("warehouse")
        sub.add_argument("--save")
        sub.add_argument("--check")
    args = parser.parse_args(argv)
    if args.step == "load":
        load(args.shop, args.warehouse)
    else:
        prepare(args.step, args.warehouse, args.save, args.check)


if __name__ == "__main__":
    main(sys.argv[1:])
