"""Value intervals: simulated from BG/NBD + Gamma-Gamma with their parameter uncertainty, checked on
customers drawn from that process."""
import numpy as np
import pandas as pd
import pytest

from ml.families.customer_value import uncertainty
from ml.families.customer_value.clv import fit_clv_model
from tests.unit.customer_value.bgnbd_population import bgnbd_population


@pytest.fixture(scope="module")
def population():
    summary, _, spend = bgnbd_population(3000, seed=3, holdout_days=90)
    return summary, spend, fit_clv_model(summary, with_uncertainty=True)


def test_the_simulated_mean_is_the_models_expected_spend(population):
    from ml.families.customer_value.clv import predict_customer_value

    summary, _, model = population
    simulated = uncertainty.spend_interval(model, summary, 90.0, draws=400)  # no parameter draws: the fit
    expected = predict_customer_value(model, summary, horizon_days=90.0)["expected_spend"]
    assert simulated["mean"].sum() == pytest.approx(expected.sum(), rel=0.03)
    assert np.corrcoef(simulated["mean"], expected)[0, 1] > 0.97


def test_the_80_percent_interval_covers_about_80_percent_of_what_happened(population):
    summary, spend, model = population
    interval = uncertainty.spend_interval(model, summary, 90.0, uncertainty=model.uncertainty)
    covered = uncertainty.coverage(spend, interval["low"].to_numpy(), interval["high"].to_numpy())
    # a customer who buys nothing lands on the interval's edge at 0, so discrete spend is covered a
    # little more often than 80%; a far narrower or wider interval fails both bounds
    assert 0.78 <= covered <= 0.93
    bought = spend > 0
    assert uncertainty.coverage(spend[bought], interval["low"].to_numpy()[bought],
                                interval["high"].to_numpy()[bought]) > 0.6


def test_parameter_uncertainty_shrinks_with_more_customers():
    small, _, _ = bgnbd_population(500, seed=5)
    large, _, _ = bgnbd_population(4000, seed=5)
    spread = [np.diag(fit_clv_model(s, with_uncertainty=True).uncertainty.purchases) for s in (small, large)]
    assert (spread[1] < spread[0]).all() and (spread[1] > 0).all()
    # about 1/n: eight times the customers, roughly an eighth of the variance
    assert 3 < np.median(spread[0] / spread[1]) < 20


def test_the_interval_moves_onto_the_served_value_and_keeps_its_shape():
    simulated = pd.DataFrame({"mean": [10.0, 0.0], "low": [2.0, 0.0], "high": [25.0, 0.0]})
    low, high = uncertainty.scaled_interval(np.array([20.0, 5.0]), simulated)
    np.testing.assert_allclose(low, [4.0, 0.0])
    np.testing.assert_allclose(high, [50.0, 5.0])  # nothing simulated: [0, point]


def test_the_same_seed_gives_the_same_interval(population):
    summary, _, model = population
    first = uncertainty.spend_interval(model, summary.head(50), 365.0, uncertainty=model.uncertainty, seed=7)
    again = uncertainty.spend_interval(model, summary.head(50), 365.0, uncertainty=model.uncertainty, seed=7)
    pd.testing.assert_frame_equal(first, again)
