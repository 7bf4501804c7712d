"""Value tiers: customers ranked by predicted value and cut by share (top 5% platinum, ...)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ml import settings


class TierConfigError(ValueError):
    """The tier configuration is invalid; the message says which entry and why."""


@dataclass(frozen=True)
class Tier:
    name: str
    share: float | None  # None: the rest


def default_tiers_path() -> Path:
    return settings.config_dir() / "value_tiers.yaml"


def parse_tiers(config: dict) -> list[Tier]:
    """Validate a `{"tiers": [{"name": ..., "share": ...}, ..., {"name": ...}]}` mapping."""
    if not isinstance(config, dict) or set(config) != {"tiers"}:
        raise TierConfigError(f"tier config must have exactly one key 'tiers', got {sorted(config or {})}")
    entries = config["tiers"]
    if not isinstance(entries, list) or not entries:
        raise TierConfigError("'tiers' must be a non-empty list")
    tiers: list[Tier] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "name" not in entry or set(entry) - {"name", "share"}:
            raise TierConfigError(f"tier #{i + 1} must have 'name' and optionally 'share', got {entry!r}")
        last = i == len(entries) - 1
        share = entry.get("share")
        if last and share is not None:
            raise TierConfigError(f"the last tier {entry['name']!r} takes the rest and must not have a share")
        if not last and not (isinstance(share, int | float) and 0 < share < 1):
            raise TierConfigError(f"tier {entry['name']!r} needs a share between 0 and 1, got {share!r}")
        tiers.append(Tier(str(entry["name"]), None if share is None else float(share)))
    names = [t.name for t in tiers]
    if len(set(names)) != len(names):
        raise TierConfigError(f"tier names must be unique, got {names}")
    if sum(t.share or 0.0 for t in tiers) >= 1.0:
        raise TierConfigError("tier shares must sum to less than 1 so the last tier is not empty by design")
    return tiers


def load_tiers(path: str | Path | None = None) -> list[Tier]:
    path = Path(path or default_tiers_path())
    with path.open() as handle:
        try:
            return parse_tiers(yaml.safe_load(handle))
        except TierConfigError as error:
            raise TierConfigError(f"{path}: {error}") from None


def value_tier_thresholds(values, tiers: list[Tier]) -> np.ndarray:
    """The lowest value that still makes each tier but the last (+inf where a tier is empty).

    Computed once over all customers, so a mart can then be tiered chunk by chunk.
    """
    values = np.asarray(values, dtype=float)
    if np.isnan(values).any():
        raise ValueError("predicted values contain NaN; cannot rank customers into tiers")
    ordered = np.sort(values)[::-1]
    # Integer cut-offs (round(cumulative share * n)) avoid float edges like 0.05 + 0.15 != 0.2.
    cutoffs = np.round(np.cumsum([t.share for t in tiers[:-1]]) * len(values)).astype(int)
    return np.array([_threshold(ordered, c) for c in cutoffs], dtype=float)


def _threshold(descending: np.ndarray, cutoff: int) -> float:
    """The value at position `cutoff`, unless at least half the customers tied with it lie below the cut: then
    the next higher value, so the tie goes to the lower tier. Without this, a baseline that predicts 0
    for half the shop put all of them in silver and left bronze empty."""
    if cutoff < 1:
        return np.inf
    value = descending[cutoff - 1]
    first = int(np.searchsorted(-descending, -value, side="left"))  # first position holding `value`
    last = int(np.searchsorted(-descending, -value, side="right"))  # one past the last
    if last - cutoff >= cutoff - first:
        return float(descending[first - 1]) if first >= 1 else np.inf
    return float(value)


def apply_value_tiers(values, tiers: list[Tier], thresholds: np.ndarray) -> np.ndarray:
    """Tier name per value: the first tier whose threshold the value reaches, else the last tier.

    Equal values always share a tier and a higher value never lands in a lower tier; values tied at a
    boundary go to the tier where most of them fall by rank, which can exceed its share.
    """
    values = np.asarray(values, dtype=float)
    reached = values[:, None] >= thresholds[None, :]
    position = np.where(reached.any(axis=1), reached.argmax(axis=1), len(tiers) - 1)
    return np.array([t.name for t in tiers], dtype=object)[position]


def assign_value_tiers(values: pd.Series, tiers: list[Tier]) -> pd.Series:
    """Tier name per customer, same index as `values` (see `apply_value_tiers`)."""
    if values.empty:
        return pd.Series([], index=values.index, dtype=object, name="value_tier")
    thresholds = value_tier_thresholds(values.to_numpy(), tiers)
    return pd.Series(apply_value_tiers(values.to_numpy(), tiers, thresholds), index=values.index, name="value_tier")
