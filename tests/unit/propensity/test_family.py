"""The propensity family: its time layout, its choice between model kinds and its capped reads."""
import datetime as dt
import math

from ml.families.propensity.family import N_TRAIN_ORIGINS, _choose, plan_origins


def test_origins_keep_every_label_window_before_as_of_and_apart_from_the_holdout():
    as_of = dt.date(2025, 12, 1)
    holdout, train = plan_origins(as_of)
    assert holdout == as_of - dt.timedelta(days=30)
    assert len(train) == N_TRAIN_ORIGINS and train == sorted(train, reverse=True)
    # training labels [o, o+30) end where the holdout's inputs end: no training label sees the holdout window
    assert train[0] + dt.timedelta(days=30) == holdout


def candidate(auc, n=100_000, rate=0.3):
    return {"validation": {"roc_auc": auc, "n": float(n), "positive_rate": rate}}


def test_choice_takes_the_best_validation_auc_when_it_is_measured_precisely():
    # 100,000 validation customers: a standard error of ~0.002, so 0.01 apart is a real difference
    assert _choose({"logistic": candidate(0.79), "lightgbm": candidate(0.80), "cnn": candidate(0.81)}) == "cnn"
    assert _choose({"logistic": candidate(0.79), "lightgbm": candidate(0.82), "cnn": candidate(0.81)}) == "lightgbm"
    assert _choose({"logistic": candidate(0.83), "lightgbm": candidate(0.82), "cnn": candidate(0.81)}) == "logistic"
    # exact ties go to the simpler kind; a NaN AUC never wins
    assert _choose({"cnn": candidate(0.80), "lightgbm": candidate(0.80)}) == "lightgbm"
    assert _choose({"cnn": candidate(0.9), "lightgbm": candidate(math.nan)}) == "cnn"


def test_choice_prefers_the_simplest_kind_within_one_standard_error():
    # 200 validation customers (60 buyers): AUC is known to about +-0.035, so 0.02 apart is noise
    small = {"logistic": candidate(0.77, 200), "lightgbm": candidate(0.79, 200), "cnn": candidate(0.78, 200)}
    assert _choose(small) == "logistic"
    assert _choose({**small, "logistic": candidate(0.70, 200)}) == "lightgbm"
    assert _choose({**small, "logistic": candidate(math.nan, 200)}) == "lightgbm"


def test_training_and_holdout_reads_are_capped_and_the_holdout_sample_is_stable(warehouse, monkeypatch):
    import numpy as np
    import pandas as pd

    from ml.families.propensity import family as propensity
    from tests.unit.propensity.shop import make_shop

    as_of = dt.date(2025, 4, 1)
    lines, _ = make_shop(300, seed=3)
    warehouse.replace_table("raw.products", pd.DataFrame({"product_id": ["P00"], "description": "x",
                                                          "category": "c", "unit_price": 1.0}))
    warehouse.replace_table("raw.order_lines", lines)
    propensity.build_features(warehouse, as_of)
    uncapped = propensity._read_training(warehouse, as_of)
    monkeypatch.setattr(propensity, "TRAIN_MAX_CUSTOMERS_PER_ORIGIN", 30)
    monkeypatch.setattr(propensity, "HOLDOUT_MAX_CUSTOMERS", 40)
    capped = propensity._read_training(warehouse, as_of)
    per_origin = pd.Series(capped.origins).value_counts()
    assert per_origin.max() == 30 and len(per_origin) == len(np.unique(uncapped.origins))
    assert len(capped) < len(uncapped)
    holdout = propensity._read_holdout(warehouse, as_of)
    assert len(holdout) == 40
    # evaluate() re-reads the holdout: it must be the very same customers train() measured
    assert holdout.inputs["customer_id"].tolist() == propensity._read_holdout(warehouse, as_of).inputs["customer_id"].tolist()
