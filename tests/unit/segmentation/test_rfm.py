"""The RFM-tercile baseline on a small frame."""
from __future__ import annotations

from ml.families.segmentation.rfm import rfm_baseline_labels
from tests.unit.segmentation.customers import LAPSED, LOYAL, customers


def test_rfm_baseline_ranks_best_customers_highest():
    frame = customers([LOYAL, LAPSED], per_group=30)
    labels = rfm_baseline_labels(frame)
    assert labels[:30].mean() > labels[30:].mean()
