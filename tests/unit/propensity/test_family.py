"""The propensity family: its time layout, its choice between model kinds and its capped reads."""
import dataclasses
import datetime as dt
import math

from ml.families.propensity.config import load
from ml.families.propensity.labels import plan_origins
from ml.families.propensity.selection import choose


def test_origins_keep_every_label_window_before_as_of_and_apart_from_the_holdout():
    as_of = dt.date(2025, 12, 1)
    holdout, train = plan_origins(as_of, load())
    assert holdout == as_of - dt.timedelta(days=30)
    assert len(train) == load().n_train_origins == 6 and train == sorted(train, reverse=True)
    # training labels [o, o+30) end where the holdout's inputs end: no training label sees the holdout window
    assert train[0] + dt.timedelta(days=30) == holdout


def candidate(auc, n=100_000, rate=0.3):
    return {"validation": {"roc_auc": auc, "n": float(n), "positive_rate": rate}}


def test_choice_takes_the_best_validation_auc_when_it_is_measured_precisely():
    # 100,000 validation customers: a standard error of ~0.002, so 0.01 apart is a real difference
    assert choose({"logistic": candidate(0.79), "lightgbm": candidate(0.80), "cnn": candidate(0.81)}) == "cnn"
    assert choose({"logistic": candidate(0.79), "lightgbm": candidate(0.82), "cnn": candidate(0.81)}) == "lightgbm"
    assert choose({"logistic": candidate(0.83), "lightgbm": candidate(0.82), "cnn": candidate(0.81)}) == "logistic"
    # exact ties go to the simpler kind; a NaN AUC never wins
    assert choose({"cnn": candidate(0.80), "lightgbm": candidate(0.80)}) == "lightgbm"
    assert choose({"cnn": candidate(0.9), "lightgbm": candidate(math.nan)}) == "cnn"


def test_choice_prefers_the_simplest_kind_within_one_standard_error():
    # 200 validation customers (60 buyers): AUC is known to about +-0.035, so 0.02 apart is noise
    small = {"logistic": candidate(0.77, 200), "lightgbm": candidate(0.79, 200), "cnn": candidate(0.78, 200)}
    assert choose(small) == "logistic"
    assert choose({**small, "logistic": candidate(0.70, 200)}) == "lightgbm"
    assert choose({**small, "logistic": candidate(math.nan, 200)}) == "lightgbm"


def test_training_and_holdout_reads_are_capped_and_the_holdout_sample_is_stable(warehouse):
    import numpy as np
    import pandas as pd

    from ml.families.propensity import features
    from tests.unit.propensity.shop import make_shop

    as_of = dt.date(2025, 4, 1)
    lines, _ = make_shop(300, seed=3)
    warehouse.replace_table("raw.products", pd.DataFrame({"product_id": ["P00"], "description": "x",
                                                          "category": "c", "unit_price": 1.0}))
    warehouse.replace_table("raw.order_lines", lines)
    features.build_features(warehouse, as_of)
    uncapped = features.read_training(warehouse, as_of, load())
    config = dataclasses.replace(load(), train_max_customers_per_origin=30, holdout_max_customers=40)
    capped = features.read_training(warehouse, as_of, config)
    per_origin = pd.Series(capped.origins).value_counts()
    assert per_origin.max() == 30 and len(per_origin) == len(np.unique(uncapped.origins))
    assert len(capped) < len(uncapped)
    holdout = features.read_holdout(warehouse, as_of, config)
    assert len(holdout) == 40
    # evaluate() re-reads the holdout: it must be the very same customers train() measured
    assert holdout.inputs["customer_id"].tolist() == features.read_holdout(warehouse, as_of, config).inputs["customer_id"].tolist()


def test_settings_come_from_the_dataclass_and_the_yaml_overrides_them(tmp_path, monkeypatch):
    from ml.families.propensity.config import PropensityConfig

    assert load() == PropensityConfig()  # the shipped config/families/propensity.yaml changes nothing
    (tmp_path / "families").mkdir()
    (tmp_path / "families" / "propensity.yaml").write_text("n_train_origins: 3\nstep_days: 7\n")
    monkeypatch.setenv("VALUEFLOW_CONFIG_DIR", str(tmp_path))
    holdout, train = plan_origins(dt.date(2025, 12, 1), load())
    assert train == [holdout - dt.timedelta(days=30 + 7 * k) for k in range(3)]
