"""Every hyper-parameter of the propensity family, with its default; overrides come from
`config/families/propensity.yaml` (see `ml.families.config`).

Facts stay constants where they are defined: the channels and static feature columns
(`inputs`), the 30-day label horizon that the mart's `p_purchase_30d` names (`labels`), the model
kinds in order of simplicity (`model.KINDS`) and the selection metric (`selection`).
"""
from __future__ import annotations

from dataclasses import dataclass

from ml.families.config import load_config

NAME = "propensity"


@dataclass(frozen=True)
class PropensityConfig:
    # time layout: training origins D-60, D-88, ... before the holdout origin D-30
    n_train_origins: int = 6  # rolling training origins; the newest validates, the older ones fit
    step_days: int = 28  # days between consecutive training origins
    weeks: int = 52  # length of the weekly activity sequence (the seq_* input columns)
    # reads: a deterministic md5 hash sample of customers, so memory stops growing with the shop;
    # 40k customers x 5 fitting origins is ample for three small models (six origins of the wide
    # 52-week input held 6.4 GiB at 100k customers), and 100k measure AUC to about +-0.002
    train_max_customers_per_origin: int = 40_000  # at most this many customers per training origin
    holdout_max_customers: int = 100_000  # at most this many holdout customers
    min_holdout_customers: int = 20  # a smaller holdout (or one of a single class) compares nothing
    score_batch_customers: int = 5_000  # customers per scoring chunk (memory only; scoring is not sampled)
    # fitting, shared by the three kinds
    seed: int = 0  # model seeds, and the 25 % split when there is a single origin
    validation_share: float = 0.25  # share of customers that validates when there is a single origin
    calibration: str = "platt"  # "platt" or "isotonic" (monotone too, but needs large validation sets)
    threads: int = 2  # LightGBM and TensorFlow threads (shared 2-core hosts)
    # logistic
    logistic_c: float = 1.0  # inverse L2 strength on standardised inputs; 0.1 and 1 scored alike in backtests
    # LightGBM; trees are sized to the fitting rows (see `gbm.size_params`)
    gbm_n_estimators: int = 400  # most boosting rounds (early stopping usually ends sooner)
    gbm_learning_rate: float = 0.05
    gbm_subsample: float = 0.8  # row share per tree (bagging every round)
    gbm_colsample_bytree: float = 0.8  # feature share per tree
    gbm_reg_lambda: float = 1.0  # L2 on leaf values
    gbm_early_stopping_rounds: int = 30  # rounds without a better validation AUC before stopping
    gbm_max_leaves: int = 15  # num_leaves at most ...
    gbm_min_leaves: int = 4  # ... and at least ...
    gbm_rows_per_leaf: int = 200  # ... one leaf per this many fitting rows in between
    gbm_min_child_samples: int = 20  # rows per leaf at least ...
    gbm_rows_per_child: int = 40  # ... and at least 1/this of the fitting rows
    # CNN (Keras Conv1D over the weekly sequence, fused with the static features)
    cnn_filters: int = 16  # convolution filters and dense width
    cnn_dropout: float = 0.2  # before the hidden layer
    cnn_learning_rate: float = 3e-3  # Adam
    cnn_max_epochs: int = 30
    cnn_patience: int = 4  # epochs without a better validation AUC before early stopping
    cnn_batch_size: int = 256  # training batch


DEFAULTS = PropensityConfig()  # what the plain functions use unless handed a loaded config


def load(path=None) -> PropensityConfig:
    return load_config(NAME, PropensityConfig, path)
