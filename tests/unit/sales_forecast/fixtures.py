"""Tiny synthetic weekly panels and order lines for the sales forecast tests."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd


def synthetic_panel(n_products: int = 24, n_weeks: int = 130, seed: int = 7, start: str = "2022-01-03") -> pd.DataFrame:
    """Products with a yearly season, a Christmas bump, trends and Poisson noise.

    Products 0, 6, 12 and 18 launch late (weeks 36, 34, 20, 60); every 4th product has no category.
    """
    rng = np.random.default_rng(seed)
    weeks = pd.date_range(start, periods=n_weeks, freq="7D")
    woy = weeks.isocalendar().week.to_numpy(dtype=float)
    rows = []
    for i in range(n_products):
        level = rng.uniform(3, 40)
        amp = rng.uniform(0.2, 0.8)
        phase = rng.uniform(0, 2 * np.pi)
        trend = rng.uniform(-0.003, 0.006)
        launch = {0: 36, 6: 34, 12: 20, 18: 60}.get(i, 0) if n_weeks > 60 else 0  # late launches
        price = rng.uniform(1, 10)
        mean = level * (1 + amp * np.sin(2 * np.pi * woy / 52 + phase)) * np.exp(trend * np.arange(n_weeks))
        mean = mean * np.where((woy >= 46) & (woy <= 51), 1.6, 1.0)
        units = rng.poisson(np.clip(mean, 0.1, None)).astype(float)
        for j in range(launch, n_weeks):
            rows.append(
                {
                    "product_id": f"P{i:03d}",
                    "week_start": weeks[j],
                    "units": units[j],
                    "gross_units": units[j],
                    "gross_revenue": units[j] * price,
                    "n_buyers": int(units[j] // 2),
                    "n_lines": int(units[j] > 0),
                    "category": None if i % 4 == 0 else f"cat{i % 3}",
                }
            )
    return pd.DataFrame(rows)


def order_lines(rows: list[tuple]) -> pd.DataFrame:
    """Order lines from (invoice_id, product_id, quantity, unit_price, 'YYYY-MM-DD HH:MM', customer_id)."""
    frame = pd.DataFrame(rows, columns=["invoice_id", "product_id", "quantity", "unit_price", "invoice_ts", "customer_id"])
    frame["line_no"] = range(1, len(frame) + 1)
    frame["description"] = "item"
    frame["invoice_ts"] = pd.to_datetime(frame["invoice_ts"])
    frame["country"] = "UK"
    frame["is_return"] = frame["quantity"] < 0
    return frame


D = dt.date
