"""BG/NBD and Gamma-Gamma fits, this project's against the `lifetimes` package, on the same summaries.

Two sets of summaries: the CDNOW sample of the papers (weeks, the test fixture) and the benchmark
shop's customers (days, as the customer-value family fits them). Each fit runs in its own child
process (`benchmarks.stages.clv_fit`), so import and warm-up are outside the timed part: the summary
is read and both libraries imported before the clock starts.
"""
from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ml import settings

CDNOW = settings.REPO_ROOT / "tests" / "fixtures" / "cdnow" / "cdnow_customers_summary_with_transactions.csv"
DATASETS = ("cdnow", "shop")
IMPLEMENTATIONS = ("project", "lifetimes")
MODELS = ("bgnbd", "gamma_gamma")
REPEATS = 5  # fits are sub-second: the fastest of five, so one slow scheduling slice does not decide


def summaries(dataset: str, shop: str | None = None, as_of: str | None = None) -> pd.DataFrame:
    """frequency, recency, T and mean repeat spend per customer (CDNOW in weeks, a shop in days)."""
    if dataset == "cdnow":
        raw = pd.read_csv(CDNOW)
        return pd.DataFrame({"frequency": raw["x"], "recency": raw["t_x"], "T": raw["T"],
                             "monetary_value": raw["zbar"]})
    from ml.families.customer_value.summary import build_transactions, summarize_customers

    lines = pd.read_csv(Path(shop) / "order_lines.csv", usecols=["Customer ID", "Quantity", "Price", "InvoiceDate"],
                        dtype={"Customer ID": "string"})
    lines = lines.rename(columns={"Customer ID": "customer_id", "Quantity": "quantity", "Price": "unit_price",
                                  "InvoiceDate": "invoice_ts"})
    return summarize_customers(build_transactions(lines), dt.date.fromisoformat(as_of))


def fitter(implementation: str, model: str):
    """A function summary -> {parameter: value}, fitting `model` as `implementation` does, unpenalised."""
    if implementation == "project":
        from ml.families.customer_value.bgnbd import fit_bgnbd
        from ml.families.customer_value.gamma_gamma import fit_gamma_gamma

        if model == "bgnbd":
            return lambda s: fit_bgnbd(s["frequency"], s["recency"], s["T"]).to_dict()
        return lambda s: fit_gamma_gamma(s["frequency"], s["monetary_value"]).to_dict()
    warnings.filterwarnings("ignore", module="lifetimes")
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    if model == "bgnbd":
        return lambda s: dict(BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"]).params_)
    repeat = lambda s: s[(s["frequency"] > 0) & (s["monetary_value"] > 0)]  # noqa: E731 - what ours keeps too
    return lambda s: {("gamma" if k == "v" else k): float(v) for k, v in
                      GammaGammaFitter().fit(repeat(s)["frequency"], repeat(s)["monetary_value"]).params_.items()}


def max_relative_difference(ours: dict, theirs: dict) -> float:
    return float(max(abs(ours[k] - theirs[k]) / abs(theirs[k]) for k in theirs))


def fastest(fit, summary: pd.DataFrame) -> tuple[dict, float]:
    """Run `fit` REPEATS times; the parameters and the fastest wall time."""
    import time

    best, params = np.inf, None
    for _ in range(REPEATS):
        start = time.perf_counter()
        params = fit(summary)
        best = min(best, time.perf_counter() - start)
    return {k: float(v) for k, v in params.items()}, best


def compare(summary: pd.DataFrame) -> dict:
    """Both models by both implementations on one summary: fastest wall time, parameters, and how far
    this project's parameters are from lifetimes' (largest relative difference)."""
    fits = {(impl, model): fitter(impl, model) for impl in IMPLEMENTATIONS for model in MODELS}  # imports first
    out = {"customers": int(len(summary)), "repeat_buyers": int((summary["frequency"] > 0).sum())}
    for model in MODELS:
        results = {impl: fastest(fits[impl, model], summary) for impl in IMPLEMENTATIONS}
        out[model] = {**{f"{impl}_s": round(results[impl][1], 4) for impl in IMPLEMENTATIONS},
                      **{f"{impl}_params": results[impl][0] for impl in IMPLEMENTATIONS},
                      "max_relative_difference": max_relative_difference(results["project"][0], results["lifetimes"][0])}
    return out
