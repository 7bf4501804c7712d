"""Implicit-feedback recommendations: interactions, candidate models, ranking metrics, fallback.

Modules read like the pipeline: config -> interactions -> models -> evaluation -> recommender
(-> pyfunc for MLflow) and fallback for customers the model has never seen.
"""
from ml.families.recommender.family import FAMILY

__all__ = ["FAMILY"]
