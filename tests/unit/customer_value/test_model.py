"""The pyfunc predictor: both kinds give the same columns; it survives an MLflow save and load."""
import numpy as np
import pandas as pd
import pytest

from ml.families.customer_value.clv import fit_clv_model
from ml.families.customer_value.features import build_cutoffs
from ml.families.customer_value.gbm import fit_gbm_value_model
from ml.families.customer_value.model import OUTPUT_COLUMNS, ValuePredictor, to_summary
from ml.families.customer_value.summary import build_customer_features
from ml.families.customer_value.train import build_gbm_training_set
from ml.pyfunc import PredictorPyfunc
from ml.sql import MissingColumns
from tests.unit.customer_value.synthetic import END, make_transactions


@pytest.fixture(scope="module")
def fitted():
    transactions = make_transactions(80)
    features = build_customer_features(transactions, END)
    clv = fit_clv_model(to_summary(features))
    x, y = build_gbm_training_set([build_customer_features(transactions, c) for c in build_cutoffs(END.date(), 90, 1)])
    gbm = fit_gbm_value_model(x, y, horizon_days=90, params={"n_estimators": 20})
    return features, clv, gbm


def test_both_kinds_predict_the_same_columns(fitted):
    features, clv, gbm = fitted
    bgnbd = ValuePredictor("bgnbd", clv).predict(features)
    boosted = ValuePredictor("gbm", clv, gbm).predict(features)
    for out in (bgnbd, boosted):
        assert list(out.columns) == OUTPUT_COLUMNS and list(out.index) == list(features.index)
        # no next-order date is the answer for a customer more likely gone than not: NaN there only
        dated = out["days_to_next_order"].notna()
        assert dated.to_numpy().tolist() == (out["p_alive"] > 0.5).to_numpy().tolist()
        values = out.drop(columns="days_to_next_order")
        assert np.isfinite(values.to_numpy()).all() and (values >= 0).all().all()
        assert (out["predicted_clv_low"] <= out["predicted_clv"] + 1e-9).all()
    pd.testing.assert_series_equal(bgnbd["p_alive"], boosted["p_alive"])
    # The LightGBM value keeps the (unseasoned) BG/NBD's 365-day-to-horizon ratio per customer.
    steady = ValuePredictor("bgnbd", clv, seasonal=False).predict(features)
    positive = boosted["expected_spend"] > 0
    np.testing.assert_allclose(
        (boosted["predicted_clv"] / boosted["expected_spend"])[positive],
        (steady["predicted_clv"] / steady["expected_spend"])[positive], rtol=1e-9,
    )


def test_kind_and_model_must_agree(fitted):
    _, clv, gbm = fitted
    with pytest.raises(ValueError, match="kind"):
        ValuePredictor("forest", clv)
    with pytest.raises(ValueError, match="LightGBM"):
        ValuePredictor("gbm", clv)
    with pytest.raises(ValueError, match="LightGBM"):
        ValuePredictor("rate", clv, spend_from="blend")
    with pytest.raises(ValueError, match="BG/NBD"):
        ValuePredictor("rate", None, clv_from="bgnbd")


def test_missing_feature_column_is_named(fitted):
    features, clv, _ = fitted
    with pytest.raises(MissingColumns, match="tenure_days"):
        ValuePredictor("bgnbd", clv).predict(features.drop(columns="tenure_days"))


def test_pyfunc_round_trip(tmp_path, fitted):
    import mlflow.pyfunc

    features, clv, gbm = fitted
    predictor = ValuePredictor("gbm", clv, gbm)
    mlflow.pyfunc.save_model(tmp_path / "model", python_model=PredictorPyfunc(predictor))
    loaded = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    pd.testing.assert_frame_equal(loaded.predict(features), predictor.predict(features))


def test_customers_with_only_returns_score_zero(fitted):
    features, clv, gbm = fitted
    orphan = features.head(1).copy()
    orphan.loc[:, :] = 0.0
    orphan.index = ["returns_only"]
    frame = pd.concat([features.head(3), orphan])
    for predictor in (ValuePredictor("bgnbd", clv), ValuePredictor("gbm", clv, gbm)):
        out = predictor.predict(frame)
        orphan_row = out.loc["returns_only"]
        assert (orphan_row.drop("days_to_next_order") == 0).all() and np.isnan(orphan_row["days_to_next_order"])
        assert (out.iloc[:3]["p_alive"] > 0).all()


def test_seasonal_indices_scale_only_the_bgnbd_horizon(fitted):
    features, clv, _ = fitted
    busy = features.assign(season_orders_index=1.5, season_spend_index=1.2)
    plain = ValuePredictor("bgnbd", clv, seasonal=False).predict(busy)
    seasonal = ValuePredictor("bgnbd", clv).predict(busy)
    np.testing.assert_allclose(seasonal["expected_orders"], plain["expected_orders"] * 1.5)
    np.testing.assert_allclose(seasonal["expected_spend"], plain["expected_spend"] * 1.2)
    pd.testing.assert_series_equal(seasonal["predicted_clv"], plain["predicted_clv"])
    with pytest.raises(MissingColumns, match="season_orders_index"):
        ValuePredictor("bgnbd", clv).predict(features.drop(columns="season_orders_index"))


def test_a_served_baseline_is_one_name_or_the_best_mix(fitted):
    from ml.families.customer_value.model import baseline_name, baseline_outputs

    assert baseline_name(dict.fromkeys(("spend", "orders", "clv"), "bgnbd_gg")) == "bgnbd_gg"
    mix = baseline_name({"spend": "bgnbd_gg", "orders": "last_90d_repeat", "clv": "historical_spend_rate"})
    assert mix == "spend=bgnbd_gg,orders=last_90d_repeat,clv=historical_spend_rate"
    assert baseline_outputs(mix) == {"spend_from": "bgnbd_gg", "orders_from": "last_window", "clv_from": "rate"}
    with pytest.raises(ValueError, match="unknown"):
        baseline_outputs("forest")
    # the mix predicts each output as its baseline alone does
    features, clv, _ = fitted
    served = ValuePredictor(mix, clv, **baseline_outputs(mix)).predict(features)
    alone = {name: ValuePredictor(name, clv).predict(features) for name in ("bgnbd_gg", "last_window", "rate")}
    pd.testing.assert_series_equal(served["expected_spend"], alone["bgnbd_gg"]["expected_spend"])
    pd.testing.assert_series_equal(served["expected_orders"], alone["last_window"]["expected_orders"])
    pd.testing.assert_series_equal(served["predicted_clv"], alone["rate"]["predicted_clv"])
