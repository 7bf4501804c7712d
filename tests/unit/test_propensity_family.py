"""The propensity family's time layout and its choice between model kinds (no warehouse needed)."""
import datetime as dt
import math

from ml.families.propensity import N_TRAIN_ORIGINS, _choose, plan_origins


def test_origins_keep_every_label_window_before_as_of_and_apart_from_the_holdout():
    as_of = dt.date(2025, 12, 1)
    holdout, train = plan_origins(as_of)
    assert holdout == as_of - dt.timedelta(days=30)
    assert len(train) == N_TRAIN_ORIGINS and train == sorted(train, reverse=True)
    # training labels [o, o+30) end where the holdout's inputs end: no training label sees the holdout window
    assert train[0] + dt.timedelta(days=30) == holdout


def test_choice_takes_the_better_validation_auc_and_prefers_lightgbm_on_ties():
    def candidate(auc):
        return {"validation": {"roc_auc": auc}}

    assert _choose({"cnn": candidate(0.81), "lightgbm": candidate(0.80)}) == "cnn"
    assert _choose({"cnn": candidate(0.80), "lightgbm": candidate(0.80)}) == "lightgbm"
    assert _choose({"cnn": candidate(0.9), "lightgbm": candidate(math.nan)}) == "cnn"
