"""Purchase and churn propensity: who buys in the next 30 days, and who is slipping away.

Calibrated P(order in [D, D + 30 days)) per customer active at the as-of date D, churn_risk = 1 - p
(see `model.build_score_rows`) and a decile, in `marts.user_propensity`. Time layout at D (windows
half-open): training origins D-60, D-88, ... (the newest validates, the older fit), the holdout
origin D-30 (labels end at D; never fitted on), and D itself to score. No input reads a row at or
after its origin. Modules in pipeline order:

* `config`      `PropensityConfig`: every hyper-parameter (overrides in config/families/propensity.yaml)
* `labels`      what an order is, who is active, the label, rolling origins and the time layout
* `inputs`      point-in-time model inputs in pandas: a weekly activity sequence and static features
* `features`    the same inputs in warehouse SQL, the feature tables' writer and their readers
* `dataset`     training examples stacked over rolling origins, and the fit/validation split
* `calibration` Platt / isotonic maps fitted on the validation split
* `linear`      the regularised logistic regression on the standardised static features
* `gbm`         LightGBM on the static features, trees sized to the number of rows
* `cnn`         the Keras Conv1D model over the weekly sequence, fused with the static features
* `model`       `PropensityModel`: one fitted kind + scaler + calibrator; save/load as a folder
* `metrics`     ROC/PR AUC and its standard error, log loss, Brier, top-decile lift, plots, recency baseline
* `selection`   the simplest kind within one standard error of the best validation AUC
* `train`       the kinds as nested MLflow runs, the winner registered as challenger
* `baselines`   recency, frequency and BG/NBD: stacked inputs of the learned kinds, and baselines
* `evaluate`    challenger, champion and the best baseline on the fresh holdout; `register_baseline`
* `score`       every active customer, in chunks, into the mart
* `pyfunc`      the fitted model logged as an MLflow pyfunc (folder artifact, no pickled Keras)
* `outcomes`    the mart for D against who bought in [D, D + 30), beside recency, frequency and BG/NBD
* `drift`       the inputs at the champion's training origins and at D, for the drift check (`ml.drift`)
"""
from ml import catalog
from ml.families.base import ModelFamily
from ml.families.propensity import drift, evaluate, features, score, train
from ml.families.propensity.config import NAME

FAMILY = ModelFamily(name=NAME, mart=catalog.USER_PROPENSITY, build_features=features.build_features,
                     train=train.train, evaluate=evaluate.evaluate, score=score.score,
                     register_baseline=evaluate.register_baseline, drift_inputs=drift.drift_inputs,
                     description="30-day purchase propensity and churn risk (logistic vs LightGBM vs CNN)")

__all__ = ["FAMILY"]
