"""`PropensityModel`: one fitted estimator (logistic, LightGBM or CNN) or a baseline ranking (recency,
frequency, BG/NBD), its input scaling and its calibrator behind a single `predict_proba(model_input)`,
plus save/load to a plain folder (JSON + the estimator's native file) so MLflow can ship it as a pyfunc
without pickling Keras objects. The BG/NBD parameters travel inside the model: its two columns are
computed from the input at prediction time, so the pyfunc's input signature is the SQL features'.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.families.propensity import cnn, gbm, linear
from ml.families.propensity.baselines import BASELINE_KINDS, BGNBD_FEATURES, add_bgnbd_inputs, baseline_raw_score
from ml.families.propensity.calibration import Calibrator, fit_calibrator
from ml.families.propensity.config import DEFAULTS, PropensityConfig
from ml.families.propensity.dataset import Examples
from ml.families.propensity.inputs import STATIC_FEATURES, sequences_from_input
from ml.sql import require_columns

KINDS = ("logistic", "lightgbm", "cnn")  # simplest first: the order the one-standard-error rule prefers
STACKED_FEATURES = STATIC_FEATURES + BGNBD_FEATURES  # what the learned kinds take


@dataclass
class InputScaler:
    """log1p then standardise; medians impute missing static values (e.g. one-order customers)."""

    static_median: list[float] = field(default_factory=list)
    static_mean: list[float] = field(default_factory=list)
    static_std: list[float] = field(default_factory=list)
    channel_std: list[float] = field(default_factory=list)

    @staticmethod
    def _slog(x: np.ndarray) -> np.ndarray:
        return np.sign(x) * np.log1p(np.abs(x))

    @classmethod
    def fit(cls, static: np.ndarray, sequences: np.ndarray | None = None) -> InputScaler:
        """Fit on static features and, for the CNN, the weekly sequences (None: static only)."""
        # pandas' median skips NaN without warning on all-NaN columns (cart_to_purchase without events)
        median = np.nan_to_num(pd.DataFrame(static).median().to_numpy(dtype=float))
        s = cls._slog(np.where(np.isnan(static), median, static))
        seq_std = [] if sequences is None else cls._slog(sequences).reshape(-1, sequences.shape[2]).std(axis=0)
        return cls(median.tolist(), s.mean(axis=0).tolist(), np.where(s.std(axis=0) > 0, s.std(axis=0), 1.0).tolist(),
                   np.where(np.asarray(seq_std) > 0, seq_std, 1.0).tolist())

    def transform_static(self, static: np.ndarray) -> np.ndarray:
        s = self._slog(np.where(np.isnan(static), np.asarray(self.static_median), static))
        return ((s - np.asarray(self.static_mean)) / np.asarray(self.static_std)).astype("float32")

    def transform(self, static: np.ndarray, sequences: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = self._slog(sequences) / np.asarray(self.channel_std)
        return q.astype("float32"), self.transform_static(static)


@dataclass
class PropensityModel:
    kind: str  # one of KINDS
    static_features: list[str]
    weeks: int
    calibrator: Calibrator
    estimator: Any  # linear.LinearScorer, lightgbm.Booster or keras.Model
    scaler: InputScaler | None = None
    best_iteration: int | None = None
    info: dict = field(default_factory=dict)  # epochs / iterations, for logging
    bgnbd: dict | None = None  # BG/NBD parameters fitted on the training customers (see baselines.py)

    @property
    def is_baseline(self) -> bool:
        return self.kind in BASELINE_KINDS

    def static_inputs(self, model_input: pd.DataFrame) -> pd.DataFrame:
        """The static features this model reads, the BG/NBD columns computed from the input."""
        wanted = [c for c in self.static_features if c not in BGNBD_FEATURES]
        require_columns(model_input, wanted, "model input")
        static = model_input[wanted].astype("float64")
        if any(c in BGNBD_FEATURES for c in self.static_features):
            static = add_bgnbd_inputs(static, self.bgnbd)
        return static[self.static_features]

    def raw_scores(self, model_input: pd.DataFrame) -> np.ndarray:
        """Uncalibrated scores in [0, 1]; raises ValueError when input columns are missing."""
        static = self.static_inputs(model_input)
        if self.is_baseline:
            return baseline_raw_score(self.kind, static)
        if self.kind == "lightgbm":
            return gbm.predict_lightgbm(self.estimator, static, self.best_iteration)
        if self.kind == "logistic":
            return self.estimator.predict(self.scaler.transform_static(static.to_numpy()))
        seq, stat = self.scaler.transform(static.to_numpy(), sequences_from_input(model_input, self.weeks))
        return cnn.predict_cnn(self.estimator, seq, stat)

    def predict_proba(self, model_input: pd.DataFrame) -> np.ndarray:
        """Calibrated P(order in the next 30 days), one per input row."""
        if len(model_input) == 0:
            return np.zeros(0)
        return self.calibrator.transform(self.raw_scores(model_input))

    def predict(self, model_input: pd.DataFrame) -> pd.DataFrame:
        """What the pyfunc returns: p_purchase_30d and churn_risk (= 1 - p), one row per input row."""
        p = self.predict_proba(model_input)
        return pd.DataFrame({"p_purchase_30d": p, "churn_risk": 1.0 - p})


def baseline_features(kind: str) -> list[str]:
    """The static columns a baseline kind ranks by (BG/NBD's are computed from its summaries)."""
    return {"recency": ["recency_days"], "frequency": ["frequency"]}.get(
        kind, ["recency_days", "frequency", "tenure_days", kind])


def train_propensity_model(kind: str, fit: Examples, val: Examples, config: PropensityConfig = DEFAULTS,
                           static_features=None, bgnbd: dict | None = None) -> PropensityModel:
    """Fit one kind on `fit`, early-stop and calibrate on `val`, with the settings of `config`.

    `bgnbd` holds BG/NBD parameters fitted on the fitting customers; with them the learned kinds take
    its two columns as inputs (default features: STACKED_FEATURES, else STATIC_FEATURES). A baseline
    kind fits nothing but its calibrator.

    Raises:
        ValueError: unknown kind, empty split, or a fitting split with a single class.
    """
    if kind not in KINDS + BASELINE_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {KINDS + BASELINE_KINDS}")
    if len(fit) == 0 or len(val) == 0:
        raise ValueError(f"need fitting and validation rows (got {len(fit)} and {len(val)})")
    if len(np.unique(fit.labels)) < 2:
        raise ValueError("the fitting split has a single class; widen the history or add origins")
    if kind in BASELINE_KINDS:
        model = PropensityModel(kind, baseline_features(kind), config.weeks, Calibrator("platt"), None, bgnbd=bgnbd,
                                info={"baseline": kind})
        model.calibrator = fit_calibrator(model.raw_scores(val.inputs), val.labels, config.calibration)
        return model
    if static_features is None:
        static_features = STACKED_FEATURES if bgnbd is not None else STATIC_FEATURES
    static_features, weeks = list(static_features), config.weeks
    shell = PropensityModel(kind, static_features, weeks, Calibrator("platt"), None, bgnbd=bgnbd)
    x_fit, x_val = shell.static_inputs(fit.inputs), shell.static_inputs(val.inputs)
    if kind == "lightgbm":
        booster, best = gbm.fit_lightgbm(x_fit, fit.labels, x_val, val.labels, config)
        model = PropensityModel(kind, static_features, weeks, Calibrator("platt"), booster, best_iteration=best,
                                info={"best_iteration": best, **gbm.size_params(len(fit), config)}, bgnbd=bgnbd)
    elif kind == "logistic":
        scaler = InputScaler.fit(x_fit.to_numpy())
        scorer = linear.fit_logistic(scaler.transform_static(x_fit.to_numpy()), fit.labels, config)
        model = PropensityModel(kind, static_features, weeks, Calibrator("platt"), scorer, scaler,
                                info={"C": config.logistic_c, "penalty": "l2"}, bgnbd=bgnbd)
    else:
        seq_fit, seq_val = sequences_from_input(fit.inputs, weeks), sequences_from_input(val.inputs, weeks)
        scaler = InputScaler.fit(x_fit.to_numpy(), seq_fit)
        q_fit, s_fit = scaler.transform(x_fit.to_numpy(), seq_fit)
        q_val, s_val = scaler.transform(x_val.to_numpy(), seq_val)
        net, epochs = cnn.fit_cnn(q_fit, s_fit, fit.labels, q_val, s_val, val.labels, config)
        model = PropensityModel(kind, static_features, weeks, Calibrator("platt"), net, scaler,
                                info={"epochs": epochs}, bgnbd=bgnbd)
    model.calibrator = fit_calibrator(model.raw_scores(val.inputs), val.labels, config.calibration)
    return model


def save_propensity_model(model: PropensityModel, folder: str | Path) -> Path:
    """Write meta.json plus estimator.keras (CNN), estimator.txt (LightGBM) or estimator.json (logistic)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"kind": model.kind, "static_features": model.static_features, "weeks": model.weeks,
            "calibrator": asdict(model.calibrator), "scaler": asdict(model.scaler) if model.scaler else None,
            "best_iteration": model.best_iteration, "info": model.info, "bgnbd": model.bgnbd}
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))
    if model.is_baseline:
        pass  # nothing but the calibrator and the BG/NBD parameters, both in meta.json
    elif model.kind == "cnn":
        model.estimator.save(folder / "estimator.keras")
    elif model.kind == "logistic":
        (folder / "estimator.json").write_text(json.dumps(asdict(model.estimator)))
    else:
        model.estimator.save_model(str(folder / "estimator.txt"), num_iteration=model.best_iteration)
    return folder


def load_propensity_model(folder: str | Path) -> PropensityModel:
    folder = Path(folder)
    meta = json.loads((folder / "meta.json").read_text())
    if meta["kind"] in BASELINE_KINDS:
        estimator = None
    elif meta["kind"] == "cnn":
        cnn.configure_tensorflow()
        import keras

        estimator = keras.saving.load_model(folder / "estimator.keras", compile=False)
    elif meta["kind"] == "logistic":
        estimator = linear.LinearScorer(**json.loads((folder / "estimator.json").read_text()))
    else:
        import lightgbm as lgb

        estimator = lgb.Booster(model_file=str(folder / "estimator.txt"))
    return PropensityModel(meta["kind"], meta["static_features"], meta["weeks"], Calibrator(**meta["calibrator"]),
                           estimator, InputScaler(**meta["scaler"]) if meta["scaler"] else None,
                           meta["best_iteration"], meta["info"], meta.get("bgnbd"))


def build_score_rows(customer_ids, probabilities: np.ndarray, deciles: np.ndarray | None = None) -> pd.DataFrame:
    """Mart rows: customer_id, p_purchase_30d, churn_risk, propensity_decile (1 = likeliest buyers).

    churn_risk = 1 - p_purchase_30d: the calibrated probability that the customer places *no* order in
    the next 30 days. One model, one horizon, so the two columns can never disagree in ranking; a
    90-day horizon would need a second model whose newest training labels end 90 days before D, i.e.
    stale by two more months. Read it as "risk of going quiet this month".

    Deciles are computed over `probabilities` unless given (chunked scoring passes global ones).
    """
    from ml.families.propensity.metrics import assign_deciles

    p = np.asarray(probabilities, dtype=float)
    deciles = assign_deciles(p) if deciles is None else np.asarray(deciles)
    return pd.DataFrame({"customer_id": np.asarray(customer_ids).astype(str), "p_purchase_30d": p,
                         "churn_risk": 1.0 - p, "propensity_decile": deciles.astype("int64")})


def score_customers(model: PropensityModel, model_input: pd.DataFrame) -> pd.DataFrame:
    """Mart rows (see `build_score_rows`) for every row of a model input frame."""
    require_columns(model_input, ["customer_id"], "model input")
    return build_score_rows(model_input["customer_id"].to_numpy(), model.predict_proba(model_input))
