"""Random interaction frames and a strict matrix comparison, shared by the unit and warehouse tests."""

import datetime as dt

import numpy as np
import pandas as pd

AS_OF = dt.date(2024, 3, 1)



def random_interactions(seed: int, integer_ids: bool = False) -> pd.DataFrame:
    """Repeated pairs, missing ids and ids whose string order differs from their numeric or
    case order ("C10" < "C9", "Z" < "a"), in random row order."""
    rng = np.random.default_rng(seed)
    n = 600
    if integer_ids:
        customers = rng.choice([7, 10, 12346, 99, 100, 5], n).astype(object)
    else:
        customers = rng.choice(["C9", "C10", "C100", "c1", "Z", "a", "é", "C9 "], n).astype(object)
    products = rng.choice(["85123A", "22423", "POST", "9", "10", "b", "Ä"], n).astype(object)
    customers[rng.random(n) < 0.05] = None
    products[rng.random(n) < 0.05] = None
    days = rng.integers(0, 90, n)
    return pd.DataFrame({
        "customer_id": customers,
        "product_id": products,
        "weight": rng.integers(1, 16, n) / 4.0,  # exact in float32, so summation order cannot matter
        "last_purchase_date": [None if d > 80 else pd.Timestamp(AS_OF) - pd.Timedelta(days=int(d)) for d in days],
    })


def assert_same_matrix(got, want):
    assert got.users.tolist() == want.users.tolist() and got.items.tolist() == want.items.tolist()
    assert got.weights.has_canonical_format and got.weights.dtype == np.float32
    np.testing.assert_array_equal(got.weights.toarray(), want.weights.toarray())
    np.testing.assert_array_equal(got.recent.toarray(), want.recent.toarray())
