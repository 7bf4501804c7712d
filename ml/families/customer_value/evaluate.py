"""Holdout evaluation of value predictions: per-customer errors, totals, rank agreement, deciles.

Every candidate (BG/NBD + Gamma-Gamma, LightGBM, their blend, the simple baselines) is judged on the
same customers — those with a transaction before the holdout — against what they really did in the
holdout window. `evaluate` re-scores challenger, champion and every baseline (`model.BASELINES`) on
that holdout for promotion and hands on the best baseline by the policy's metric;
`config/policies/customer_value.yaml` decides.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from ml.families.base import Evaluation, ModelRef
from ml.families.customer_value import pyfunc
from ml.families.customer_value.config import NAME, load
from ml.families.customer_value.features import purchasers, read_all_cutoffs, table_cutoffs, targets_between
from ml.sql import require_columns

if TYPE_CHECKING:
    from ml.families.customer_value.model import ValuePredictor
    from ml.warehouse import Warehouse

PREDICTION_COLUMNS = ("expected_orders", "expected_spend")
ACTUAL_COLUMNS = ("orders", "spend")


def predict_naive_baseline(summary: pd.DataFrame, *, horizon_days: float) -> pd.DataFrame:
    """Each customer repeats their historical rate: transactions and spend per day since their first
    purchase, times the horizon. The observed span is floored at one horizon so that a customer seen
    only yesterday is not extrapolated from a single day."""
    require_columns(summary, ("T", "n_transactions", "total_value"), "customer summary")
    span = np.maximum(summary["T"].astype(float), float(horizon_days))
    return pd.DataFrame(
        {
            "expected_orders": summary["n_transactions"] / span * horizon_days,
            "expected_spend": summary["total_value"] / span * horizon_days,
        },
        index=summary.index,
    )


def baseline_on(features: pd.DataFrame, *, horizon_days: float) -> pd.DataFrame:
    """The naive baseline for customer features (whose age column is `tenure_days`)."""
    return predict_naive_baseline(features.rename(columns={"tenure_days": "T"}), horizon_days=horizon_days)


def align_actuals(predictions: pd.DataFrame, actuals: pd.DataFrame) -> pd.DataFrame:
    """Actual orders and spend for every predicted customer; customers who bought nothing get zeros."""
    require_columns(actuals, ACTUAL_COLUMNS, "actuals")
    return actuals.reindex(predictions.index, fill_value=0.0)[list(ACTUAL_COLUMNS)].astype(float)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return 0.0  # undefined for constant input; zero reads as "no rank information"
    return float(stats.spearmanr(a, b).statistic)


def score_predictions(predictions: pd.DataFrame, actuals: pd.DataFrame) -> dict[str, float]:
    """MAE, RMSE, totals and Spearman correlation for orders and spend.

    `actuals` may omit customers who bought nothing in the holdout; they count as zero.
    """
    require_columns(predictions, PREDICTION_COLUMNS, "predictions")
    if predictions.empty:
        raise ValueError("no predictions to evaluate")
    truth = align_actuals(predictions, actuals)
    metrics: dict[str, float] = {"n_customers": float(len(predictions))}
    for name, actual in zip(("orders", "spend"), ACTUAL_COLUMNS):
        predicted = predictions[f"expected_{name}"].to_numpy(dtype=float)
        observed = truth[actual].to_numpy(dtype=float)
        error = predicted - observed
        metrics[f"mae_{name}"] = float(np.mean(np.abs(error)))
        metrics[f"rmse_{name}"] = float(np.sqrt(np.mean(error**2)))
        metrics[f"total_predicted_{name}"] = float(predicted.sum())
        metrics[f"total_actual_{name}"] = float(observed.sum())
        metrics[f"total_ratio_{name}"] = float(predicted.sum() / observed.sum()) if observed.sum() else float("nan")
        metrics[f"spearman_{name}"] = _spearman(predicted, observed)
    if "predicted_clv" in predictions.columns:  # the value ranking, against the holdout spend
        metrics["spearman_clv"] = _spearman(predictions["predicted_clv"].to_numpy(dtype=float),
                                            truth["spend"].to_numpy(dtype=float))
    return metrics


def build_decile_table(predictions: pd.DataFrame, actuals: pd.DataFrame, *, n_bins: int = 10) -> pd.DataFrame:
    """Customers in `n_bins` equal-size bins by predicted spend (bin 1 = highest), with mean predicted
    and actual spend per bin: a good model's actual column falls from bin 1 to the last."""
    require_columns(predictions, ("expected_spend",), "predictions")
    if predictions.empty:
        raise ValueError("no predictions to bin")
    truth = align_actuals(predictions, actuals)
    # Rank first so ties (many customers predicted zero) still split into equal bins, deterministically.
    order = predictions["expected_spend"].rank(method="first", ascending=False).to_numpy()
    bins = np.minimum((order - 1) * n_bins // len(predictions), n_bins - 1).astype(int) + 1
    frame = pd.DataFrame({
        "decile": bins,
        "predicted_spend": predictions["expected_spend"].to_numpy(dtype=float),
        "actual_spend": truth["spend"].to_numpy(),
    })
    return frame.groupby("decile", as_index=False).agg(
        customers=("predicted_spend", "size"),
        predicted_spend=("predicted_spend", "mean"),
        actual_spend=("actual_spend", "mean"),
    )


def plot_deciles(tables: dict[str, pd.DataFrame], path: str | Path) -> Path:
    """Bar chart of mean actual spend per predicted decile, one bar group per model, with the
    predicted means as markers; written as PNG to `path`."""
    import matplotlib

    matplotlib.use("Agg")  # no display on workers
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / max(len(tables), 1)
    for i, (name, table) in enumerate(tables.items()):
        positions = table["decile"].to_numpy() + (i - (len(tables) - 1) / 2) * width
        bars = ax.bar(positions, table["actual_spend"], width=width, label=f"{name} actual")
        ax.plot(positions, table["predicted_spend"], "o", color=bars.patches[0].get_facecolor(), markeredgecolor="k")
    ax.set_xlabel("decile of predicted holdout spend (1 = highest)")
    ax.set_ylabel("mean spend per customer (markers: predicted)")
    ax.set_title("Holdout spend by predicted decile")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def score_candidates(
    predictor: ValuePredictor, candidates: list[str], start: pd.DataFrame, end: pd.DataFrame
) -> tuple[dict[str, dict[str, float]], dict[str, pd.DataFrame]]:
    """Metrics and decile tables per candidate of `predictor` on the customers known at `start`."""
    start = purchasers(start)
    if start.empty:
        raise ValueError("no customers at the holdout start")
    actuals = targets_between(start, end)
    predictions = {name: predictor.candidate(name, start) for name in candidates}
    metrics = {name: score_predictions(p, actuals) for name, p in predictions.items()}
    deciles = {name: build_decile_table(p, actuals) for name, p in predictions.items()}
    return metrics, deciles


def holdout(wh: Warehouse, as_of: dt.date) -> tuple[pd.DataFrame, pd.DataFrame, dt.date, int]:
    """(features at the holdout start, at D, the holdout start, its length in days)."""
    frames, dates = read_all_cutoffs(wh, as_of), table_cutoffs(wh, as_of)
    if len(dates) < 2:
        raise ValueError(f"no customer has history before {as_of} and the holdout before it")
    return purchasers(frames[-2]), frames[-1], dates[-2], (dates[-1] - dates[-2]).days


def pro_rata(predictions: pd.DataFrame, days: int, horizon_days: int) -> pd.DataFrame:
    """Horizon forecasts over a shorter holdout (a short history), pro rata: what the holdout can judge."""
    if days == horizon_days:
        return predictions
    scaled = predictions.copy()
    scaled[list(PREDICTION_COLUMNS)] *= days / horizon_days
    return scaled


def best_baseline(start: pd.DataFrame, actuals: pd.DataFrame, days: int, config,
                  metric: str, direction: str) -> tuple[str, dict[str, float]]:
    """The family's baselines on the holdout (BG/NBD fitted at its start): for each output the best
    of them on its metric (spend: the policy's, orders: RMSE, value: Spearman), named by
    `model.baseline_name`, with the metrics of that mix."""
    from ml.families.customer_value.model import BASELINES, ValuePredictor, baseline_name, baseline_outputs
    from ml.families.customer_value.train import fit_clv

    clv = fit_clv(start, config.penalizer)
    scores = {}
    for name, candidate in BASELINES.items():
        if candidate == "bgnbd_gg" and clv is None:
            continue
        predictor = ValuePredictor(candidate, clv, horizon_days=days, clv_days=config.clv_days, interval_draws=0)
        scores[name] = score_predictions(predictor.predict(start), actuals)
    pick = min if direction == "minimize" else max
    spend = pick(scores, key=lambda n: scores[n][metric])
    ordered = [spend, *(n for n in scores if n != spend)]  # on a tie the spend's baseline gives all three
    best = {"spend": spend, "orders": min(ordered, key=lambda n: scores[n][config.orders_selection_metric]),
            "clv": max(ordered, key=lambda n: scores[n]["spearman_clv"])}
    name = baseline_name(best)
    mix = ValuePredictor(name, clv, horizon_days=days, clv_days=config.clv_days, interval_draws=0,
                         **baseline_outputs(name))
    return name, score_predictions(mix.predict(start), actuals)


def evaluate(wh: Warehouse, as_of: dt.date, challenger: ModelRef, champion: ModelRef | None) -> Evaluation:
    """Challenger, champion and the best baseline on orders and spend in [D - step, D), as promotion judges them."""
    from ml.promotion import load_policy

    config = load()
    policy = load_policy(NAME)
    start, end, holdout_start, days = holdout(wh, as_of)
    if len(start) < config.min_holdout_customers:
        raise ValueError(f"only {len(start)} customers before {holdout_start}; too few to judge value models")
    actuals = targets_between(start, end)
    h = config.horizon_days
    challenger_pred = pro_rata(pyfunc.predict_frame(pyfunc.load_model(challenger), start), days, h)
    baseline_name, baseline = best_baseline(start, actuals, days, config, policy.metric, policy.direction)
    short = "" if days == h else f"; the history is short: {h}-day forecasts judged pro rata over {days} days"
    result = Evaluation(
        challenger=score_predictions(challenger_pred, actuals), baseline=baseline, baseline_name=baseline_name,
        holdout=(f"orders and spend in [{holdout_start}, {as_of}) of the {len(start)} customers with a purchase "
                 f"before it{short}"),
    )
    if champion is not None:
        champion_pred = pro_rata(pyfunc.predict_frame(pyfunc.load_model(champion), start), days, h)
        result.champion = score_predictions(champion_pred, actuals)
        rank = challenger_pred["predicted_clv"].corr(champion_pred["predicted_clv"], method="spearman")
        result.pairwise = {"spearman_clv_vs_champion": float(rank)}
    return result
