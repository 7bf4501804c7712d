"""Calibration, metrics and the three model kinds of the propensity family (small, seeded)."""
import numpy as np
import pandas as pd
import pytest

from ml.families.propensity import gbm
from ml.families.propensity.calibration import fit_calibrator
from ml.families.propensity.config import PropensityConfig
from ml.families.propensity.dataset import Examples, build_examples_at, build_training_examples, split_by_origin
from ml.families.propensity.inputs import STATIC_FEATURES
from ml.families.propensity.metrics import (
    assign_deciles,
    auc_standard_error,
    plot_calibration,
    plot_roc,
    score_probabilities,
    score_ranking,
    score_recency_baseline,
    top_decile_lift,
)
from ml.families.propensity.model import (
    load_propensity_model,
    save_propensity_model,
    score_customers,
    train_propensity_model,
)
from ml.sql import MissingColumns
from tests.unit.propensity.shop import make_shop

AS_OF = pd.Timestamp("2024-01-01") + pd.Timedelta(days=480)


@pytest.fixture(scope="module")
def splits():
    lines, events = make_shop(500, seed=3, with_events=True)
    ex = build_training_examples(lines, AS_OF - pd.Timedelta(days=30), n_origins=5, events=events)
    fit, val = split_by_origin(ex)
    holdout = build_examples_at(lines, AS_OF - pd.Timedelta(days=30), events)
    return fit, val, holdout


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibration_keeps_probabilities_in_range_and_ordered(method):
    rng = np.random.default_rng(0)
    raw = rng.uniform(0, 1, 400)
    labels = (rng.uniform(0, 1, 400) < raw ** 2).astype(int)  # raw score over-states the rate
    cal = fit_calibrator(raw, labels, method)
    grid = np.linspace(0, 1, 101)
    out = cal.transform(grid)
    assert out.min() >= 0 and out.max() <= 1
    assert np.all(np.diff(out) >= 0)
    if method == "platt":
        assert np.all(np.diff(out) > 0)  # strictly: ranking and deciles untouched
    assert abs(cal.transform(raw).mean() - labels.mean()) < 0.05


def test_calibration_failure_cases():
    with pytest.raises(ValueError):
        fit_calibrator(np.array([]), np.array([]))
    with pytest.raises(ValueError):
        fit_calibrator(np.array([0.1, 0.2]), np.array([0, 1]), method="magic")
    single = fit_calibrator(np.array([0.2, 0.4, 0.9]), np.array([0, 0, 0]))
    out = single.transform(np.array([0.2, 0.4, 0.9]))
    assert np.all(np.diff(out) > 0) and out.max() < 0.5


def test_top_decile_lift_and_capture_by_hand():
    labels = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1] * 2)  # 20 rows, 4 buyers, top decile = 2 rows
    scores = np.r_[np.array([9, 0, 0, 0, 0, 0, 0, 0, 0, 8.0]), np.zeros(10)]
    lift, capture = top_decile_lift(labels, scores)
    assert lift == pytest.approx(1.0 / 0.2) and capture == pytest.approx(0.5)
    assert np.isnan(top_decile_lift(np.zeros(5), np.arange(5))[0])


def test_metrics_and_baseline():
    labels = np.array([0, 0, 1, 1])
    m = score_probabilities(labels, np.array([0.1, 0.2, 0.8, 0.9]))
    assert m["roc_auc"] == 1 and m["brier"] == pytest.approx(0.025)
    assert set(m) >= {"roc_auc", "pr_auc", "log_loss", "brier", "lift_top_decile", "capture_top_decile"}
    assert score_recency_baseline(labels, np.array([300, 200, 10, 5]))["roc_auc"] == 1
    assert np.isnan(score_ranking(np.ones(3), np.arange(3))["roc_auc"])
    with pytest.raises(ValueError):
        score_probabilities(labels, np.array([0.1, 0.2, 0.8, 1.5]))


def test_deciles_put_the_likeliest_first():
    p = np.linspace(0, 1, 50)
    d = assign_deciles(p)
    assert d[-1] == 1 and d[0] == 10 and np.bincount(d)[1:].tolist() == [5] * 10
    assert np.all(np.diff(d) <= 0)


def test_lightgbm_beats_chance_and_recency_and_round_trips(splits, tmp_path):
    fit, val, holdout = splits
    model = train_propensity_model("lightgbm", fit, val, PropensityConfig(seed=0))
    p = model.predict_proba(holdout.inputs)
    m = score_probabilities(holdout.labels, p)
    base = score_recency_baseline(holdout.labels, holdout.inputs["recency_days"])
    assert m["roc_auc"] > 0.6 and m["roc_auc"] >= base["roc_auc"] - 0.01
    again = load_propensity_model(save_propensity_model(model, tmp_path / "m"))
    np.testing.assert_allclose(again.predict_proba(holdout.inputs), p, rtol=1e-6)
    scored = score_customers(model, holdout.inputs)
    assert np.allclose(scored["churn_risk"], 1 - scored["p_purchase_30d"])
    assert scored["propensity_decile"].between(1, 10).all()
    assert plot_roc({"lgbm": (holdout.labels, p)}, tmp_path / "roc.png").stat().st_size > 0
    assert plot_calibration({"lgbm": (holdout.labels, p)}, tmp_path / "cal.png").stat().st_size > 0


def _signal(n: int, seed: int) -> Examples:
    """Static features only; buyers are frequent, recent customers (a logistic signal in log space)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.gamma(2.0, 5.0, n) for c in STATIC_FEATURES})
    frame["frequency"] = rng.integers(1, 30, n).astype(float)
    frame["recency_days"] = rng.integers(0, 365, n).astype(float)
    frame["avg_days_between_orders"] = np.where(frame["frequency"] > 1, frame["avg_days_between_orders"], np.nan)
    frame["cart_to_purchase"] = np.nan  # a shop without events: an all-NaN column
    frame[["views", "carts", "views_30d", "carts_30d"]] = 0.0
    logit = 1.2 * np.log1p(frame["frequency"]) - 0.8 * np.log1p(frame["recency_days"]) + 0.5
    labels = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    frame.insert(0, "customer_id", [f"S{seed}-{i}" for i in range(n)])
    return Examples(frame, labels, np.zeros(n, dtype="datetime64[us]"))


def test_logistic_learns_a_tiny_signal_calibrates_and_round_trips(tmp_path):
    fit, val, fresh = _signal(300, 1), _signal(150, 2), _signal(400, 3)
    model = train_propensity_model("logistic", fit, val, PropensityConfig(seed=0))
    p = model.predict_proba(fresh.inputs)
    assert p.min() >= 0 and p.max() <= 1 and np.isfinite(p).all()
    assert score_ranking(fresh.labels, p)["roc_auc"] > 0.7  # well above chance on a fresh sample
    assert abs(p.mean() - fresh.labels.mean()) < 0.08  # Platt on validation: calibrated in the large
    np.testing.assert_allclose(train_propensity_model("logistic", fit, val, PropensityConfig(seed=0)).predict_proba(fresh.inputs), p)
    again = load_propensity_model(save_propensity_model(model, tmp_path / "logistic"))
    np.testing.assert_allclose(again.predict_proba(fresh.inputs), p, rtol=1e-6)
    assert (tmp_path / "logistic" / "estimator.json").exists()


def test_logistic_on_a_shop_beats_chance_and_recency(splits):
    fit, val, holdout = splits
    p = train_propensity_model("logistic", fit, val, PropensityConfig(seed=0)).predict_proba(holdout.inputs)
    auc = score_probabilities(holdout.labels, p)["roc_auc"]
    assert auc > 0.6 and auc >= score_recency_baseline(holdout.labels, holdout.inputs["recency_days"])["roc_auc"] - 0.01


def test_lightgbm_trees_shrink_with_the_number_of_rows():
    small, large = gbm.size_params(900), gbm.size_params(50_000)
    assert small["num_leaves"] == 4 and small["min_child_samples"] == 22
    assert large["num_leaves"] == 15 and large["min_child_samples"] == 1250
    assert gbm.size_params(10)["num_leaves"] == 4 and gbm.size_params(10)["min_child_samples"] == 20


def test_auc_standard_error_shrinks_with_rows_and_is_nan_without_both_classes():
    few, many = auc_standard_error(0.75, 50, 150), auc_standard_error(0.75, 500, 1500)
    assert 0.03 < few < 0.045 and many == pytest.approx(few / np.sqrt(10), rel=0.05)
    assert np.isnan(auc_standard_error(0.75, 0, 10)) and np.isnan(auc_standard_error(float("nan"), 5, 5))


def test_cnn_trains_deterministically_and_round_trips(splits, tmp_path):
    fit, val, holdout = splits
    first = train_propensity_model("cnn", fit, val, PropensityConfig(seed=0, cnn_max_epochs=3))
    second = train_propensity_model("cnn", fit, val, PropensityConfig(seed=0, cnn_max_epochs=3))
    p = first.predict_proba(holdout.inputs)
    np.testing.assert_allclose(second.predict_proba(holdout.inputs), p, atol=1e-5)
    assert p.min() >= 0 and p.max() <= 1 and score_ranking(holdout.labels, p)["roc_auc"] > 0.55
    again = load_propensity_model(save_propensity_model(first, tmp_path / "cnn"))
    np.testing.assert_allclose(again.predict_proba(holdout.inputs), p, atol=1e-5)


def test_training_failure_cases(splits):
    fit, val, _ = splits
    with pytest.raises(ValueError, match="unknown model kind"):
        train_propensity_model("svm", fit, val)
    with pytest.raises(ValueError, match="single class"):
        train_propensity_model("lightgbm", fit.select(fit.labels == 0), val)
    with pytest.raises(MissingColumns, match="recency_days"):
        train_propensity_model("lightgbm", fit, val).predict_proba(val.inputs.drop(columns="recency_days"))


@pytest.mark.parametrize("kind", ["logistic", "lightgbm"])
def test_pyfunc_takes_the_training_input_and_enforces_its_signature(splits, mlflow_store, kind):
    from ml import tracking
    from ml.families.propensity.pyfunc import log_propensity_pyfunc
    from ml.pyfunc import load_predictor, load_pyfunc

    fit, val, holdout = splits
    model = train_propensity_model(kind, fit, val, PropensityConfig(seed=0))
    with tracking.start_run("propensity", AS_OF.date(), run_name=f"pyfunc-{kind}"):  # artifacts in tmp_path
        uri = log_propensity_pyfunc(model, holdout.inputs.head(5)).model_uri
    loaded = load_pyfunc(uri)
    assert type(load_predictor(uri)).__name__ == "PropensityModel"  # read back from its folder, not unpickled
    assert "seq_orders_l00" in loaded.metadata.get_input_schema().input_names()
    out = loaded.predict(holdout.inputs)
    np.testing.assert_allclose(out["p_purchase_30d"], model.predict_proba(holdout.inputs))
    np.testing.assert_allclose(out["churn_risk"], 1 - out["p_purchase_30d"])
    with pytest.raises(Exception, match="recency_days"):
        loaded.predict(holdout.inputs.drop(columns="recency_days"))
