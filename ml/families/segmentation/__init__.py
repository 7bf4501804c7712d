"""Customer segmentation: K-means segments of active customers."""
from ml.families.segmentation.family import FAMILY

__all__ = ["FAMILY"]
