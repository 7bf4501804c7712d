"""The segmentation predictors: feature rows in, segment id, name and plain rule out; stored by MLflow."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ml.families.segmentation import kmeans, rules
from ml.families.segmentation.config import SegmentationConfig
from ml.families.segmentation.features import SEGMENT_FEATURES
from ml.families.segmentation.pyfunc import SegmentPredictor
from ml.families.segmentation.rfm import GROUP_NAMES, RFM_COLUMNS, RfmSegmenter
from tests.unit.segmentation.customers import AT_RISK, LAPSED, LOYAL, NEW, customers

CONFIG = SegmentationConfig()


def kmeans_predictor(frame: pd.DataFrame) -> SegmentPredictor:
    pipeline = kmeans.make_pipeline(2, CONFIG).fit(frame)
    labels = pipeline[-1].labels_
    names = {int(label): f"segment {label}" for label in set(labels)}
    return SegmentPredictor(pipeline, names, rules.fit_rules(frame, labels, names, CONFIG))


def rfm_predictor(frame: pd.DataFrame) -> RfmSegmenter:
    segmenter = RfmSegmenter.fit(frame)
    segmenter.rules = rules.fit_rules(frame, segmenter.labels(frame), GROUP_NAMES, CONFIG, RFM_COLUMNS)
    return segmenter


def test_the_predictor_names_each_row_by_its_segment_and_gives_its_rule():
    frame = customers([LOYAL, LAPSED], per_group=20)
    predictor = kmeans_predictor(frame)
    scored = predictor.predict(frame)
    labels = predictor.pipeline[-1].labels_
    assert list(scored.columns) == ["segment_id", "segment_name", "segment_rule"]
    assert str(scored["segment_id"].dtype) == "int64" and (scored["segment_id"].to_numpy() == labels).all()
    assert scored["segment_name"].tolist() == [predictor.names[int(x)] for x in labels]
    assert scored["segment_rule"].tolist() == [predictor.rules[int(x)].text for x in labels]
    assert scored.groupby("segment_id")["segment_rule"].nunique().eq(1).all()
    assert len({r.text for r in predictor.rules.values()}) == 2 and all(scored["segment_rule"].str.len() > 0)


def test_the_rfm_baseline_gives_each_group_its_rule_over_recency_frequency_and_spend():
    frame = customers([LOYAL, LAPSED, NEW, AT_RISK], per_group=30)
    segmenter = rfm_predictor(frame)
    scored = segmenter.predict(frame)
    assert list(scored.columns) == ["segment_id", "segment_name", "segment_rule"]
    assert set(segmenter.rules) == set(scored["segment_id"])
    for segment_id, rule in segmenter.rules.items():
        assert {c.feature for c in rule.conditions} <= set(RFM_COLUMNS) and rule.coverage > 0
        assert set(scored.loc[scored["segment_id"] == segment_id, "segment_rule"]) == {rule.text}


def test_a_version_pickled_before_rules_existed_still_scores_with_an_empty_rule():
    frame = customers([LOYAL, LAPSED], per_group=10)
    old = kmeans_predictor(frame)
    del old.rules  # what unpickling an older version gives: no attribute at all
    assert set(old.predict(frame)["segment_rule"]) == {""}
    segmenter = rfm_predictor(frame)
    del segmenter.rules
    assert set(segmenter.predict(frame)["segment_rule"]) == {""}


def test_both_predictors_give_their_rules_back_through_mlflow(tmp_path):
    import mlflow

    from ml import pyfunc

    frame = customers([LOYAL, LAPSED, NEW], per_group=20)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("segmentation", artifact_location=(tmp_path / "artifacts").as_uri())
    for predictor in (kmeans_predictor(frame), rfm_predictor(frame)):
        with mlflow.start_run(experiment_id=experiment):
            uri = pyfunc.log_pyfunc(predictor, frame[list(SEGMENT_FEATURES)].head(5)).model_uri
        scored = pyfunc.load_pyfunc(uri).predict(frame[list(SEGMENT_FEATURES)])
        expected = [predictor.rules[int(x)].text for x in scored["segment_id"]]
        assert scored["segment_rule"].tolist() == expected and all(np.char.str_len(expected) > 0)
