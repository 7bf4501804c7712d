"""Precision-marketing audiences: declarative rules over the customer marts, one audience per customer.

`parse_audiences` validates config/audiences.yaml up front (unknown fields and tiers stop the run
with a message naming the audience); `build_audiences` applies it to whichever marts exist. The
marts arrive as frames keyed by source name, with the columns listed in `SOURCES`:

    value            customer_id, value_tier, p_alive, predicted_clv_365d, expected_orders_90d, historical_value,
                     predicted_clv_365d_low, p_order_30d, p_order_90d
    segments         customer_id, segment (a name also matches its "name (... spend)" variants)
    propensity       customer_id, propensity, churn_risk
    recommendations  customer_id, product_id, rank (1 = best)
    bought_together  customer_id, product_id, rank (1 = highest lift): cross-sell offers from
                     marts.product_associations (`ml.audiences.bought_together`)
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ml import settings

log = logging.getLogger(__name__)

SOURCES = {
    "value": ("value_tier", "p_alive", "predicted_clv_365d", "expected_orders_90d", "historical_value",
              "predicted_clv_365d_low", "p_order_30d", "p_order_90d"),
    "segments": ("segment",),
    "propensity": ("propensity", "churn_risk"),
    "recommendations": ("product_id", "rank"),
    "bought_together": ("product_id", "rank"),
}
# Rule field -> (source, column, kind). kind: "in" (list of names), "range" ({min, max}), "flag" (bool).
FIELDS = {
    "segment": ("segments", "segment", "in"),
    "value_tier": ("value", "value_tier", "in"),
    "p_alive": ("value", "p_alive", "range"),
    "predicted_clv_365d": ("value", "predicted_clv_365d", "range"),
    "expected_orders_90d": ("value", "expected_orders_90d", "range"),
    "historical_value": ("value", "historical_value", "range"),
    # the value's lower bound: "worth it even on a cautious reading"
    "predicted_clv_365d_low": ("value", "predicted_clv_365d_low", "range"),
    "p_order_30d": ("value", "p_order_30d", "range"),
    "p_order_90d": ("value", "p_order_90d", "range"),
    "propensity": ("propensity", "propensity", "range"),
    "churn_risk": ("propensity", "churn_risk", "range"),
    "has_recommendations": ("recommendations", "product_id", "flag"),
    "has_bought_together": ("bought_together", "product_id", "flag"),
}
# Offer type -> the source whose ranked products it attaches.
OFFER_SOURCES = {"top_recommendations": "recommendations", "bought_together": "bought_together"}
OUTPUT_COLUMNS = ["customer_id", "audience", "action", "reason", "priority", "offer_product_ids", "is_control"]
_AUDIENCE_KEYS = {"name", "priority", "action", "reason", "control_share", "when", "offer", "expected_effect"}
_TOP_KEYS = {"seed", "default_control_share", "default_expected_effect", "readout_window_days", "audiences"}
DEFAULT_EXPECTED_EFFECT = 0.05  # +5 points of conversion: what a campaign is expected to add
DEFAULT_READOUT_WINDOW_DAYS = 30


class AudienceConfigError(ValueError):
    """config/audiences.yaml is invalid; the message names the audience and the problem."""


@dataclass(frozen=True)
class Offer:
    type: str
    count: int


@dataclass(frozen=True)
class Audience:
    name: str
    priority: int
    action: str
    reason: str
    control_share: float
    when: dict = field(default_factory=dict)
    offer: Offer | None = None
    # the conversion lift (absolute, 0.05 = +5 points) the campaign is expected to make, which the
    # control group must be large enough to detect (marts.audience_uplift checks it)
    expected_effect: float = DEFAULT_EXPECTED_EFFECT


@dataclass(frozen=True)
class AudienceConfig:
    seed: int
    audiences: list[Audience]
    readout_window_days: int = DEFAULT_READOUT_WINDOW_DAYS  # conversions counted in [D, D + this)


def default_audiences_path() -> Path:
    return settings.config_dir() / "audiences.yaml"


def _check_share(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise AudienceConfigError(f"{where}: control share must be a number in [0, 1), got {value!r}")
    return float(value)


def _check_condition(name: str, key: str, value, tier_names: set[str] | None) -> None:
    if key not in FIELDS:
        raise AudienceConfigError(f"audience {name!r}: unknown field {key!r} under 'when'; known: {sorted(FIELDS)}")
    kind = FIELDS[key][2]
    if kind == "in":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise AudienceConfigError(f"audience {name!r}: {key!r} must be a non-empty list of names, got {value!r}")
        if key == "value_tier" and tier_names is not None and set(value) - tier_names:
            raise AudienceConfigError(
                f"audience {name!r}: unknown value tier(s) {sorted(set(value) - tier_names)}; known: {sorted(tier_names)}"
            )
    elif kind == "range":
        if not isinstance(value, dict) or not value or set(value) - {"min", "max"}:
            raise AudienceConfigError(f"audience {name!r}: {key!r} must be {{min: , max: }}, got {value!r}")
        bounds = [v for v in value.values()]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in bounds):
            raise AudienceConfigError(f"audience {name!r}: {key!r} bounds must be numbers, got {value!r}")
        if "min" in value and "max" in value and value["min"] > value["max"]:
            raise AudienceConfigError(f"audience {name!r}: {key!r} has min > max")
    elif not isinstance(value, bool):
        raise AudienceConfigError(f"audience {name!r}: {key!r} must be true or false, got {value!r}")


def _check_effect(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise AudienceConfigError(f"{where}: expected_effect must be a conversion lift in (0, 1), got {value!r}")
    return float(value)


def _parse_audience(entry, default_share: float, tier_names: set[str] | None,
                    default_effect: float = DEFAULT_EXPECTED_EFFECT) -> Audience:
    if not isinstance(entry, dict) or "name" not in entry:
        raise AudienceConfigError(f"every audience needs a 'name', got {entry!r}")
    name = entry["name"]
    if not isinstance(name, str) or not name.isidentifier() or name != name.lower():
        raise AudienceConfigError(f"audience name {name!r} must be a lower-case identifier")
    unknown = set(entry) - _AUDIENCE_KEYS
    if unknown:
        raise AudienceConfigError(f"audience {name!r}: unknown key(s) {sorted(unknown)}; known: {sorted(_AUDIENCE_KEYS)}")
    for key in ("priority", "action", "reason", "when"):
        if key not in entry:
            raise AudienceConfigError(f"audience {name!r}: missing {key!r}")
    priority = entry["priority"]
    if isinstance(priority, bool) or not isinstance(priority, int) or priority < 1:
        raise AudienceConfigError(f"audience {name!r}: priority must be an integer >= 1, got {priority!r}")
    when = entry["when"]
    if not isinstance(when, dict) or not when:
        raise AudienceConfigError(f"audience {name!r}: 'when' must map at least one field to a condition")
    for key, value in when.items():
        _check_condition(name, key, value, tier_names)
    offer = None
    if entry.get("offer") is not None:
        raw = entry["offer"]
        if not isinstance(raw, dict) or raw.get("type") not in OFFER_SOURCES or set(raw) - {"type", "count"}:
            raise AudienceConfigError(f"audience {name!r}: offer must be {{type: T, count: N}} with T one of "
                                      f"{sorted(OFFER_SOURCES)}, got {raw!r}")
        count = raw.get("count", 3)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise AudienceConfigError(f"audience {name!r}: offer count must be a positive integer, got {count!r}")
        offer = Offer(raw["type"], count)
    share = _check_share(entry.get("control_share", default_share), f"audience {name!r}")
    effect = _check_effect(entry.get("expected_effect", default_effect), f"audience {name!r}")
    return Audience(name, priority, str(entry["action"]), str(entry["reason"]), share, dict(when), offer, effect)


def parse_audiences(config, tier_names: set[str] | list[str] | None = None) -> AudienceConfig:
    """Validate the whole config; `tier_names` (from config/value_tiers.yaml) enables the tier check."""
    if not isinstance(config, dict):
        raise AudienceConfigError(f"audience config must be a mapping, got {type(config).__name__}")
    unknown = set(config) - _TOP_KEYS
    if unknown:
        raise AudienceConfigError(f"unknown top-level key(s) {sorted(unknown)}; known: {sorted(_TOP_KEYS)}")
    seed = config.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise AudienceConfigError(f"seed must be an integer, got {seed!r}")
    default_share = _check_share(config.get("default_control_share", 0.1), "default_control_share")
    default_effect = _check_effect(config.get("default_expected_effect", DEFAULT_EXPECTED_EFFECT),
                                   "default_expected_effect")
    window = config.get("readout_window_days", DEFAULT_READOUT_WINDOW_DAYS)
    if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 365:
        raise AudienceConfigError(f"readout_window_days must be an integer of days in [1, 365], got {window!r}")
    entries = config.get("audiences")
    if not isinstance(entries, list) or not entries:
        raise AudienceConfigError("'audiences' must be a non-empty list")
    tiers = set(tier_names) if tier_names is not None else None
    audiences = [_parse_audience(e, default_share, tiers, default_effect) for e in entries]
    for attribute, plural in (("name", "names"), ("priority", "priorities")):
        values = [getattr(a, attribute) for a in audiences]
        duplicates = sorted({v for v in values if values.count(v) > 1})
        if duplicates:
            raise AudienceConfigError(f"audience {plural} must be unique; repeated: {duplicates}")
    return AudienceConfig(seed, sorted(audiences, key=lambda a: a.priority), window)


def load_audiences(path: str | Path | None = None, tier_names=None) -> AudienceConfig:
    path = Path(path or default_audiences_path())
    with path.open() as handle:
        try:
            return parse_audiences(yaml.safe_load(handle), tier_names)
        except AudienceConfigError as error:
            raise AudienceConfigError(f"{path}: {error}") from None


def _available(frames: Mapping[str, pd.DataFrame | None], source: str, column: str) -> pd.DataFrame | None:
    frame = frames.get(source)
    if frame is None or "customer_id" not in frame.columns or column not in frame.columns:
        return None
    return frame


def _in(values: pd.Series, names: list[str], variants: bool) -> pd.Series:
    """Membership; with `variants`, "lapsed" also matches segmentation's split names such as
    "lapsed (higher spend)", so rules survive a change in the number of segments."""
    found = values.isin(names)
    if variants:
        text = values.astype("string")
        for name in names:
            found |= text.str.startswith(f"{name} (").fillna(False).astype(bool)
    return found


def _match(audience: Audience, frames, customers: pd.Index) -> pd.Series:
    matched = pd.Series(True, index=customers)
    for key, condition in audience.when.items():
        source, column, kind = FIELDS[key]
        frame = _available(frames, source, column)
        if frame is None:
            log.warning("audience %s: %s needs %s.%s, which is missing; the rule matches no one",
                        audience.name, key, source, column)
            return pd.Series(False, index=customers)
        if kind == "flag":
            has = customers.isin(frame["customer_id"].astype(str))
            matched &= has if condition else ~has
            continue
        dedup = frame.assign(customer_id=frame["customer_id"].astype(str)).drop_duplicates("customer_id")
        values = dedup.set_index("customer_id")[column].reindex(customers)
        if kind == "in":
            matched &= _in(values, condition, variants=key == "segment").to_numpy()
        else:
            numeric = pd.to_numeric(values, errors="coerce")
            ok = numeric.notna()  # a customer without a score cannot satisfy a threshold
            if "min" in condition:
                ok &= numeric >= condition["min"]
            if "max" in condition:
                ok &= numeric <= condition["max"]
            matched &= ok.fillna(False).to_numpy()
    return matched


def _offers(audience: Audience, frames, customers: pd.Index) -> pd.Series:
    empty = pd.Series(None, index=customers, dtype=object)
    if audience.offer is None or customers.empty:
        return empty
    source = OFFER_SOURCES[audience.offer.type]
    recs = _available(frames, source, "product_id")
    if recs is None:
        log.warning("audience %s: offer needs %s, which are missing; no products attached", audience.name, source)
        return empty
    recs = recs.assign(customer_id=recs["customer_id"].astype(str), product_id=recs["product_id"].astype(str))
    recs = recs.loc[recs["customer_id"].isin(customers)]
    if "rank" in recs.columns:
        recs = recs.sort_values(["customer_id", "rank", "product_id"])
    top = recs.groupby("customer_id", sort=False).head(audience.offer.count)
    joined = top.groupby("customer_id")["product_id"].agg(",".join)
    return joined.reindex(customers).astype(object).where(lambda s: s.notna(), None)


def _control_flags(customer_ids: pd.Index, share: float, seed: int, audience: str) -> np.ndarray:
    """Exactly round(share * n) customers as control: those with the smallest seeded hash.

    A hash rather than a random draw keeps a customer's control status the same from one day to the
    next (while the audience stays stable) and independent of row order.
    """
    n_control = int(round(share * len(customer_ids)))
    if n_control == 0:
        return np.zeros(len(customer_ids), dtype=bool)
    keys = [
        int.from_bytes(hashlib.blake2b(f"{seed}:{audience}:{c}".encode(), digest_size=8).digest(), "big")
        for c in customer_ids
    ]
    order = np.argsort(np.array(keys, dtype=np.uint64), kind="stable")
    flags = np.zeros(len(customer_ids), dtype=bool)
    flags[order[:n_control]] = True
    return flags


def build_audiences(config: AudienceConfig, frames: Mapping[str, pd.DataFrame | None]) -> pd.DataFrame:
    """One row per customer in at most one audience (smallest priority wins), with control flags.

    Customers are everyone present in any given mart. Missing marts (None or absent keys) only
    disable the rules that need them.
    """
    unknown = set(frames) - set(SOURCES)
    if unknown:
        raise KeyError(f"unknown audience source(s) {sorted(unknown)}; known: {sorted(SOURCES)}")
    ids = [f["customer_id"].astype(str) for f in frames.values() if f is not None and "customer_id" in f.columns]
    customers = pd.Index(sorted(set().union(*ids)) if ids else [], name="customer_id", dtype=object)
    unassigned = pd.Series(True, index=customers)
    parts = []
    for audience in config.audiences:  # already sorted by priority
        members = customers[(_match(audience, frames, customers) & unassigned).to_numpy()]
        unassigned[members] = False
        if members.empty:
            continue
        parts.append(pd.DataFrame({
            "customer_id": members.to_numpy(dtype=object),
            "audience": audience.name,
            "action": audience.action,
            "reason": audience.reason,
            "priority": audience.priority,
            "offer_product_ids": _offers(audience, frames, members).to_numpy(),
            "is_control": _control_flags(members, audience.control_share, config.seed, audience.name),
        }))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
            OUTPUT_COLUMNS, [object, object, object, object, "int64", object, bool])})
    return pd.concat(parts, ignore_index=True)[OUTPUT_COLUMNS]
