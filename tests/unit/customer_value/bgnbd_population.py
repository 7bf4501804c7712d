"""Customers drawn from the BG/NBD + Gamma-Gamma process itself, observed to T and then over a holdout:
what a correct next-order probability or value interval must match (not what the shop generator makes)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def bgnbd_population(n: int, seed: int, *, observed_days: float = 365.0, holdout_days: float = 90.0,
                     r=0.8, alpha=60.0, a=0.8, b=3.0, p=6.0, q=4.0, gamma=30.0):
    """(summary with frequency/recency/T/monetary_value in days, days from T to the first holdout
    purchase (inf: none), spend in the holdout)."""
    rng = np.random.default_rng(seed)
    rate, dropout, nu = rng.gamma(r, 1 / alpha, n), rng.beta(a, b, n), rng.gamma(q, 1 / gamma, n)
    births = rng.uniform(0, observed_days * 0.8, n)
    end = observed_days + holdout_days
    rows, first, spend = [], np.full(n, np.inf), np.zeros(n)
    for i in range(n):
        times, t = [births[i]], births[i]
        while True:  # a customer drops out just after a repeat purchase, never after the first
            t += rng.exponential(1 / rate[i])
            if t > end:
                break
            times.append(t)
            if rng.random() < dropout[i]:
                break
        seen = [s for s in times if s <= observed_days]
        later = [s for s in times if s > observed_days]
        values = rng.gamma(p, 1 / nu[i], len(times))
        x = len(seen) - 1
        rows.append((x, seen[-1] - seen[0], observed_days - seen[0], values[1:len(seen)].mean() if x else 0.0))
        if later:
            first[i] = later[0] - observed_days
            spend[i] = values[len(seen):].sum()
    summary = pd.DataFrame(rows, columns=["frequency", "recency", "T", "monetary_value"])
    return summary, first, spend
