"""How good a propensity score is, and the naive baseline it must beat.

Ranking metrics (ROC AUC, PR AUC, top-decile lift and capture) apply to any score; probability
metrics (log loss, Brier) only to calibrated probabilities, so the recency baseline has ranking
metrics only. Metrics that are undefined on a single-class holdout come back as NaN, not errors.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score


def top_decile_lift(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """(lift, capture) of the 10 % highest scores: their buyer rate over the overall rate, and the
    share of all buyers they hold. Ties are broken by position (stable sort) so results are fixed."""
    labels, scores = np.asarray(labels, dtype=float), np.asarray(scores, dtype=float)
    n, total = len(labels), labels.sum()
    if n == 0 or total == 0:
        return math.nan, math.nan
    k = max(1, int(math.ceil(n / 10)))
    top = labels[np.argsort(-scores, kind="stable")[:k]]
    return float(top.mean() / labels.mean()), float(top.sum() / total)


def score_ranking(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    labels, scores = np.asarray(labels, dtype=int), np.asarray(scores, dtype=float)
    if len(labels) != len(scores):
        raise ValueError(f"{len(labels)} labels but {len(scores)} scores")
    two_classes = len(np.unique(labels)) == 2
    lift, capture = top_decile_lift(labels, scores)
    return {
        "roc_auc": float(roc_auc_score(labels, scores)) if two_classes else math.nan,
        "pr_auc": float(average_precision_score(labels, scores)) if two_classes else math.nan,
        "lift_top_decile": lift,
        "capture_top_decile": capture,
        "positive_rate": float(labels.mean()) if len(labels) else math.nan,
        "n": float(len(labels)),
    }


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Hanley & McNeil (1982) standard error of a ROC AUC measured on that many buyers and non-buyers."""
    if math.isnan(auc) or positives < 1 or negatives < 1:
        return math.nan
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc)
                + (negatives - 1) * (q2 - auc * auc)) / (positives * negatives)
    return math.sqrt(max(variance, 0.0))


def score_probabilities(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Ranking metrics plus log loss and Brier score of calibrated probabilities."""
    p = np.asarray(probabilities, dtype=float)
    if len(p) and (np.nanmin(p) < 0 or np.nanmax(p) > 1):
        raise ValueError("probabilities must lie in [0, 1]")
    out = score_ranking(labels, p)
    labels = np.asarray(labels, dtype=int)
    out["log_loss"] = float(log_loss(labels, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1])) if len(p) else math.nan
    out["brier"] = float(brier_score_loss(labels, p)) if len(p) else math.nan
    return out


def score_recency_baseline(labels: np.ndarray, recency_days: np.ndarray) -> dict[str, float]:
    """Naive baseline: the more recent the last order, the likelier the next (score = -recency)."""
    recency = np.asarray(recency_days, dtype=float)
    return score_ranking(labels, -np.nan_to_num(recency, nan=np.nanmax(recency) + 1 if np.isfinite(recency).any() else 0))


def assign_deciles(probabilities: np.ndarray) -> np.ndarray:
    """Decile 1 = the 10 % most likely buyers ... 10 = the least likely; ties by position."""
    p = np.asarray(probabilities, dtype=float)
    if len(p) == 0:
        return np.zeros(0, dtype=int)
    rank = np.empty(len(p), dtype=int)
    rank[np.argsort(-p, kind="stable")] = np.arange(len(p))
    return (rank * 10 // len(p) + 1).astype(int)


def calibration_table(labels: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted vs observed buyer rate per equal-count bin of predicted probability."""
    frame = pd.DataFrame({"p": np.asarray(probabilities, float), "y": np.asarray(labels, float)})
    frame["bin"] = pd.qcut(frame["p"].rank(method="first"), min(bins, len(frame)), labels=False)
    return frame.groupby("bin").agg(predicted=("p", "mean"), observed=("y", "mean"), n=("y", "size")).reset_index()


def plot_calibration(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: str | Path) -> Path:
    """Reliability diagram, one line per named (labels, probabilities)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfect")
    for name, (labels, probs) in curves.items():
        table = calibration_table(labels, probs)
        ax.plot(table["predicted"], table["observed"], marker="o", label=name)
    ax.set(xlabel="predicted P(order in 30 days)", ylabel="observed rate", title="Calibration")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: str | Path) -> Path:
    """ROC curves, one per named (labels, scores)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    for name, (labels, scores) in curves.items():
        if len(np.unique(labels)) < 2:
            continue
        fpr, tpr, _ = roc_curve(labels, scores)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(labels, scores):.3f})")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
