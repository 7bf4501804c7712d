"""Small synthetic customer bases for the segmentation tests: groups of near-identical profiles."""
from __future__ import annotations

import numpy as np
import pandas as pd


def customers(profiles: list[dict], per_group: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for profile in profiles:
        for _ in range(per_group):
            rows.append({k: v * rng.uniform(0.9, 1.1) for k, v in profile.items()})
    return pd.DataFrame(rows)


LOYAL = dict(recency_days=7, frequency=40, monetary=9000, avg_order_value=220, tenure_days=600, distinct_products=80, return_rate=0.01)
LAPSED = dict(recency_days=400, frequency=2, monetary=60, avg_order_value=30, tenure_days=500, distinct_products=3, return_rate=0.2)
NEW = dict(recency_days=10, frequency=1, monetary=45, avg_order_value=45, tenure_days=20, distinct_products=2, return_rate=0.0)
AT_RISK = dict(recency_days=170, frequency=8, monetary=700, avg_order_value=90, tenure_days=400, distinct_products=15, return_rate=0.05)
