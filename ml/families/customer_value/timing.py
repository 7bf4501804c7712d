"""When will a customer order next? BG/NBD's answer in closed form, and the analyst's baseline.

Under BG/NBD a customer drops out only just after a purchase, so one who buys nothing in (T, T + t]
is still alive through it. Given (x, t_x, T): alive with probability P(alive), and then the rate is
lambda | data ~ Gamma(r + x, alpha + T), so

    P(no order in (T, T + t]) = 1 - P(alive) + P(alive) * ((alpha + T) / (alpha + T + t)) ** (r + x).

P(order within t) rises towards P(alive) as t grows; the expected next order date is the day by which
an order is as likely as not (the median wait), which exists only where P(alive) > 1/2: a customer
more likely gone than not gets no date. The baseline is what an analyst writes in SQL: last order
plus the customer's mean gap between orders (the shop's median gap for one-time buyers), never
before the as-of date.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ml.families.customer_value import bgnbd
from ml.families.customer_value.bgnbd import BGNBDParams
from ml.sql import require_columns

ORDER_WITHIN_DAYS = (30, 60, 90)


def p_order_within(params: BGNBDParams, t, x, t_x, T) -> np.ndarray:
    """P(at least one purchase in (T, T + t] | x, t_x, T), t in the model's time unit."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    t = np.broadcast_to(np.asarray(t, dtype=float), x.shape)
    if np.any(t < 0):
        raise ValueError("horizon t must be >= 0")
    alive = bgnbd.probability_alive(params, x, t_x, T)
    quiet_if_alive = np.exp((params.r + x) * (np.log(params.alpha + T) - np.log(params.alpha + T + t)))
    return alive * (1.0 - quiet_if_alive)


def median_wait(params: BGNBDParams, x, t_x, T) -> np.ndarray:
    """The t at which P(order within t) = 1/2 (model time units); NaN where P(alive) <= 1/2."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    alive = bgnbd.probability_alive(params, x, t_x, T)
    defined = alive > 0.5
    quiet = np.where(defined, 1.0 - 0.5 / np.where(defined, alive, 1.0), 1.0)  # in (0, 1) where defined
    wait = (params.alpha + T) * (np.exp(-np.log(quiet) / (params.r + x)) - 1.0)
    return np.where(defined, wait, np.nan)


def predict_timing(params: BGNBDParams, summary: pd.DataFrame, *, time_unit_days: float = 1.0,
                   within_days=ORDER_WITHIN_DAYS) -> pd.DataFrame:
    """Per customer of a BG/NBD summary (frequency, recency, T in days): `days_to_next_order` from
    the cutoff (NaN: more likely gone than not) and `p_order_<d>d`, the probability of an order in
    [cutoff, cutoff + d days) for each d of `within_days`, indexed like it."""
    require_columns(summary, ("frequency", "recency", "T"), "customer summary")
    x, t_x, T = (summary[c].to_numpy(dtype=float) / (1.0 if c == "frequency" else time_unit_days)
                 for c in ("frequency", "recency", "T"))
    # T ends on the cutoff's last day, so a wait of t days lands t - 1 days after the cutoff
    out = {"days_to_next_order": np.maximum(median_wait(params, x, t_x, T) * time_unit_days - 1.0, 0.0)}
    for days in within_days:
        out[f"p_order_{days}d"] = p_order_within(params, days / time_unit_days, x, t_x, T)
    return pd.DataFrame(out, index=summary.index)


def mean_gap_baseline(features: pd.DataFrame) -> np.ndarray:
    """Days from the cutoff to "last order + the customer's mean gap", at least 0 (overdue is due now).

    Reads the customer features (`days_since_last`, `recency_days`, `frequency`: repeat purchase
    days); one-time buyers get the median mean-gap of the repeat buyers, or NaN where there are none."""
    require_columns(features, ("days_since_last", "recency_days", "frequency"), "customer features")
    repeats = features["frequency"].to_numpy(dtype=float)
    gap = np.where(repeats > 0, features["recency_days"].to_numpy(dtype=float) / np.maximum(repeats, 1.0), np.nan)
    shop_gap = np.nanmedian(gap) if np.any(repeats > 0) else np.nan
    gap = np.where(np.isnan(gap), shop_gap, gap)
    # days_since_last counts from the cutoff's last day, so the next day after the cutoff is wait 0
    return np.maximum(gap - features["days_since_last"].to_numpy(dtype=float) - 1.0, 0.0)
