"""Small synthetic customer histories for the customer-value tests."""
import numpy as np
import pandas as pd

END = pd.Timestamp("2024-01-01")


def make_transactions(n_customers: int = 120, seed: int = 7) -> pd.DataFrame:
    """Customers with their own purchase rate, order value and dropout day over two years."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_customers):
        rate = rng.gamma(1.0, 1 / 30)  # purchases per day
        value = rng.gamma(4.0, 10.0)
        start = rng.integers(0, 500)
        stop = start + rng.exponential(400)
        days = np.flatnonzero(rng.random(730) < rate)
        days = np.unique(np.concatenate([[start], days[(days > start) & (days < stop)]]))
        for d in days:
            rows.append((f"c{i:03d}", END - pd.Timedelta(days=730 - int(d)), float(value * rng.gamma(5.0, 0.2))))
    return pd.DataFrame(rows, columns=["customer_id", "day", "value"])
