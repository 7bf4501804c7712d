"""Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV"; Colombo & Jiang 1999).

A customer's transaction values are Gamma(p, nu) around their own mean p/nu, with nu ~ Gamma(q, gamma)
across customers. Fitted on repeat buyers only: x repeat transactions with mean value m_x. The model
assumes spend is independent of purchase frequency; check that correlation before trusting it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize, special

PARAM_NAMES = ("p", "q", "gamma")


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @property
    def population_mean(self) -> float:
        """Mean spend per transaction across customers, E[M] = p * gamma / (q - 1) (infinite if q <= 1)."""
        return self.p * self.gamma / (self.q - 1.0) if self.q > 1.0 else float("inf")


def _as_arrays(x, m_x) -> tuple[np.ndarray, np.ndarray]:
    x, m_x = np.asarray(x, dtype=float), np.asarray(m_x, dtype=float)
    if x.shape != m_x.shape:
        raise ValueError(f"frequency and monetary value must have the same shape, got {x.shape}, {m_x.shape}")
    if np.any(~np.isfinite(x) | ~np.isfinite(m_x)) or np.any(x < 0):
        raise ValueError("frequency must be finite and >= 0, monetary value finite")
    return x, m_x


def log_likelihood(params: GammaGammaParams, x, m_x) -> np.ndarray:
    """Per-customer log-likelihood of the mean repeat spend m_x over x > 0 transactions."""
    x, m_x = _as_arrays(x, m_x)
    p, q, g = params.p, params.q, params.gamma
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(g)
        + (px - 1.0) * np.log(m_x)
        + px * np.log(x)
        - (px + q) * np.log(x * m_x + g)
    )


def log_likelihood_gradient(params: GammaGammaParams, x, m_x) -> np.ndarray:
    """Per-customer derivatives of `log_likelihood` by (p, q, gamma), shape (3, n)."""
    x, m_x = _as_arrays(x, m_x)
    p, q, g = params.p, params.q, params.gamma
    px, spent = p * x, x * m_x + g
    psi = special.digamma(px + q)
    log_spent = np.log(spent)
    return np.stack([
        x * (psi - special.digamma(px) + np.log(m_x) + np.log(x) - log_spent),
        psi - special.digamma(q) + np.log(g) - log_spent,
        q / g - (px + q) / spent,
    ])


def fit_gamma_gamma(x, m_x, *, penalizer: float = 0.0) -> GammaGammaParams:
    """Maximum-likelihood fit on repeat buyers (x > 0, m_x > 0), with the exact gradient; other rows
    are ignored."""
    x, m_x = _as_arrays(x, m_x)
    keep = (x > 0) & (m_x > 0)
    if keep.sum() < 2:
        raise ValueError("Gamma-Gamma needs at least two repeat buyers with positive spend")
    x, m_x = x[keep], m_x[keep]
    shapes = np.array([1.0, 1.0, 0.0])  # the penalty is on p and q

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(log_params)
        fit = GammaGammaParams(*params)
        ll = log_likelihood(fit, x, m_x)
        grad = log_likelihood_gradient(fit, x, m_x).mean(axis=1) * params  # d/d(log theta)
        value = -float(np.mean(ll)) + penalizer * float(np.sum(shapes * log_params ** 2))
        return value, -grad + 2.0 * penalizer * shapes * log_params

    start = np.log([1.0, 2.0, float(np.mean(m_x))])
    result = optimize.minimize(objective, start, jac=True, method="L-BFGS-B", bounds=[(-12.0, 12.0)] * 3)
    if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
        raise RuntimeError(f"Gamma-Gamma fit did not converge: {result.message}")
    return GammaGammaParams(*map(float, np.exp(result.x)))


def conditional_expected_spend(params: GammaGammaParams, x, m_x) -> np.ndarray:
    """E[M | x, m_x]: a credibility-weighted mix of the population mean and the customer's own mean.

    Customers without repeat purchases (x == 0) get the population mean.
    """
    x, m_x = _as_arrays(x, m_x)
    p, q, g = params.p, params.q, params.gamma
    m_x = np.where(x > 0, m_x, 0.0)
    return p * (g + x * m_x) / (p * x + q - 1.0)
