"""Training examples stacked over rolling origins: inputs strictly before each origin, labels after.

Origin o contributes one row per customer active at o, with inputs built from rows before o and the
label "orders in [o, o + 30 days)". The newest origin is D - 30 days, so no label reaches D.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.families.propensity.config import DEFAULTS
from ml.families.propensity.inputs import build_model_input
from ml.families.propensity.labels import (
    ACTIVE_DAYS,
    HORIZON_DAYS,
    label_purchases,
    plan_rolling_origins,
    select_active_customers,
    to_timestamp,
)


@dataclass
class Examples:
    """Model input rows, their labels and the origin each row was built at."""

    inputs: pd.DataFrame  # wide model input (customer_id, static, seq_*)
    labels: np.ndarray  # 0/1
    origins: np.ndarray  # datetime64 origin per row

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, mask: np.ndarray) -> Examples:
        return Examples(self.inputs[mask].reset_index(drop=True), self.labels[mask], self.origins[mask])


def build_examples_at(order_lines: pd.DataFrame, origin, events: pd.DataFrame | None = None,
                      weeks: int = DEFAULTS.weeks, horizon_days: int = HORIZON_DAYS,
                      active_days: int = ACTIVE_DAYS, products: pd.DataFrame | None = None) -> Examples:
    """Examples for the customers active at one origin."""
    customers = select_active_customers(order_lines, origin, active_days)
    inputs = build_model_input(order_lines, origin, customers, events, weeks, products)
    labels = label_purchases(order_lines, customers, origin, horizon_days).to_numpy()
    origins = np.full(len(customers), to_timestamp(origin).to_datetime64())
    return Examples(inputs, labels.astype(np.int8), origins)


def build_training_examples(order_lines: pd.DataFrame, as_of, n_origins: int = DEFAULTS.n_train_origins,
                            step_days: int = DEFAULTS.step_days, events: pd.DataFrame | None = None,
                            weeks: int = DEFAULTS.weeks,
                            horizon_days: int = HORIZON_DAYS, products: pd.DataFrame | None = None) -> Examples:
    """Examples from `n_origins` past origins, newest first; origins with no active customer are skipped.

    Raises:
        ValueError: when no origin has an active customer (history too short for the window).
    """
    parts = [build_examples_at(order_lines, o, events, weeks, horizon_days, products=products)
             for o in plan_rolling_origins(as_of, n_origins, step_days, horizon_days)]
    stacked = stack_examples(parts)
    if stacked is None:
        raise ValueError(f"no active customers at any origin before {to_timestamp(as_of).date()}")
    return stacked


def stack_examples(parts: list[Examples]) -> Examples | None:
    """The non-empty parts as one set of examples, in order; None when every part is empty."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return None
    return Examples(pd.concat([p.inputs for p in parts], ignore_index=True),
                    np.concatenate([p.labels for p in parts]), np.concatenate([p.origins for p in parts]))


def split_by_origin(examples: Examples, seed: int = DEFAULTS.seed,
                    validation_share: float = DEFAULTS.validation_share) -> tuple[Examples, Examples]:
    """(fit, validation): the newest origin validates (out of time), older origins fit.

    With a single origin there is no time to split on, so a fixed, seeded share of customers validates.
    """
    origins = np.unique(examples.origins)
    if len(origins) > 1:
        is_val = examples.origins == origins.max()
    else:
        rng = np.random.default_rng(seed)
        is_val = rng.random(len(examples)) < validation_share
    return examples.select(~is_val), examples.select(is_val)
