"""Plain segment rules on small hand-made frames: thresholds found, text rendered, coverage reproducible."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ml.families.segmentation import rules
from ml.families.segmentation.config import SegmentationConfig
from ml.families.segmentation.features import SEGMENT_FEATURES
from ml.families.segmentation.rules import Condition

CONFIG = SegmentationConfig()


def base(n: int, seed: int = 0) -> pd.DataFrame:
    """Customers alike in every feature but what a test sets (the same spread in every group)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"recency_days": rng.integers(1, 400, n), "frequency": rng.integers(1, 12, n),
                         "monetary": rng.uniform(20, 3000, n), "avg_order_value": rng.uniform(10, 300, n),
                         "tenure_days": rng.integers(30, 900, n), "distinct_products": rng.integers(1, 40, n),
                         "return_rate": rng.uniform(0, 0.3, n)})


def test_segments_cut_at_a_known_recency_get_a_threshold_between_the_groups_and_full_coverage():
    rng = np.random.default_rng(1)
    frame = base(300)
    recent = np.arange(300) < 120
    frame["recency_days"] = np.where(recent, rng.integers(1, 31, 300), rng.integers(201, 700, 300))
    labels = np.where(recent, 0, 1)
    fitted = rules.fit_rules(frame, labels, {0: "active", 1: "lapsed"}, CONFIG)

    (active,), (lapsed,) = fitted[0].conditions, fitted[1].conditions
    assert active.feature == lapsed.feature == "recency_days"
    assert active.op == "<=" and frame["recency_days"][recent].max() <= active.value < 201
    assert lapsed.op == ">=" and 30 < lapsed.value <= frame["recency_days"][~recent].min()
    assert active.value == round(active.value, -1), "rounded, not the tree's midpoint"
    for rule in fitted.values():
        assert (rule.coverage, rule.precision) == (1.0, 1.0)
    assert fitted[0].text == f"last order ≤ {int(active.value)} days ago"
    assert fitted[1].customers == 180 and fitted[1].segment_name == "lapsed"


def test_a_segment_of_two_features_gets_both_conditions():
    frame = base(400, seed=2)
    segment = (frame["recency_days"] <= 60) & (frame["frequency"] >= 6)
    fitted = rules.fit_rules(frame, segment.astype(int).to_numpy(), {0: "rest", 1: "regulars"}, CONFIG)
    rule = fitted[1]
    assert {(c.feature, c.op) for c in rule.conditions} == {("recency_days", "<="), ("frequency", ">=")}
    assert (rule.coverage, rule.precision) == (1.0, 1.0)
    assert rule.text.startswith("last order ≤ ") and " and ≥ 6 orders" in rule.text


def test_applying_a_rule_to_the_frame_gives_the_reported_coverage_and_precision():
    frame = base(2000, seed=3)
    # a segment no depth-3 tree describes exactly: the rule is partial and its figures must be honest
    score = frame["monetary"] / 3000 + frame["frequency"] / 12 - frame["recency_days"] / 400
    labels = pd.cut(score, [-np.inf, -0.2, 0.5, np.inf], labels=False).to_numpy()
    fitted = rules.fit_rules(frame, labels, {0: "a", 1: "b", 2: "c"}, CONFIG)
    assert set(fitted) == {0, 1, 2} and any(r.coverage < 1 or r.precision < 1 for r in fitted.values())
    for segment_id, rule in fitted.items():
        # the conditions read by hand, as a marketer's query would, and by `matches`
        mask = np.logical_and.reduce([(frame[c.feature] <= c.value) if c.op == "<=" else (frame[c.feature] >= c.value)
                                      for c in rule.conditions])
        assert (rules.matches(frame, rule.conditions) == mask).all()
        in_segment = labels == segment_id
        assert rule.coverage == (mask & in_segment).sum() / in_segment.sum()
        assert rule.precision == (mask & in_segment).sum() / mask.sum()
        assert rule.conditions and rule.text != rules.EVERYONE


def test_a_dense_column_is_rounded_anyway_and_the_coverage_counts_what_rounding_cost():
    values = np.array([380.0, 386.9, 387.4, 387.6, 388.0, 395.0])
    condition = rules.round_condition("monetary", "<=", 387.5, values, digits=2)
    assert condition == Condition("monetary", "<=", 390.0)  # no round value in (387.4, 387.6)
    wide = rules.round_condition("monetary", ">", 387.5, np.array([100.0, 300.0, 475.0, 900.0]), digits=2)
    assert wide == Condition("monetary", ">=", 400.0), "the roundest value in the gap (300, 475]"


def test_counts_and_days_stay_whole():
    orders = np.arange(1.0, 11.0)
    assert rules.round_condition("frequency", ">", 4.5, orders, 2) == Condition("frequency", ">=", 5.0)
    assert rules.round_condition("frequency", "<=", 4.5, orders, 2) == Condition("frequency", "<=", 4.0)
    days = np.array([3.0, 12.0, 29.0, 210.0, 380.0])
    assert rules.round_condition("recency_days", "<=", 119.5, days, 2) == Condition("recency_days", "<=", 100.0)


def test_conditions_render_in_feature_order_with_plain_names():
    conditions = [Condition("monetary", ">=", 400), Condition("recency_days", "<=", 30),
                  Condition("frequency", ">=", 5)]
    assert rules.render(conditions) == "last order ≤ 30 days ago and ≥ 5 orders and net spend ≥ 400"
    assert rules.render([Condition("recency_days", "<=", 100), Condition("recency_days", ">=", 30),
                         Condition("return_rate", ">=", 0.25), Condition("monetary", "<=", 1500)]) == (
        "last order 30–100 days ago and net spend ≤ 1,500 and return rate ≥ 25%")
    assert rules.render([]) == rules.EVERYONE
    assert set(rules.PHRASES) == set(SEGMENT_FEATURES), "every feature reads as plain words"


def test_repeated_bounds_on_one_feature_merge_into_the_tightest():
    merged = rules.merge([("recency_days", "<=", 100.5), ("frequency", ">", 2.5), ("recency_days", "<=", 30.5),
                          ("frequency", ">", 4.5), ("recency_days", ">", 3.5), ("frequency", "<=", 20.5)])
    assert sorted(merged) == sorted([("recency_days", "<=", 30.5), ("recency_days", ">", 3.5),
                                     ("frequency", ">", 4.5), ("frequency", "<=", 20.5)])


def test_a_condition_that_changes_no_match_is_dropped():
    frame = pd.DataFrame({"recency_days": [5, 10, 300], "frequency": [2, 3, 1]})
    kept = rules._simplify(frame, [Condition("frequency", ">=", 1), Condition("recency_days", "<=", 100)])
    assert kept == (Condition("recency_days", "<=", 100),)


def test_matches_reads_missing_values_as_zero_like_the_model_input():
    frame = pd.DataFrame({"return_rate": [None, 0.5], "recency_days": [10, 10]})
    assert rules.matches(frame, [Condition("return_rate", "<=", 0.1)]).tolist() == [True, False]
    assert rules.matches(frame, []).tolist() == [True, True]


def test_the_record_holds_what_segment_rules_json_shows():
    rule = rules.SegmentRule(2, "lapsed", (Condition("recency_days", ">=", 270.0),), 0.9, 0.8, 50)
    assert rule.record() == {"segment_id": 2, "segment_name": "lapsed", "rule": "last order ≥ 270 days ago",
                             "coverage": 0.9, "precision": 0.8, "customers": 50,
                             "conditions": [["recency_days", ">=", 270.0]]}
    assert rules.rule_column({2: rule}, np.array([2, 7])) == ["last order ≥ 270 days ago", ""]
