"""Customer value: expected orders, P(alive) and 365-day value per customer into marts.user_value.

Purchase and spend models (BG/NBD + Gamma-Gamma, a LightGBM challenger), their holdout evaluation
and the value tiers; the precision-marketing audiences built on top live in `ml.audiences`.
Modules in pipeline order: config (every hyper-parameter), summary (order lines -> RFM, in pandas),
features (the same in warehouse SQL: features.customer_value at cutoffs one horizon apart),
bgnbd / gamma_gamma / clv (the probabilistic model), gbm (LightGBM), model (the predictor every
candidate shares), train (fit them, register the best mix on the holdout), evaluate (holdout
metrics, challenger vs champion vs the best baseline), serve_baseline (a baseline as a model
version, to serve when nothing learnt beats it), pyfunc (MLflow logging and loading), tiers, score,
baselines (the simple forecasts from the history before D; the propensity outcomes use them too),
outcomes (the mart for D against what customers ordered and spent after D, beside the baselines)
and drift (the inputs at the champion's fitting cutoff and at D, for `ml.drift`).
"""
from ml import catalog
from ml.families.base import ModelFamily
from ml.families.customer_value import drift, evaluate, features, score, serve_baseline, train
from ml.families.customer_value.config import NAME

FAMILY = ModelFamily(name=NAME, mart=catalog.USER_VALUE, build_features=features.build_features,
                     train=train.train, evaluate=evaluate.evaluate, score=score.score,
                     register_baseline=serve_baseline.register_baseline, drift_inputs=drift.drift_inputs,
                     description="BG/NBD + Gamma-Gamma, stacked LightGBM or the best simple baseline per output, "
                                 "with value tiers")

__all__ = ["FAMILY"]
