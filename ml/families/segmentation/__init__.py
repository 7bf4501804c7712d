"""Customer segmentation: K-means segments of active customers, scored into marts.user_segments.

Modules in pipeline order: `config` (SegmentationConfig), `features` (the columns read from the
shared features.user_features, the stable id-hash holdout), `kmeans` (transform, pipeline, choice
of k, profiles and names), `rfm` (the naive baseline, served when K-means does not beat it), `rules`
(each segment's plain rule, its coverage and precision), `train`, `pyfunc` (the predictor MLflow
stores), `metrics` and `evaluate` (holdout metrics in one common space), `score`, `drift` (the features at
the champion's date and at D, for `ml.drift`).
"""
from ml import catalog
from ml.families.base import ModelFamily
from ml.families.segmentation import drift, evaluate, features, score, train
from ml.families.segmentation.config import NAME

FAMILY = ModelFamily(name=NAME, mart=catalog.USER_SEGMENTS, build_features=features.build_features,
                     train=train.train, evaluate=evaluate.evaluate, score=score.score,
                     register_baseline=evaluate.register_baseline, drift_inputs=drift.drift_inputs,
                     description="K-means customer segments (RFM terciles when K-means does not beat them)")

__all__ = ["FAMILY", "NAME"]
