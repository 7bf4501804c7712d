"""The seam every model family plugs into: build features, train a challenger, evaluate, score.

A family module (`ml/families/<name>.py`) exposes `FAMILY = ModelFamily(...)`. The generic parts —
registering challengers, the champion/challenger decision, writing marts with lineage — live in
`ml.registry`, `ml.promotion` and `ml.marts`, so a family only supplies what is specific to it.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from ml.warehouse import Warehouse


@dataclass(frozen=True)
class ModelRef:
    """A registered model version, as scoring and promotion see it."""

    name: str
    version: str
    run_id: str
    # which candidate produced it (`valueflow.kind`: cnn, bgnbd, rfm, ...); baselines are
    # "baseline:<name>", so a mart row says whether a learned model or a simple rule wrote it
    kind: str = field(default="", compare=False)  # a tag of the version, not part of its identity

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


@dataclass
class Evaluation:
    """Metrics of challenger, champion and naive baseline on the same fresh holdout.

    `pairwise` holds metrics that compare challenger with champion directly (e.g. the adjusted Rand
    index of two segmentations of the same customers).
    """

    challenger: dict[str, float]
    baseline: dict[str, float]
    champion: dict[str, float] | None = None
    pairwise: dict[str, float] = field(default_factory=dict)
    holdout: str = ""  # what the holdout was, in words, for the promotion record
    # which of the family's baselines `baseline` holds (the best of them on this holdout); the one a
    # family registers and serves when no learned challenger beats it
    baseline_name: str = ""


@dataclass
class DriftFrames:
    """What a drift check compares: the champion's training inputs and the inputs of the scored date."""

    reference: pd.DataFrame
    current: pd.DataFrame
    numeric: list[str]
    categorical: list[str] = field(default_factory=list)
    reference_note: str = ""  # which rows the reference is, in words (ops.drift_reports.reference)


@dataclass(frozen=True)
class ModelFamily:
    name: str  # MLflow registered model name; policy file config/policies/<name>.yaml
    mart: str  # the marts.* table its scoring writes
    build_features: Callable[[Warehouse, dt.date], list[str]]
    train: Callable[[Warehouse, dt.date], ModelRef]
    evaluate: Callable[[Warehouse, dt.date, ModelRef, ModelRef | None], Evaluation]
    score: Callable[[Warehouse, dt.date, ModelRef], int]
    description: str = ""
    # Registers the named baseline, fitted on the history before the as-of date, as a version of the
    # family's model (a pyfunc with the family's signature), so it can serve when nothing learnt
    # beats it. None: the family has no baseline it can serve.
    register_baseline: Callable[[Warehouse, dt.date, str], ModelRef] | None = None
    # The model inputs the champion trained on (its version's as-of date, first) and those of the
    # scored date (second), for `ml.drift`; the family's scores are compared from its mart.
    drift_inputs: Callable[[Warehouse, dt.date, dt.date], DriftFrames] | None = None
