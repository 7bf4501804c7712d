"""Lags, rolling means and the other features of a product at a forecast origin, for each week of the
horizon (direct multi-horizon), computed in memory from the dense `PanelMatrix` (the warehouse table
they come from is written by `features`).

Every origin feature reads only weeks strictly before the origin index `t`; the horizon features
(`seasonal_*` from a year before the target week, calendar facts of the target week) are also known
at the origin because the horizon (<= 4 weeks) is far shorter than a year.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.families.sales_forecast.calendar import calendar_features
from ml.families.sales_forecast.intermittent import tsb_by_origin
from ml.families.sales_forecast.panel import PanelMatrix

LAGS = (1, 2, 3, 4, 8, 13, 26, 52)
ROLL_WINDOWS = (4, 8, 13, 26, 52)
ORIGIN_FEATURES = (
    [f"lag_{k}" for k in LAGS]
    + [f"roll_mean_{w}" for w in ROLL_WINDOWS]
    + [
        "nonzero_frac_13",
        "price_last",
        "price_change_4",
        "buyers_4w",
        "age_weeks",
        "category",
        "category_rate_13",
        "tsb",
    ]
)
HORIZON_FEATURES = ["horizon", "seasonal_lag", "seasonal_mean_3", "week_of_year", "holiday_week", "weeks_to_christmas"]
FEATURE_COLUMNS = ORIGIN_FEATURES + HORIZON_FEATURES
CATEGORICAL_FEATURES = ["category"]  # a string (None when unknown); the model encodes it
KEY_COLUMNS = ["product_id", "origin_week", "target_week", "horizon"]


@dataclass
class _Prepared:
    """Cumulative sums and forward-filled prices, computed once per matrix."""

    units_cum: np.ndarray
    nonzero_cum: np.ndarray
    buyers_cum: np.ndarray
    price_ffill: np.ndarray
    calendar: dict[str, np.ndarray]  # calendar facts by week index, a year past the panel's end
    category_codes: np.ndarray  # -1 where the category is unknown
    tsb: np.ndarray  # TSB forecast at every origin (column t: from weeks < t)

    @classmethod
    def of(cls, m: PanelMatrix) -> _Prepared:
        def cum(values):
            out = np.zeros((values.shape[0], values.shape[1] + 1))
            np.cumsum(values, axis=1, out=out[:, 1:])
            return out

        price = pd.DataFrame(m.price.T).ffill().to_numpy().T if m.price.size else m.price
        calendar = calendar_features(pd.date_range(m.weeks[0], periods=m.n_weeks + 53, freq="7D"))
        calendar_arrays = {c: calendar[c].to_numpy() for c in calendar.columns}
        codes, _ = pd.factorize(pd.Series(m.category, dtype=object), use_na_sentinel=True)
        return cls(cum(m.units), cum((m.units > 0).astype(float)), cum(m.buyers), price, calendar_arrays, codes,
                   tsb_by_origin(m.units, m.first_idx))


_CACHE: dict[int, tuple[PanelMatrix, _Prepared]] = {}


def _prepared(m: PanelMatrix) -> _Prepared:
    cached = _CACHE.get(id(m))
    if cached is None or cached[0] is not m:
        _CACHE.clear()  # one matrix at a time; keeps memory flat
        cached = (m, _Prepared.of(m))
        _CACHE[id(m)] = cached
    return cached[1]


def _window(cum: np.ndarray, t: int, w: int) -> np.ndarray:
    return cum[:, t] - cum[:, max(t - w, 0)]


def eligible_products(
    m: PanelMatrix, t: int, active_weeks: int, min_history_weeks: int
) -> tuple[np.ndarray, np.ndarray]:
    """(model, fallback) boolean masks at origin t: active products with long / short histories."""
    p = _prepared(m)
    age = t - m.first_idx
    active = (age > 0) & (_window(p.nonzero_cum, t, active_weeks) > 0)
    return active & (age >= min_history_weeks), active & (age < min_history_weeks)


def origin_features(m: PanelMatrix, t: int, horizon: int, products: np.ndarray | None = None) -> pd.DataFrame:
    """Feature rows (products x horizons 1..horizon) at origin index t (weeks < t are known).

    `t` may equal `m.n_weeks` (the live forecast origin). `target` holds the units of the target
    week where the panel has it, NaN otherwise. `products` is a boolean mask or index array.
    """
    return _to_frame([_origin_arrays(m, t, horizon, products)])


def _to_frame(parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    columns = KEY_COLUMNS + FEATURE_COLUMNS + ["target"]
    if not parts:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame({c: np.concatenate([part[c] for part in parts]) for c in columns})
    frame["category"] = frame["category"].astype(object).where(frame["category"].notna(), None)
    return frame


def _origin_arrays(m: PanelMatrix, t: int, horizon: int, products) -> dict[str, np.ndarray]:
    if not 0 < t <= m.n_weeks:
        raise ValueError(f"origin index {t} outside 1..{m.n_weeks}")
    p = _prepared(m)
    if products is None:
        rows = np.arange(len(m.product_ids))
    else:
        products = np.asarray(products)
        rows = np.flatnonzero(products) if products.dtype == bool else products
    n = len(rows)
    units, first = m.units[rows], m.first_idx[rows]
    alive = t - first
    base: dict[str, np.ndarray] = {}
    for k in LAGS:
        base[f"lag_{k}"] = units[:, t - k] if t - k >= 0 else np.zeros(n)
    for w in ROLL_WINDOWS:
        # Mean over the weeks the product existed, so a young product is not diluted by pre-launch zeros.
        base[f"roll_mean_{w}"] = _window(p.units_cum[rows], t, w) / np.clip(np.minimum(alive, w), 1, None)
    base["nonzero_frac_13"] = _window(p.nonzero_cum[rows], t, 13) / np.clip(np.minimum(alive, 13), 1, None)
    base["price_last"] = p.price_ffill[rows, t - 1]
    base["price_change_4"] = _price_change(p.price_ffill[rows, t - 1], p.price_ffill[rows, t - 5]) if t >= 5 \
        else np.full(n, np.nan)
    base["buyers_4w"] = _window(p.buyers_cum[rows], t, 4) / np.clip(np.minimum(alive, 4), 1, None)
    base["age_weeks"] = alive.astype(float)
    base["category"] = m.category[rows]
    base["category_rate_13"] = _category_rate(m, p, t, rows)
    base["tsb"] = p.tsb[rows, t]

    parts = []
    for h in range(1, horizon + 1):
        target_idx = t + h - 1
        part = dict(base)
        part["product_id"] = m.product_ids[rows]
        part["origin_week"] = np.full(n, m.week_at(t).to_datetime64())
        part["target_week"] = np.full(n, m.week_at(target_idx).to_datetime64())
        part["horizon"] = np.full(n, h, dtype="int64")
        s = target_idx - 52  # the same week a year earlier
        seasonal = units[:, s].copy() if s >= 0 else np.full(n, np.nan)
        seasonal[first > s] = np.nan
        part["seasonal_lag"] = seasonal
        if s - 1 >= 0:
            around = units[:, s - 1 : s + 2].mean(axis=1)
            around[first > s - 1] = np.nan
        else:
            around = np.full(n, np.nan)
        part["seasonal_mean_3"] = around
        for column, values in p.calendar.items():
            part[column] = np.full(n, values[target_idx], dtype="int64")
        part["target"] = units[:, target_idx] if target_idx < m.n_weeks else np.full(n, np.nan)
        parts.append(part)
    return {c: np.concatenate([part[c] for part in parts]) for c in parts[0]}


def _category_rate(m: PanelMatrix, p: _Prepared, t: int, rows: np.ndarray) -> np.ndarray:
    """Mean weekly units per live product of the same category over the 13 weeks before t."""
    alive = t - m.first_idx
    live = (alive > 0) & (p.category_codes >= 0)
    rate = _window(p.units_cum, t, 13) / np.clip(np.minimum(alive, 13), 1, None)
    n_codes = int(p.category_codes.max()) + 1 if p.category_codes.size else 0
    totals = np.bincount(p.category_codes[live], weights=rate[live], minlength=n_codes)
    counts = np.bincount(p.category_codes[live], minlength=n_codes)
    with np.errstate(invalid="ignore", divide="ignore"):
        by_code = np.where(counts > 0, totals / np.maximum(counts, 1), np.nan)
    codes = p.category_codes[rows]
    return np.where(codes >= 0, by_code[np.clip(codes, 0, None)] if n_codes else np.nan, np.nan)


def training_frame(
    m: PanelMatrix,
    origins: Iterable[int],
    horizon: int,
    active_weeks: int,
    min_history_weeks: int,
    target_before: int | None = None,
) -> pd.DataFrame:
    """Stacked feature rows over several origins, keeping only targets with index < target_before.

    Rows come from products the model would score at that origin (active, history long enough),
    so training and scoring see the same population.
    """
    limit = m.n_weeks if target_before is None else min(target_before, m.n_weeks)
    frames = []
    for t in origins:
        if t <= 0 or t >= limit:
            continue
        model_mask, _ = eligible_products(m, t, active_weeks, min_history_weeks)
        if not model_mask.any():
            continue
        frames.append(_origin_arrays(m, t, min(horizon, limit - t), model_mask))
    return _to_frame(frames)


def _price_change(current: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    """Relative price change; unknown (NaN) where the earlier price was zero or missing.

    Real exports carry zero-priced lines (samples, write-offs): dividing by them gave infinities.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        change = np.where(earlier > 0, current / earlier - 1.0, np.nan)
    return np.clip(change, -1.0, 10.0)
