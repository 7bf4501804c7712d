"""Fitting both kinds on features at cutoffs and judging them on the holdout."""

import pandas as pd
import pytest

from ml.families.customer_value.config import CustomerValueConfig
from ml.families.customer_value.evaluate import evaluate_on_holdout
from ml.families.customer_value.features import build_cutoffs, targets_between
from ml.families.customer_value.summary import build_customer_features, summarize_window
from ml.families.customer_value.train import build_gbm_training_set, fit_value_models
from tests.unit.customer_value.synthetic import END, make_transactions


@pytest.fixture(scope="module")
def transactions():
    return make_transactions(150, seed=3)


def test_targets_from_cumulative_features_equal_a_window_count(transactions):
    start, end = END - pd.Timedelta(days=90), END
    targets = targets_between(build_customer_features(transactions, start), build_customer_features(transactions, end))
    direct = summarize_window(transactions, start, end).reindex(targets.index, fill_value=0.0)
    pd.testing.assert_frame_equal(targets, direct[["orders", "spend"]], check_names=False)


def test_training_set_needs_two_cutoffs(transactions):
    with pytest.raises(ValueError, match="two or more"):
        build_gbm_training_set([build_customer_features(transactions, END)])


def test_fit_and_evaluate_both_kinds_against_the_baseline(transactions):
    cutoffs = build_cutoffs(END.date(), 90, 2)
    features = [build_customer_features(transactions, c) for c in cutoffs]
    models = fit_value_models(features[:-1], CustomerValueConfig(gbm_n_estimators=40))
    assert set(models) == {"bgnbd", "gbm"}
    metrics, deciles = evaluate_on_holdout(models, features[-2], features[-1], horizon_days=90)
    assert set(metrics) == {"bgnbd", "gbm", "baseline"} and set(deciles) == set(metrics)
    assert {m["n_customers"] for m in metrics.values()} == {float(len(features[-2]))}
    assert metrics["bgnbd"]["mae_spend"] < metrics["baseline"]["mae_spend"]
    assert metrics["bgnbd"]["spearman_spend"] > 0.2


def test_young_shop_fits_bgnbd_alone(transactions, caplog):
    young = transactions.loc[transactions["day"] >= END - pd.Timedelta(days=150)]
    cutoffs = build_cutoffs(END.date(), 90, 3)
    features = [build_customer_features(young, c) for c in cutoffs]
    # Only the last training cutoff sees customers, so no window has known outcomes.
    assert [f.empty for f in features[:-2]] == [True, True, True]
    models = fit_value_models(features[:-1], CustomerValueConfig())
    assert set(models) == {"bgnbd"} and "LightGBM not fitted" in caplog.text
    metrics, _ = evaluate_on_holdout(models, features[-2], features[-1], horizon_days=90)
    assert set(metrics) == {"bgnbd", "baseline"}
