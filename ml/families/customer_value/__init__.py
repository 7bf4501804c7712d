"""Customer value: purchase and spend models (BG/NBD + Gamma-Gamma, LightGBM challenger), their
holdout evaluation, value tiers and the precision-marketing audiences built on top.

Modules read like the pipeline: summary (order lines -> RFM), bgnbd / gamma_gamma / clv (the
probabilistic model), gbm (challenger), evaluate (holdout metrics), tiers, audiences.
"""
from ml.families.customer_value.family import FAMILY

__all__ = ["FAMILY"]
