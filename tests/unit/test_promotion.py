"""The champion/challenger policy: margins, baselines and guardrails decide, nothing else."""
from __future__ import annotations

import pytest

from ml import promotion
from ml.families.base import Evaluation

POLICY = promotion.Policy(metric="ndcg", direction="maximize", min_gain=0.01, baseline_min_gain=0.05,
                          guardrails=(promotion.Guardrail("coverage", min=0.1),
                                      promotion.Guardrail("agreement", source="pairwise", min=0.5)))


def evaluation(challenger, champion=None, baseline=0.2, coverage=0.3, agreement=0.9):
    return Evaluation(challenger={"ndcg": challenger, "coverage": coverage},
                      champion=None if champion is None else {"ndcg": champion, "coverage": 0.3},
                      baseline={"ndcg": baseline}, pairwise={} if champion is None else {"agreement": agreement})


def test_first_model_must_beat_the_baseline_by_its_margin():
    assert promotion.decide(POLICY, evaluation(0.26)).promote
    rejected = promotion.decide(POLICY, evaluation(0.24))
    assert not rejected.promote and rejected.reference == "baseline" and "not better than the baseline" in rejected.reason


def test_challenger_must_beat_the_champion_by_min_gain():
    assert promotion.decide(POLICY, evaluation(0.32, champion=0.30)).promote
    assert not promotion.decide(POLICY, evaluation(0.305, champion=0.30)).promote


def test_minimize_direction():
    policy = promotion.Policy(metric="ndcg", direction="minimize")
    assert promotion.decide(policy, evaluation(0.1, champion=0.2)).promote
    assert not promotion.decide(policy, evaluation(0.3, champion=0.2)).promote


def test_guardrails_veto_a_better_metric():
    low_coverage = promotion.decide(POLICY, evaluation(0.5, champion=0.3, coverage=0.05))
    assert not low_coverage.promote and "coverage=0.0500 below guardrail minimum 0.1" in low_coverage.reason
    unstable = promotion.decide(POLICY, evaluation(0.5, champion=0.3, agreement=0.2))
    assert not unstable.promote and "agreement" in unstable.reason


def test_a_guardrail_relative_to_the_baseline_moves_with_what_the_shop_allows():
    policy = promotion.Policy(metric="auc", direction="maximize",
                              guardrails=(promotion.Guardrail("lift", min_vs_baseline=1.0),))

    def judged(lift, baseline_lift):
        return promotion.decide(policy, Evaluation(challenger={"auc": 0.86, "lift": lift},
                                                   baseline={"auc": 0.82, "lift": baseline_lift}))

    assert judged(1.3, 1.25).promote  # a grocery shop: no model reaches 1.5, but it beats recency's lift
    refused = judged(1.2, 1.25)
    assert not refused.promote and "lift=1.2000 below 1.0 x the baseline's 1.2500" in refused.reason
    assert "not computed for the baseline" in judged(1.3, float("nan")).reason


def test_pairwise_guardrail_does_not_apply_without_a_champion():
    assert promotion.decide(POLICY, evaluation(0.5)).promote


def test_policy_files_are_checked(tmp_path, monkeypatch):
    monkeypatch.setattr(promotion.settings, "policies_dir", lambda: tmp_path)
    (tmp_path / "x.yaml").write_text("metric: auc\ndirection: maximize\nthreshold: 3\n")
    with pytest.raises(promotion.PolicyError, match=r"unknown field\(s\) \['threshold'\]"):
        promotion.load_policy("x")
    (tmp_path / "y.yaml").write_text("metric: auc\ndirection: up\n")
    with pytest.raises(promotion.PolicyError, match="direction"):
        promotion.load_policy("y")
    with pytest.raises(promotion.PolicyError, match="no promotion policy file"):
        promotion.load_policy("z")


def test_shipped_policies_load():
    policy = promotion.load_policy("segmentation")
    assert policy.metric == "silhouette" and any(g.source == "pairwise" for g in policy.guardrails)
