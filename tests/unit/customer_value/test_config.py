"""The family's settings: the repository file keeps the defaults, an override file reaches the steps."""
import datetime as dt

from ml.families.customer_value import features
from ml.families.customer_value.config import CustomerValueConfig, load
from ml.warehouse import Warehouse
from tests.helpers import load as load_shop
from tests.helpers import order_lines


def test_the_repository_file_keeps_the_defaults():
    assert load() == CustomerValueConfig()


def test_gbm_params_carry_lightgbm_names():
    params = CustomerValueConfig(gbm_n_estimators=40, gbm_num_threads=4).gbm_params
    assert params["n_estimators"] == 40 and params["num_threads"] == 4
    assert set(params) == {"n_estimators", "learning_rate", "num_leaves", "min_child_samples", "subsample",
                           "subsample_freq", "colsample_bytree", "num_threads"}


def test_an_override_file_sets_the_cutoffs_of_the_feature_table(tmp_path, monkeypatch):
    (tmp_path / "families").mkdir()
    (tmp_path / "families" / "customer_value.yaml").write_text("horizon_days: 30\ntraining_windows: 1\n")
    monkeypatch.setenv("VALUEFLOW_CONFIG_DIR", str(tmp_path))
    assert load() == CustomerValueConfig(horizon_days=30, training_windows=1)
    as_of = dt.date(2024, 7, 1)
    with Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}") as wh:
        wh.execute("CREATE SCHEMA raw")
        wh.execute("CREATE SCHEMA features")
        load_shop(wh, order_lines([("1", "P1", 2, 10.0, "2024-03-01 10:00", "a")]))
        assert features.build_features(wh, as_of) == [features.FEATURES]
        cutoffs = wh.query(f"SELECT DISTINCT cutoff_date FROM {features.FEATURES} ORDER BY 1")["cutoff_date"]
    assert [c.date() for c in cutoffs] == [dt.date(2024, 5, 2), dt.date(2024, 6, 1), as_of]
