"""The segmentation predictor without MLflow: feature rows in, segment id and name out."""
from __future__ import annotations

from ml.families.segmentation import kmeans
from ml.families.segmentation.config import SegmentationConfig
from ml.families.segmentation.pyfunc import SegmentPredictor
from tests.unit.segmentation.customers import LAPSED, LOYAL, customers


def test_the_predictor_names_each_row_by_its_segment():
    frame = customers([LOYAL, LAPSED], per_group=20)
    pipeline = kmeans.make_pipeline(2, SegmentationConfig()).fit(frame)
    names = {int(label): f"segment {label}" for label in set(pipeline[-1].labels_)}
    scored = SegmentPredictor(pipeline, names).predict(frame)
    assert list(scored.columns) == ["segment_id", "segment_name"] and str(scored["segment_id"].dtype) == "int64"
    assert (scored["segment_id"].to_numpy() == pipeline[-1].labels_).all()
    assert scored["segment_name"].tolist() == [names[int(x)] for x in pipeline[-1].labels_]
