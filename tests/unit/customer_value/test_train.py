"""Fitting both kinds on features at cutoffs and judging them on the holdout."""

import pandas as pd
import pytest

from ml.families.customer_value.config import CustomerValueConfig
from ml.families.customer_value.evaluate import score_candidates
from ml.families.customer_value.features import build_cutoffs, targets_between
from ml.families.customer_value.model import ValuePredictor
from ml.families.customer_value.summary import build_customer_features, summarize_window
from ml.families.customer_value.train import available, build_gbm_training_set, choose, fit_candidates, kind_of
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


def _judge(fitted, features):
    predictor = ValuePredictor("rate", fitted.clv, fitted.gbm)
    return score_candidates(predictor, available(fitted), features[-2], features[-1])


def test_fit_and_evaluate_every_candidate_beside_the_baselines(transactions):
    cutoffs = build_cutoffs(END.date(), 90, 2)
    features = [build_customer_features(transactions, c) for c in cutoffs]
    fitted = fit_candidates(features[:-1], CustomerValueConfig(gbm_n_estimators=40), 90)
    metrics, deciles = _judge(fitted, features)
    assert set(metrics) == {"bgnbd", "gbm", "blend", "rate", "last_window", "bgnbd_gg"} and set(deciles) == set(metrics)
    assert {m["n_customers"] for m in metrics.values()} == {float(len(features[-2]))}
    assert metrics["bgnbd"]["mae_spend"] < metrics["rate"]["mae_spend"]
    assert metrics["bgnbd"]["spearman_spend"] > 0.2
    # Each output takes the candidate best on its own metric.
    chosen = choose(metrics, CustomerValueConfig())
    assert metrics[chosen["orders_from"]]["rmse_orders"] == min(m["rmse_orders"] for m in metrics.values())
    assert metrics[chosen["spend_from"]]["mae_spend"] == min(m["mae_spend"] for m in metrics.values())
    assert metrics[chosen["clv_from"]]["spearman_clv"] == max(m["spearman_clv"] for m in metrics.values())


def test_the_kind_names_one_candidate_or_the_mix():
    assert kind_of({"orders_from": "gbm", "spend_from": "gbm", "clv_from": "gbm"}) == "gbm"
    assert kind_of({"orders_from": "rate", "spend_from": "gbm", "clv_from": "gbm"}) == "orders=rate,spend=gbm,clv=gbm"


def test_young_shop_fits_bgnbd_and_the_baselines_alone(transactions, caplog):
    young = transactions.loc[transactions["day"] >= END - pd.Timedelta(days=150)]
    cutoffs = build_cutoffs(END.date(), 90, 3)
    features = [build_customer_features(young, c) for c in cutoffs]
    # Only the last training cutoff sees customers, so no window has known outcomes.
    assert [f.empty for f in features[:-2]] == [True, True, True]
    fitted = fit_candidates(features[:-1], CustomerValueConfig(), 90)
    assert fitted.gbm is None and "LightGBM not fitted" in caplog.text
    metrics, _ = _judge(fitted, features)
    assert set(metrics) == {"bgnbd", "rate", "last_window", "bgnbd_gg"}
