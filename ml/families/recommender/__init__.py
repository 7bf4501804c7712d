"""Recommender family: "what to offer each customer", by implicit-feedback collaborative filtering.

Modules in pipeline order: config (every knob) -> features (interaction SQL, the D / D-h / D-2h
partitions of features.user_item_interactions) -> interactions (the user x item matrix) ->
content (product vectors from the catalogue) -> candidates (ALS, the ALS + content hybrid, item-item
cosine, popularity baselines; top-N ranking) -> metrics and evaluate (time-split backtests, ALS and
blend tuning, champion/challenger refits) -> train (one MLflow run, winner registered) -> model (the
fitted `Recommender`) and pyfunc (its MLflow face) -> score (top-N per active customer into
marts.user_recommendations), with fallback for customers the model never saw and reasons for every row
-> drift (the interactions of the champion's final fit and of D, for `ml.drift`).
"""
from ml import catalog
from ml.families.base import ModelFamily
from ml.families.recommender import drift, evaluate, features, score, train
from ml.families.recommender.config import NAME

FAMILY = ModelFamily(
    name=NAME, mart=catalog.USER_RECOMMENDATIONS, build_features=features.build_features, train=train.train,
    evaluate=evaluate.evaluate, score=score.score, register_baseline=train.register_baseline, drift_inputs=drift.drift_inputs,
    description="Top-N products per active customer by implicit-feedback ALS or the best baseline.")

__all__ = ["FAMILY", "NAME"]
