"""BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

While alive, a customer buys at a Poisson rate lambda ~ Gamma(r, alpha); after every purchase they drop
out with probability p ~ Beta(a, b). A customer is summarised by (x, t_x, T): repeat purchases, time
of the last purchase and age, all counted from their first purchase. Time units are whatever the
caller uses (weeks for CDNOW, days for the shop); alpha and every horizon share that unit.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize, special

PARAM_NAMES = ("r", "alpha", "a", "b")


@dataclass(frozen=True)
class BGNBDParams:
    r: float
    alpha: float
    a: float
    b: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _as_arrays(x, t_x, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    if not (x.shape == t_x.shape == T.shape):
        raise ValueError(f"x, t_x and T must have the same shape, got {x.shape}, {t_x.shape}, {T.shape}")
    if x.size == 0:
        raise ValueError("no customers to fit or score")
    if np.any(~np.isfinite(x) | ~np.isfinite(t_x) | ~np.isfinite(T)):
        raise ValueError("x, t_x and T must be finite")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > T + 1e-9):
        raise ValueError("need x >= 0 and 0 <= t_x <= T for every customer")
    return x, t_x, T


def log_likelihood(params: BGNBDParams, x, t_x, T) -> np.ndarray:
    """Per-customer log-likelihood (equation 6 of the paper, in a numerically stable form)."""
    x, t_x, T = _as_arrays(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.betaln(a, b + x) - special.betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    # The second term only exists for repeat buyers; b + x - 1 > 0 there, so the log is safe.
    a4 = np.where(
        repeat,
        np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    return a1 + a2 + np.logaddexp(a3, a4)


def log_likelihood_gradient(params: BGNBDParams, x, t_x, T) -> np.ndarray:
    """Per-customer derivatives of `log_likelihood` by (r, alpha, a, b), shape (4, n).

    The log-likelihood is A1 + A2 + log(exp(A3) + exp(A4)) in the terms of `log_likelihood`; the last
    term's derivative weighs A3's and A4's by their shares of the sum (A4 is absent for x = 0).
    """
    x, t_x, T = _as_arrays(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    log_alpha_T, log_alpha_tx = np.log(alpha + T), np.log(alpha + t_x)
    b_x_1 = np.where(repeat, b + x - 1, 1.0)
    a3 = -(r + x) * log_alpha_T
    a4 = np.where(repeat, np.log(a) - np.log(b_x_1) - (r + x) * log_alpha_tx, -np.inf)
    tail = np.logaddexp(a3, a4)
    share3 = np.exp(a3 - tail)
    share4 = np.where(repeat, np.exp(a4 - tail), 0.0)
    psi_ab, psi_abx = special.digamma(a + b), special.digamma(a + b + x)
    return np.stack([
        special.digamma(r + x) - special.digamma(r) + np.log(alpha) - share3 * log_alpha_T - share4 * log_alpha_tx,
        r / alpha - (r + x) * (share3 / (alpha + T) + share4 / (alpha + t_x)),
        psi_ab - psi_abx + share4 / a,
        special.digamma(b + x) - special.digamma(b) + psi_ab - psi_abx - share4 / b_x_1,
    ])


def fit_bgnbd(x, t_x, T, *, penalizer: float = 0.0, weights=None) -> BGNBDParams:
    """Maximum-likelihood fit by L-BFGS-B on the log-parameters, with the exact gradient.

    `penalizer` adds an L2 penalty on the log of the shape parameters (r, a, b): zero reproduces the
    paper; a small value (1e-3) keeps a few hundred customers from driving a or b to a boundary.
    `weights` counts identical customers once with a weight (the CDNOW summaries repeat many rows).
    """
    x, t_x, T = _as_arrays(x, t_x, T)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    if np.all(x == 0):
        raise ValueError("BG/NBD needs at least one repeat purchase to fit")
    scale = float(np.mean(T)) or 1.0  # start alpha on the data's own time scale
    shapes = np.array([1.0, 0.0, 1.0, 1.0])  # the penalty is on r, a and b
    total = float(np.sum(w))

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(log_params)
        fit = BGNBDParams(*params)
        ll = log_likelihood(fit, x, t_x, T)
        # d/d(log theta) = theta * d/d(theta)
        grad = (log_likelihood_gradient(fit, x, t_x, T) @ w) / total * params
        value = -float(np.sum(w * ll)) / total + penalizer * float(np.sum(shapes * log_params ** 2))
        return value, -grad + 2.0 * penalizer * shapes * log_params

    start = np.log([1.0, scale, 1.0, 1.0])
    result = optimize.minimize(objective, start, jac=True, method="L-BFGS-B", bounds=[(-12.0, 12.0)] * 4)
    if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
        raise RuntimeError(f"BG/NBD fit did not converge: {result.message}")
    return BGNBDParams(*map(float, np.exp(result.x)))


def probability_alive(params: BGNBDParams, x, t_x, T) -> np.ndarray:
    """P(customer still alive at T | x, t_x, T) (equation 11). One-time buyers are alive by assumption."""
    x, t_x, T = _as_arrays(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    log_ratio = np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) + (r + x) * (
        np.log(alpha + T) - np.log(alpha + t_x)
    )
    return np.where(repeat, special.expit(-log_ratio), 1.0)


def expected_purchases(params: BGNBDParams, t, x, t_x, T) -> np.ndarray:
    """Expected purchases in the next `t` time units given (x, t_x, T) (equation 10).

    The paper's term ((alpha+T)/(alpha+T+t))^(r+x) * 2F1(r+x, b+x; a+b+x-1; z) multiplies a vanishing
    power by a diverging series for frequent buyers; Euler's transformation turns it into
    (1-z)^(a-1) * 2F1(a+b-1-r, a-1; a+b+x-1; z), which stays finite.
    """
    x, t_x, T = _as_arrays(x, t_x, T)
    t = np.broadcast_to(np.asarray(t, dtype=float), x.shape)
    if np.any(t < 0):
        raise ValueError("horizon t must be >= 0")
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + T + t)
    tail = (1.0 - z) ** (a - 1.0) * special.hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
    numerator = (a + b + x - 1.0) / (a - 1.0) * (1.0 - tail)
    return numerator * probability_alive(params, x, t_x, T)


def expected_purchases_new(params: BGNBDParams, t) -> np.ndarray:
    """E[X(t)] for a randomly chosen new customer (equation 9); used to check the fit against the paper."""
    t = np.asarray(t, dtype=float)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + t)
    return (a + b - 1.0) / (a - 1.0) * (
        1.0 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1.0, z)
    )
