"""BG/NBD, Gamma-Gamma and CLV: reproduction of the published CDNOW estimates and behaviour checks."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special

from ml.families.customer_value import bgnbd, gamma_gamma
from ml.families.customer_value.clv import CLVModel, discounted_value, fit_clv_model, predict_customer_value
from ml.families.customer_value.summary import summarize_customers
from ml.sql import MissingColumns

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "cdnow"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "cdnow_customers_summary_with_transactions.csv")


@pytest.fixture(scope="module")
def cdnow_bgnbd(cdnow) -> bgnbd.BGNBDParams:
    return bgnbd.fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])


PAPER = bgnbd.BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)


def test_bgnbd_reproduces_fader_hardie_lee_2005(cdnow, cdnow_bgnbd):
    fitted = cdnow_bgnbd
    assert fitted.r == pytest.approx(0.243, abs=1e-3)
    assert fitted.alpha == pytest.approx(4.414, abs=1e-2)
    assert fitted.a == pytest.approx(0.793, abs=1e-3)
    assert fitted.b == pytest.approx(2.426, abs=1e-2)
    total_ll = bgnbd.log_likelihood(fitted, cdnow["x"], cdnow["t_x"], cdnow["T"]).sum()
    assert total_ll == pytest.approx(-9582.4, abs=0.1)


def test_gamma_gamma_reproduces_published_estimates(cdnow):
    fitted = gamma_gamma.fit_gamma_gamma(cdnow["x"], cdnow["zbar"])
    assert fitted.p == pytest.approx(6.25, abs=1e-2)
    assert fitted.q == pytest.approx(3.74, abs=1e-2)
    assert fitted.gamma == pytest.approx(15.44, abs=2e-2)


def test_expected_purchases_of_a_new_customer_rise_and_flatten():
    # Customers drop out over time, so the cumulative curve must be increasing and concave.
    t = np.arange(13.0, 79.0, 13.0)
    curve = bgnbd.expected_purchases_new(PAPER, t)
    assert np.all(np.diff(curve) > 0) and np.all(np.diff(np.diff(curve)) < 0)


def test_euler_form_equals_the_paper_formula(cdnow):
    x, t_x, T, t = cdnow["x"].to_numpy(), cdnow["t_x"].to_numpy(), cdnow["T"].to_numpy(), 39.0
    r, alpha, a, b = PAPER.r, PAPER.alpha, PAPER.a, PAPER.b
    paper = (a + b + x - 1) / (a - 1) * (
        1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    ) / (1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    np.testing.assert_allclose(bgnbd.expected_purchases(PAPER, t, x, t_x, T), paper, rtol=1e-9)


def test_conditional_expectation_for_the_paper_example():
    # Section 5 of the paper: x = 2, t_x = 30.43, T = 38.86 -> 1.226 purchases in the next 39 weeks.
    assert bgnbd.expected_purchases(PAPER, 39, [2], [30.43], [38.86])[0] == pytest.approx(1.226, abs=2e-3)


def test_p_alive_falls_with_time_since_last_purchase():
    recent, stale = bgnbd.probability_alive(PAPER, [5, 5], [38.0, 10.0], [39.0, 39.0])
    assert 0 < stale < recent < 1
    assert bgnbd.probability_alive(PAPER, [0], [0.0], [39.0])[0] == 1.0


def test_expected_purchases_increase_with_horizon_and_frequency():
    horizons = bgnbd.expected_purchases(PAPER, [10, 20, 40], [3, 3, 3], [30.0] * 3, [39.0] * 3)
    assert np.all(np.diff(horizons) > 0)
    by_frequency = bgnbd.expected_purchases(PAPER, 39, [1, 5, 10], [38.0] * 3, [39.0] * 3)
    assert np.all(np.diff(by_frequency) > 0)


@pytest.mark.parametrize(
    "x, t_x, T",
    [([1], [5.0], [4.0]), ([-1], [0.0], [1.0]), ([1, 2], [1.0], [2.0]), ([], [], []), ([np.nan], [0.0], [1.0])],
)
def test_bgnbd_rejects_bad_input(x, t_x, T):
    with pytest.raises(ValueError):
        bgnbd.fit_bgnbd(x, t_x, T)


def test_bgnbd_needs_a_repeat_buyer():
    with pytest.raises(ValueError, match="repeat"):
        bgnbd.fit_bgnbd([0, 0], [0.0, 0.0], [5.0, 3.0])


def test_gamma_gamma_shrinks_towards_population_mean():
    params = gamma_gamma.GammaGammaParams(p=6.25, q=3.74, gamma=15.44)
    population = params.population_mean
    one, many = gamma_gamma.conditional_expected_spend(params, [1, 20], [100.0, 100.0])
    assert population < one < many < 100.0
    assert gamma_gamma.conditional_expected_spend(params, [0], [0.0])[0] == pytest.approx(population)


def test_gamma_gamma_needs_repeat_buyers():
    with pytest.raises(ValueError, match="two repeat buyers"):
        gamma_gamma.fit_gamma_gamma([0, 1], [0.0, 10.0])


def test_summary_builder_reproduces_the_cdnow_summary(cdnow):
    raw = pd.read_csv(
        FIXTURES / "CDNOW_sample_first60.txt", sep=r"\s+", header=None,
        names=["master_id", "sample_id", "date", "cds", "usd"], dtype={"date": str},
    )
    transactions = (
        pd.DataFrame({
            "customer_id": raw["sample_id"].astype(str),
            "day": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "value": raw["usd"],
        })
        .groupby(["customer_id", "day"], as_index=False)["value"].sum()
    )
    summary = summarize_customers(transactions, "1997-10-01", time_unit_days=7)
    expected = cdnow.set_index(cdnow["ID"].astype(str)).loc[summary.index]
    assert len(summary) == 60
    np.testing.assert_array_equal(summary["frequency"], expected["x"])
    np.testing.assert_allclose(summary["recency"], expected["t_x"], atol=5e-3)
    np.testing.assert_allclose(summary["T"], expected["T"], atol=5e-3)
    np.testing.assert_allclose(summary["monetary_value"], expected["zbar"], atol=5e-3)


def _summary(cdnow: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"frequency": cdnow["x"], "recency": cdnow["t_x"], "T": cdnow["T"], "monetary_value": cdnow["zbar"]})


def test_clv_model_fits_both_parts_and_round_trips(cdnow):
    model = fit_clv_model(_summary(cdnow), time_unit_days=7)
    assert model.purchases.r == pytest.approx(0.243, abs=1e-3)
    assert model.spend.p == pytest.approx(6.25, abs=1e-2)
    assert CLVModel.from_dict(model.to_dict()) == model


def test_clv_discounting(cdnow):
    model = CLVModel(PAPER, gamma_gamma.GammaGammaParams(6.25, 3.74, 15.44), time_unit_days=7)
    summary = _summary(cdnow).head(50)
    undiscounted = discounted_value(model, summary, horizon_days=364, annual_discount_rate=0.0)
    direct = bgnbd.expected_purchases(PAPER, 52, summary["frequency"], summary["recency"], summary["T"]) * (
        gamma_gamma.conditional_expected_spend(model.spend, summary["frequency"], summary["monetary_value"])
    )
    np.testing.assert_allclose(undiscounted, direct, rtol=1e-9)
    discounted = discounted_value(model, summary, horizon_days=364, annual_discount_rate=0.15)
    assert np.all(discounted < undiscounted) and np.all(discounted > undiscounted / 1.15)


def test_predict_customer_value_columns_and_consistency(cdnow):
    model = CLVModel(PAPER, gamma_gamma.GammaGammaParams(6.25, 3.74, 15.44), time_unit_days=7)
    out = predict_customer_value(model, _summary(cdnow).head(20), horizon_days=90, clv_days=365)
    assert list(out.columns) == ["expected_orders", "p_alive", "expected_order_value", "expected_spend", "predicted_clv"]
    np.testing.assert_allclose(out["expected_spend"], out["expected_orders"] * out["expected_order_value"])
    assert (out["predicted_clv"] > out["expected_spend"]).all()  # a year holds more than 90 days


def test_fit_clv_model_rejects_missing_columns_and_empty_input(cdnow):
    with pytest.raises(MissingColumns, match="monetary_value"):
        fit_clv_model(_summary(cdnow).drop(columns="monetary_value"))
    with pytest.raises(ValueError, match="empty"):
        fit_clv_model(_summary(cdnow).head(0))


@pytest.mark.parametrize("point", [(0.3, 5.0, 0.7, 2.0), (2.0, 40.0, 0.2, 6.0)])
def test_bgnbd_gradient_is_the_log_likelihoods_derivative(cdnow, point):
    from scipy import optimize

    x, t_x, T = cdnow["x"], cdnow["t_x"], cdnow["T"]
    exact = bgnbd.log_likelihood_gradient(bgnbd.BGNBDParams(*point), x, t_x, T).sum(axis=1)
    numeric = optimize.approx_fprime(np.array(point), lambda p: bgnbd.log_likelihood(
        bgnbd.BGNBDParams(*p), x, t_x, T).sum(), 1e-6)
    assert exact == pytest.approx(numeric, rel=1e-4, abs=1e-3)


def test_gamma_gamma_gradient_is_the_log_likelihoods_derivative(cdnow):
    from scipy import optimize

    buyers = cdnow[cdnow["x"] > 0]
    point = np.array([5.0, 3.0, 12.0])
    exact = gamma_gamma.log_likelihood_gradient(gamma_gamma.GammaGammaParams(*point), buyers["x"], buyers["zbar"])
    numeric = optimize.approx_fprime(point, lambda p: gamma_gamma.log_likelihood(
        gamma_gamma.GammaGammaParams(*p), buyers["x"], buyers["zbar"]).sum(), 1e-6)
    assert exact.sum(axis=1) == pytest.approx(numeric, rel=1e-4, abs=1e-3)


def test_fits_match_the_lifetimes_package_to_1e_4(cdnow):
    """lifetimes (the reference implementation, MIT) fitted on the same CDNOW summaries."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lifetimes import BetaGeoFitter, GammaGammaFitter

        theirs = dict(BetaGeoFitter().fit(cdnow["x"], cdnow["t_x"], cdnow["T"]).params_)
        buyers = cdnow[cdnow["x"] > 0]
        spend = dict(GammaGammaFitter().fit(buyers["x"], buyers["zbar"]).params_)
    ours = bgnbd.fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"]).to_dict()
    assert ours == pytest.approx(theirs, rel=1e-4)
    ours = gamma_gamma.fit_gamma_gamma(cdnow["x"], cdnow["zbar"])
    assert (ours.p, ours.q, ours.gamma) == pytest.approx((spend["p"], spend["q"], spend["v"]), rel=1e-4)
