"""The RFM-tercile baseline on a small frame."""
from __future__ import annotations

from ml.families.segmentation.rfm import rfm_baseline_labels
from tests.unit.segmentation.customers import LAPSED, LOYAL, customers


def test_rfm_baseline_ranks_best_customers_highest():
    frame = customers([LOYAL, LAPSED], per_group=30)
    labels = rfm_baseline_labels(frame)
    assert labels[:30].mean() > labels[30:].mean()


def test_rfm_groups_by_hand_and_cut_points_come_from_the_training_customers():
    import pandas as pd

    from ml.families.segmentation.rfm import RfmSegmenter

    train = pd.DataFrame({"recency_days": [1, 2, 3, 10, 20, 30, 100, 200, 300],
                          "frequency": [9, 8, 7, 6, 5, 4, 3, 2, 1],
                          "monetary": [900, 800, 700, 600, 500, 400, 300, 200, 100]})
    rfm = RfmSegmenter.fit(train)
    new = pd.DataFrame({"recency_days": [1, 400, 15, 1], "frequency": [20, 1, 5, 1], "monetary": [5000, 1, 500, 1]})
    # best on all three: 9 -> group 3; worst on all three: 3 -> 0; middle on all: 6 -> 1; 3+1+1 = 5 -> 1
    assert rfm.scores(new).tolist() == [9, 3, 6, 5]
    out = rfm.predict(new)
    assert out["segment_id"].tolist() == [3, 0, 1, 1]
    assert out["segment_name"].tolist() == ["high-value loyal", "lapsed", "occasional", "occasional"]
