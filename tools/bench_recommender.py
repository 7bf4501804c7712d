"""Time ALS / item-cosine fits and batched ranking on random implicit feedback.

    python tools/bench_recommender.py [users] [items] [interactions]

Defaults: 150,000 users x 10,000 items x 3,000,000 draws (about 2M distinct pairs after
de-duplication; item draws are Zipf-skewed like real sales).
"""
import resource
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml.recommend.config import RecommenderConfig  # noqa: E402
from ml.recommend.evaluation import recommend_rows  # noqa: E402
from ml.recommend.interactions import InteractionMatrix  # noqa: E402
from ml.recommend.models import fit_model  # noqa: E402


def main(n_users: int = 150_000, n_items: int = 10_000, draws: int = 3_000_000) -> None:
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
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"peak RSS {peak} MiB")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:4]))
