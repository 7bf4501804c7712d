"""Holdout metrics, deciles, naive baseline and the LightGBM challenger on small synthetic frames."""
import numpy as np
import pandas as pd
import pytest

from ml.families.customer_value.evaluate import (
    build_decile_table,
    plot_deciles,
    predict_naive_baseline,
    score_predictions,
)
from ml.families.customer_value.gbm import fit_gbm_value_model, predict_gbm_value
from ml.families.customer_value.model import STACK_COLUMNS, stack_features
from ml.families.customer_value.summary import build_customer_features, summarize_customers, summarize_window
from ml.families.customer_value.train import build_gbm_training_set, fit_clv
from ml.sql import MissingColumns
from tests.unit.customer_value.synthetic import END, make_transactions


def build_training_set(transactions, end, *, horizon_days, n_cutoffs=3):
    """Features at end - k * horizon (k = n..1) with targets in the horizon after each."""
    cutoffs = [pd.Timestamp(end) - pd.Timedelta(days=k * horizon_days) for k in range(n_cutoffs, -1, -1)]
    return build_gbm_training_set([build_customer_features(transactions, c) for c in cutoffs])


@pytest.fixture(scope="module")
def transactions() -> pd.DataFrame:
    return make_transactions()


def test_perfect_predictions_score_zero_error():
    actual = pd.DataFrame({"orders": [0.0, 2.0, 5.0], "spend": [0.0, 20.0, 70.0]}, index=["a", "b", "c"])
    predictions = actual.rename(columns={"orders": "expected_orders", "spend": "expected_spend"})
    metrics = score_predictions(predictions, actual)
    assert metrics["mae_spend"] == 0 and metrics["rmse_orders"] == 0
    assert metrics["spearman_spend"] == pytest.approx(1.0)
    assert metrics["total_ratio_spend"] == pytest.approx(1.0)


def test_customers_without_holdout_purchases_count_as_zero():
    predictions = pd.DataFrame({"expected_orders": [1.0, 1.0], "expected_spend": [10.0, 30.0]}, index=["a", "b"])
    actual = pd.DataFrame({"orders": [1.0], "spend": [10.0]}, index=["a"])
    metrics = score_predictions(predictions, actual)
    assert metrics["mae_spend"] == 15.0 and metrics["rmse_spend"] == pytest.approx(np.sqrt(450))
    assert metrics["total_actual_spend"] == 10.0 and metrics["n_customers"] == 2


def test_score_predictions_rejects_missing_columns_and_empty_input():
    actual = pd.DataFrame({"orders": [1.0], "spend": [1.0]}, index=["a"])
    with pytest.raises(MissingColumns, match="expected_spend"):
        score_predictions(pd.DataFrame({"expected_orders": [1.0]}, index=["a"]), actual)
    with pytest.raises(ValueError, match="no predictions"):
        score_predictions(pd.DataFrame({"expected_orders": [], "expected_spend": []}), actual)


def test_decile_table_orders_bins_by_prediction():
    n = 50
    predictions = pd.DataFrame({"expected_orders": 0.0, "expected_spend": np.arange(n, dtype=float)},
                               index=[f"c{i}" for i in range(n)])
    actual = pd.DataFrame({"orders": 1.0, "spend": np.arange(n, dtype=float) * 2}, index=predictions.index)
    table = build_decile_table(predictions, actual)
    assert list(table["decile"]) == list(range(1, 11)) and (table["customers"] == 5).all()
    assert table["predicted_spend"].is_monotonic_decreasing and table["actual_spend"].is_monotonic_decreasing


def test_decile_chart_is_written(tmp_path):
    table = pd.DataFrame({"decile": [1, 2], "customers": [1, 1], "predicted_spend": [2.0, 1.0], "actual_spend": [3.0, 0.5]})
    path = plot_deciles({"bgnbd": table, "baseline": table}, tmp_path / "deciles.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_naive_baseline_repeats_the_historical_rate():
    summary = pd.DataFrame({"T": [180.0, 10.0], "n_transactions": [6.0, 1.0], "total_value": [600.0, 50.0]}, index=["a", "b"])
    baseline = predict_naive_baseline(summary, horizon_days=90)
    assert baseline.loc["a"].to_dict() == {"expected_orders": 3.0, "expected_spend": 300.0}
    assert baseline.loc["b", "expected_spend"] == 50.0  # span floored at one horizon


def test_training_set_never_reads_at_or_after_end(transactions):
    features, targets = build_training_set(transactions, END, horizon_days=90, n_cutoffs=2)
    # Targets of the latest cutoff cover [end - 90, end): they must equal a direct window count.
    direct = summarize_window(transactions, END - pd.Timedelta(days=90), END)
    assert targets["spend"].sum() == pytest.approx(
        direct["spend"].sum() + summarize_window(transactions, END - pd.Timedelta(days=180), END - pd.Timedelta(days=90))["spend"].sum()
    )
    future = pd.concat([transactions, pd.DataFrame({"customer_id": ["c000"], "day": [END], "value": [1e6]})])
    features_f, targets_f = build_training_set(future, END, horizon_days=90, n_cutoffs=2)
    pd.testing.assert_frame_equal(targets, targets_f)
    pd.testing.assert_frame_equal(features, features_f)


def test_gbm_challenger_is_deterministic_and_beats_a_constant(transactions):
    holdout_start = END - pd.Timedelta(days=90)
    features, targets = build_training_set(transactions, holdout_start, horizon_days=90, n_cutoffs=3)
    model = fit_gbm_value_model(features, targets, horizon_days=90, seed=0, params={"n_estimators": 60})
    scoring = build_customer_features(transactions, holdout_start)
    # the inputs stack the BG/NBD fitted at the same cutoff, as in training
    scoring = stack_features(fit_clv(scoring, 0.001), scoring, 90)
    first = predict_gbm_value(model, scoring)
    again = predict_gbm_value(fit_gbm_value_model(features, targets, horizon_days=90, seed=0,
                                                  params={"n_estimators": 60}), scoring)
    pd.testing.assert_frame_equal(first, again)
    assert (first >= 0).all().all() and list(first.index) == list(scoring.index)
    actual = summarize_window(transactions, holdout_start, END)
    metrics = score_predictions(first, actual)
    assert metrics["spearman_orders"] > 0.3  # ranks who buys next, which a constant cannot


def test_gbm_rejects_missing_features(transactions):
    features, targets = build_training_set(transactions, END, horizon_days=90, n_cutoffs=1)
    model = fit_gbm_value_model(features, targets, horizon_days=90, params={"n_estimators": 5})
    with pytest.raises(MissingColumns, match="orders_30d"):
        predict_gbm_value(model, features.drop(columns="orders_30d"))
    with pytest.raises(MissingColumns, match="spend"):
        fit_gbm_value_model(features, targets.drop(columns="spend"), horizon_days=90)


def test_training_set_needs_history(transactions):
    with pytest.raises(ValueError, match="no customers"):
        build_training_set(transactions, transactions["day"].min(), horizon_days=90)


def test_bgnbd_on_synthetic_days_ranks_holdout_buyers(transactions):
    from ml.families.customer_value.clv import fit_clv_model, predict_customer_value

    holdout_start = END - pd.Timedelta(days=90)
    summary = summarize_customers(transactions, holdout_start)
    model = fit_clv_model(summary)
    predictions = predict_customer_value(model, summary, horizon_days=90)
    metrics = score_predictions(predictions, summarize_window(transactions, holdout_start, END))
    baseline = score_predictions(predict_naive_baseline(summary, horizon_days=90),
                                 summarize_window(transactions, holdout_start, END))
    assert metrics["spearman_orders"] > 0.3
    assert 0.5 < metrics["total_ratio_orders"] < 2.0
    assert metrics["mae_orders"] < baseline["mae_orders"]


def test_lightgbm_threads_stay_within_the_cap():
    from ml.families.customer_value.gbm import threads_for

    assert threads_for(900, 2) == 1  # small data: extra threads only spin
    assert threads_for(1_000_000, 2) == 2


def test_stacked_bgnbd_inputs_are_point_in_time(transactions):
    """The BG/NBD outputs fed to LightGBM come from a fit on history before each cutoff: an order
    on or after the cutoff changes no input (it only moves the target of the window it falls in)."""
    cutoff = END - pd.Timedelta(days=90)
    later = pd.DataFrame({"customer_id": ["c000", "c001", "new"], "day": [cutoff, cutoff + pd.Timedelta(days=5), cutoff],
                          "value": [1e5, 50.0, 20.0]})
    with_later = pd.concat([transactions, later], ignore_index=True)
    cutoffs = [END - pd.Timedelta(days=270), END - pd.Timedelta(days=180), cutoff]
    x, _ = build_gbm_training_set([build_customer_features(transactions, c) for c in cutoffs])
    x_later, _ = build_gbm_training_set([build_customer_features(with_later, c) for c in cutoffs])
    assert set(STACK_COLUMNS) <= set(x.columns) and x[list(STACK_COLUMNS)].notna().all().all()
    pd.testing.assert_frame_equal(x, x_later)
    # At serving time too: the stacked inputs at the cutoff ignore the later orders.
    at, at_later = (build_customer_features(t, cutoff) for t in (transactions, with_later))
    pd.testing.assert_frame_equal(stack_features(fit_clv(at, 0.001), at, 90),
                                  stack_features(fit_clv(at_later, 0.001), at_later, 90))
