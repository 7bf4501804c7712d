"""Every hyper-parameter of the customer-value family in one frozen dataclass.

A deployment overrides fields in config/families/customer_value.yaml (`load`); the value tiers
have their own file, config/value_tiers.yaml (see `tiers.py`). Each step loads one
`CustomerValueConfig` and passes what it needs down; tests build one with the fields they change.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ml.families.config import load_config

NAME = "customer_value"


@dataclass(frozen=True)
class CustomerValueConfig:
    # -- horizons ----------------------------------------------------------------------------
    # Holdout length, step between feature cutoffs and horizon of the expected orders and spend;
    # the mart column expected_orders_90d is named for the default.
    horizon_days: int = 90
    clv_days: int = 365  # horizon of the discounted value (mart column predicted_clv_365d)
    annual_discount_rate: float = 0.10  # CLV is discounted monthly at this yearly rate
    # LightGBM learns from this many past horizons before the holdout (the feature table holds
    # training_windows + 2 cutoffs: those, the holdout start and the as-of date).
    training_windows: int = 3
    # -- features ----------------------------------------------------------------------------
    season_index_bounds: tuple[float, float] = (0.5, 2.0)  # a thin year must not triple or wipe out a forecast
    # -- models ------------------------------------------------------------------------------
    penalizer: float = 0.001  # keeps BG/NBD's a, b off their bounds on a few hundred customers
    seed: int = 0  # LightGBM's random_state
    gbm_n_estimators: int = 200
    gbm_learning_rate: float = 0.05
    gbm_num_leaves: int = 15
    gbm_min_child_samples: int = 10
    gbm_subsample: float = 0.8
    gbm_subsample_freq: int = 1
    gbm_colsample_bytree: float = 0.8
    # Hyper-parameters chosen per target (orders RMSE, spend MAE) on time-based validation inside
    # the training windows: fitted on all but the last window, judged on the last (never on the
    # holdout). Each grid point overrides gbm_num_leaves and gbm_min_child_samples.
    gbm_grid_num_leaves: tuple[int, ...] = (7, 15, 31)
    gbm_grid_min_child_samples: tuple[int, ...] = (10, 50)
    gbm_num_threads: int = 2  # the cap: workers share their cores with other tasks
    # Below this many training rows LightGBM runs on one thread: on small data OpenMP threads only
    # spin, and on a busy 2-core worker 937 rows took 0.26 s with one thread and 5-25 s with two.
    gbm_small_data_rows: int = 20_000
    # -- selection, evaluation, scoring ------------------------------------------------------
    # holdout metrics that pick, per output, the candidate it comes from (lower is better for the
    # first two; the value ranking takes the candidate with the highest Spearman)
    selection_metric: str = "mae_spend"
    orders_selection_metric: str = "rmse_orders"
    min_holdout_customers: int = 10  # fewer customers before the holdout: too few to judge a model
    score_batch_rows: int = 50_000  # feature rows per scoring batch

    @property
    def gbm_params(self) -> dict[str, float | int]:
        """The LightGBM settings above, under LightGBM's names."""
        return {
            "n_estimators": self.gbm_n_estimators, "learning_rate": self.gbm_learning_rate,
            "num_leaves": self.gbm_num_leaves, "min_child_samples": self.gbm_min_child_samples,
            "subsample": self.gbm_subsample, "subsample_freq": self.gbm_subsample_freq,
            "colsample_bytree": self.gbm_colsample_bytree, "num_threads": self.gbm_num_threads,
        }


DEFAULTS = CustomerValueConfig()


def load(path: Path | None = None) -> CustomerValueConfig:
    return load_config(NAME, CustomerValueConfig, path)
