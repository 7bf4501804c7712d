"""An 80% interval of each customer's future spend, from BG/NBD + Gamma-Gamma's own uncertainty.

Two sources, both simulated, `draws` per customer:
* parameter uncertainty: (r, alpha, a, b) and (p, q, gamma) drawn from the maximum-likelihood fit's
  asymptotic normal on the log scale (covariance = inverse Hessian of the summed log-likelihood,
  by central differences: four and three parameters, so a few dozen likelihood evaluations);
* the purchase process given the data: alive with P(alive); then lambda ~ Gamma(r + x, alpha + T)
  and p ~ Beta(a, b + x); purchases in the horizon = min(Poisson(lambda t), Geometric(p)) (a
  customer drops out just after a purchase); each purchase's value Gamma(p_gg, nu) with
  nu ~ Gamma(q + p_gg x, gamma + x m_x).
The quantiles describe the distribution's shape; `scaled_interval` moves them onto the served point
value (which may be another candidate's), keeping each customer's ratio of quantile to BG/NBD mean.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ml.families.customer_value import bgnbd, gamma_gamma
from ml.sql import require_columns

if TYPE_CHECKING:
    from ml.families.customer_value.clv import CLVModel

INTERVAL = (0.10, 0.90)


def log_hessian(loglik, log_params: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Hessian of a summed log-likelihood in log-parameters, by central differences."""
    n = len(log_params)
    hessian = np.zeros((n, n))
    for i in range(n):
        for j in range(i, n):
            e_i, e_j = np.eye(n)[i] * step, np.eye(n)[j] * step
            value = (loglik(log_params + e_i + e_j) - loglik(log_params + e_i - e_j)
                     - loglik(log_params - e_i + e_j) + loglik(log_params - e_i - e_j)) / (4 * step * step)
            hessian[i, j] = hessian[j, i] = value
    return hessian


# Largest variance of a log-parameter drawn from (a factor of e per standard deviation): a nearly
# flat likelihood (clockwork customers, one spend for everyone) would otherwise draw absurd parameters.
MAX_LOG_VARIANCE = 1.0
AT_BOUND = 11.9  # |log parameter| of a fit pinned to the optimiser's bounds (+-12)


def _covariance(hessian: np.ndarray, log_params: np.ndarray) -> np.ndarray:
    """Inverse of the observed information, positive semi-definite and bounded; no variance along a
    parameter the fit left on its bound (the likelihood says nothing about it there)."""
    information = -hessian
    free = np.abs(log_params) < AT_BOUND
    covariance = np.zeros_like(information)
    if not free.any():
        return covariance
    try:
        inverse = np.linalg.inv(information[np.ix_(free, free)])
    except np.linalg.LinAlgError:
        return covariance
    eigenvalues, vectors = np.linalg.eigh((inverse + inverse.T) / 2)
    if not np.all(np.isfinite(eigenvalues)):
        return covariance
    covariance[np.ix_(free, free)] = (vectors * np.clip(eigenvalues, 0.0, MAX_LOG_VARIANCE)) @ vectors.T
    return covariance


@dataclass(frozen=True)
class ParameterUncertainty:
    """Covariances of the log-parameters of a fitted CLVModel (order of bgnbd/gamma_gamma PARAM_NAMES)."""

    purchases: tuple[tuple[float, ...], ...]
    spend: tuple[tuple[float, ...], ...]


def parameter_uncertainty(model: CLVModel, summary: pd.DataFrame) -> ParameterUncertainty:
    """The fit's asymptotic covariance on the customers it was fitted on (times in model units)."""
    require_columns(summary, ("frequency", "recency", "T", "monetary_value"), "customer summary")
    unit = model.time_unit_days
    x = summary["frequency"].to_numpy(dtype=float)
    t_x, T = summary["recency"].to_numpy(dtype=float) / unit, summary["T"].to_numpy(dtype=float) / unit
    m_x = summary["monetary_value"].to_numpy(dtype=float)

    def purchases_ll(log_params):
        return float(np.sum(bgnbd.log_likelihood(bgnbd.BGNBDParams(*np.exp(log_params)), x, t_x, T)))

    repeat = (x > 0) & (m_x > 0)

    def spend_ll(log_params):
        params = gamma_gamma.GammaGammaParams(*np.exp(log_params))
        return float(np.sum(gamma_gamma.log_likelihood(params, x[repeat], m_x[repeat])))

    bg, gg = (np.log(list(params.to_dict().values())) for params in (model.purchases, model.spend))
    purchases = _covariance(log_hessian(purchases_ll, bg), bg)
    spend = _covariance(log_hessian(spend_ll, gg), gg)
    return ParameterUncertainty(tuple(map(tuple, purchases)), tuple(map(tuple, spend)))


def _parameter_draws(mean: dict[str, float], covariance, n: int, rng: np.random.Generator) -> np.ndarray:
    """n draws (rows) of the parameters, lognormal around the fit."""
    log_mean = np.log(list(mean.values()))
    if covariance is None:
        return np.tile(np.exp(log_mean), (n, 1))
    return np.exp(rng.multivariate_normal(log_mean, np.asarray(covariance), size=n, method="eigh"))


def simulate_spend(model: CLVModel, summary: pd.DataFrame, horizon_days: float, *, draws: int = 200,
                   uncertainty: ParameterUncertainty | None = None, seed=0) -> np.ndarray:
    """Simulated spend over the horizon, shape (customers, draws); undiscounted, in the shop's money."""
    require_columns(summary, ("frequency", "recency", "T", "monetary_value"), "customer summary")
    rng = np.random.default_rng(seed)
    n = len(summary)
    unit = model.time_unit_days
    x = summary["frequency"].to_numpy(dtype=float)[:, None]
    t_x, T = (summary[c].to_numpy(dtype=float)[:, None] / unit for c in ("recency", "T"))
    m_x = np.where(x > 0, summary["monetary_value"].to_numpy(dtype=float)[:, None], 0.0)
    bg = _parameter_draws(model.purchases.to_dict(), uncertainty and uncertainty.purchases, draws, rng)
    gg = _parameter_draws(model.spend.to_dict(), uncertainty and uncertainty.spend, draws, rng)
    r, alpha, a, b = (bg[None, :, k] for k in range(4))
    p_gg, q, gamma = (gg[None, :, k] for k in range(3))
    # P(alive) per customer and parameter draw (equation 11 of the BG/NBD paper)
    log_ratio = np.log(a) - np.log(np.where(x > 0, b + x - 1, 1.0)) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    p_alive = np.where(x > 0, 1.0 / (1.0 + np.exp(log_ratio)), 1.0)
    alive = rng.random((n, draws)) < p_alive
    rate = rng.gamma(r + x, 1.0 / (alpha + T))
    # a Beta draw can underflow to 0 where a is tiny and b + x large: never dropping out, as near as numbers go
    dropout = np.clip(np.nan_to_num(rng.beta(a, b + x), nan=1.0), 1e-12, 1.0)
    purchases = np.minimum(rng.poisson(rate * horizon_days / unit), rng.geometric(dropout))
    purchases = np.where(alive, purchases, 0)
    # nu underflows to 0 where a degenerate fit (q near 0) meets a one-time buyer: no finite spend to draw
    nu = np.maximum(rng.gamma(q + p_gg * x, 1.0 / (gamma + x * m_x)), 1e-12)
    shape = p_gg * purchases
    with np.errstate(over="ignore"):
        spend = np.where(purchases > 0, rng.gamma(np.where(shape > 0, shape, 1.0), 1.0 / nu), 0.0)
    return np.where(np.isfinite(spend), spend, np.nan)


def spend_interval(model: CLVModel, summary: pd.DataFrame, horizon_days: float, *, draws: int = 200,
                   uncertainty: ParameterUncertainty | None = None, seed: int = 0,
                   levels: tuple[float, float] = INTERVAL, chunk_rows: int = 5_000) -> pd.DataFrame:
    """Per customer: the simulated mean and the `levels` quantiles of spend over the horizon.

    Simulated `chunk_rows` customers at a time (each chunk its own seed), so memory holds
    chunk_rows x draws numbers, not customers x draws."""
    parts = []
    for number, start in enumerate(range(0, len(summary), chunk_rows)):
        chunk = summary.iloc[start:start + chunk_rows]
        simulated = simulate_spend(model, chunk, horizon_days, draws=draws, uncertainty=uncertainty,
                                   seed=(seed, number))
        with warnings.catch_warnings():  # a customer with no finite draw gets NaN, not a warning per chunk
            warnings.simplefilter("ignore", RuntimeWarning)
            low, high = np.nanquantile(simulated, levels, axis=1)
            mean = np.nanmean(simulated, axis=1)
        parts.append(pd.DataFrame({"mean": mean, "low": low, "high": high}, index=chunk.index))
    if not parts:
        return pd.DataFrame(columns=["mean", "low", "high"], index=summary.index, dtype=float)
    return pd.concat(parts)


def scaled_interval(point: np.ndarray, interval: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The interval moved onto `point`: low/high keep their ratio to the simulated mean. A customer the
    simulation gives no spend at all gets [0, point]."""
    mean = interval["mean"].to_numpy(dtype=float)
    positive = mean > 0
    scale = np.where(positive, np.asarray(point, dtype=float) / np.where(positive, mean, 1.0), 0.0)
    low = np.where(positive, interval["low"].to_numpy() * scale, 0.0)
    high = np.where(positive, interval["high"].to_numpy() * scale, np.asarray(point, dtype=float))
    return low, high


def coverage(actual: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Share of actuals inside [low, high] (the target of an 80% interval is 0.80)."""
    actual = np.asarray(actual, dtype=float)
    if actual.size == 0:
        return float("nan")
    return float(np.mean((actual >= low - 1e-9) & (actual <= high + 1e-9)))
