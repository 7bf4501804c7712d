"""A tiny synthetic shop for the propensity tests: heterogeneous buying rates and churn dates, so that
frequency and recency both carry signal, in a few hundred rows."""
from __future__ import annotations

import numpy as np
import pandas as pd


def make_shop(n_customers: int = 200, days: int = 540, seed: int = 0, start: str = "2024-01-01",
              with_events: bool = False) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start)
    rows, events = [], []
    for c in range(n_customers):
        cid = f"C{c:04d}"
        rate = rng.gamma(1.2, 1 / 45)  # orders per day, mean ~ 1 per 37 days
        first = rng.uniform(0, days * 0.6)
        stop = first + rng.exponential(days * 0.7)  # churn: no orders after this day
        t = first
        while True:
            t += rng.exponential(1 / rate)
            if t > min(stop, days):
                break
            ts = (t0 + pd.Timedelta(days=float(t))).floor("s")
            inv = f"I{c:04d}-{len(rows)}"
            for line in range(rng.integers(1, 4)):
                rows.append((inv, line, f"P{rng.integers(20):02d}", "item", int(rng.integers(1, 5)),
                             float(rng.choice([2.5, 5.0, 12.0])), ts, cid, "UK", False))
            if with_events:
                events.append((cid, f"P{rng.integers(20):02d}", "view", ts - pd.Timedelta(days=2)))
                events.append((cid, f"P{rng.integers(20):02d}", "cart", ts - pd.Timedelta(hours=3)))
            if rng.random() < 0.05:
                rows.append((f"C{inv}", 0, rows[-1][2], "item", -1, rows[-1][5], ts + pd.Timedelta(days=5),
                             cid, "UK", True))
    lines = pd.DataFrame(rows, columns=["invoice_id", "line_no", "product_id", "description", "quantity",
                                        "unit_price", "invoice_ts", "customer_id", "country", "is_return"])
    ev = pd.DataFrame(events, columns=["customer_id", "product_id", "event_type", "event_ts"]) if with_events else None
    return lines, ev
