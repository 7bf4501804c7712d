"""TSB (Teunter-Syntetos-Babai) forecasts for intermittent demand, at every origin of a panel at once.

Written here rather than taken from `statsforecast` (its `TSB`/`CrostonSBA`), which is not a pinned
dependency: the recursion is ten lines, and run over the dense product x week matrix it gives the
forecast at every origin in one pass, which the rolling backtest and the training frames need
(statsforecast fits one series at one origin per call). TSB rather than Croston/SBA because it
updates the demand probability every week, so a product that stopped selling decays to zero instead
of keeping its last rate forever (Croston only updates when a sale happens).

  p <- p + beta  * (1[y > 0] - p)          every week
  z <- z + alpha * (y - z)                 only in weeks with a sale
  forecast = p * z                          for every week of the horizon
"""
from __future__ import annotations

import numpy as np

ALPHA = 0.1  # demand-size smoothing (statsforecast's and the literature's usual value)
BETA = 0.1  # demand-probability smoothing


def tsb_by_origin(units: np.ndarray, first_idx: np.ndarray, alpha: float = ALPHA, beta: float = BETA) -> np.ndarray:
    """(products x weeks+1) array: column t is the TSB forecast from weeks < t (0 before a product's first week).

    A product starts at its first week with z = that week's units and p = 1 (it sold that week by
    construction of the panel); net returns (negative weeks) count as no sale and leave z unchanged.
    """
    if not (0 < alpha <= 1 and 0 < beta <= 1):
        raise ValueError(f"TSB smoothing constants must be in (0, 1], not alpha={alpha}, beta={beta}")
    n, weeks = units.shape
    out = np.zeros((n, weeks + 1))
    p, z = np.zeros(n), np.zeros(n)
    for j in range(weeks):
        y = units[:, j]
        started = first_idx == j
        p[started], z[started] = 1.0, np.clip(y[started], 0.0, None)
        live = first_idx < j
        sold = live & (y > 0)
        p[live] += beta * (sold[live] - p[live])
        z[sold] += alpha * (y[sold] - z[sold])
        out[:, j + 1] = np.where(first_idx <= j, p * z, 0.0)
    return out
