"""Drift: Evidently's verdicts read back per column, and the policy's action with its guards."""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from ml.drift.check import decide
from ml.drift.compare import DriftResult, compare
from ml.promotion import DriftPolicy, PolicyError, load_policy


def _frames(n=3000, seed=0, shift=0.0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"spend": rng.gamma(2.0, 30.0, n) + shift, "orders": rng.poisson(3, n).astype(float),
                         "tier": rng.choice(["gold", "silver", "bronze"], n, p=[0.2, 0.3, 0.5])})


@pytest.mark.parametrize("n", [300, 3000])  # below and above Evidently's 1000-row switch of tests
def test_a_column_shifted_on_purpose_drifts_and_the_ones_left_alone_do_not(n):
    reference, current = _frames(n, seed=1), _frames(n, seed=2)
    current["spend"] = current["spend"] * 1.6
    result = compare(reference, current, ["spend", "orders"], ["tier"])
    verdict = result.columns.set_index("column_name")["drifted"].to_dict()
    assert verdict == {"spend": True, "orders": False, "tier": False}
    assert result.share == pytest.approx(1 / 3)
    assert (result.reference_rows, result.current_rows) == (n, n)


def test_a_category_whose_mix_changed_drifts():
    reference, current = _frames(seed=1), _frames(seed=2)
    current["tier"] = np.where(np.arange(len(current)) % 2 == 0, "gold", current["tier"])
    verdict = compare(reference, current, ["orders"], ["tier"]).columns.set_index("column_name")["drifted"]
    assert verdict.to_dict() == {"orders": False, "tier": True}


def test_a_column_with_no_values_on_one_side_is_listed_not_tested_and_missing_columns_fail():
    reference, current = _frames(seed=1), _frames(seed=2)
    current["spend"] = np.nan
    result = compare(reference, current, ["spend", "orders"])
    spend = result.columns.set_index("column_name").loc["spend"]
    assert not spend["drifted"] and math.isnan(spend["drift_score"]) and "not compared" in spend["method"]
    assert result.share == 0.0  # of the columns compared
    with pytest.raises(ValueError, match=r"drift columns \['basket'\] are missing"):
        compare(reference, current, ["basket"])
    with pytest.raises(ValueError, match="drift needs rows on both sides: reference 0"):
        compare(reference.iloc[:0], current, ["orders"])


def test_large_frames_are_compared_on_a_seeded_sample():
    from ml.drift import compare as module

    reference, current = _frames(module.SAMPLE_ROWS + 500, seed=1), _frames(100, seed=2)
    first, second = compare(reference, current, ["spend"]), compare(reference, current, ["spend"])
    assert first.reference_rows == module.SAMPLE_ROWS and first.current_rows == 100
    assert first.columns["drift_score"].tolist() == second.columns["drift_score"].tolist()


@pytest.mark.parametrize("share, scores_drifted, action", [
    (0.6, False, "retrain"), (0.5, False, "retrain"), (0.4, False, "warn"), (0.1, True, "warn"), (0.1, False, "none"),
    (float("nan"), False, "none"),
])
def test_policy_action_by_the_share_of_drifted_inputs(share, scores_drifted, action):
    assert DriftPolicy(warn_share=0.3, retrain_share=0.5).action(share, scores_drifted)[0] == action


def _result(share: float, scores_drifted: bool = False) -> DriftResult:
    return DriftResult(pd.DataFrame({"column_name": ["x"], "drifted": [scores_drifted]}), share, 10, 10)


def test_a_retrain_is_only_requested_where_it_can_help():
    policy, day = DriftPolicy(), dt.date(2025, 6, 2)
    assert decide(policy, _result(0.9), None, day - dt.timedelta(days=28), day, tried=False)[0] == "retrain"
    action, reason = decide(policy, _result(0.9), None, day, day, tried=False)
    assert action == "warn" and "trained for 2025-06-02 already" in reason
    action, reason = decide(policy, _result(0.9), None, day - dt.timedelta(days=28), day, tried=True)
    assert action == "warn" and "already trained and judged for 2025-06-02" in reason
    assert decide(policy, _result(0.0), _result(1.0, True), day - dt.timedelta(days=28), day, False)[0] == "warn"


def test_every_shipped_policy_has_a_drift_entry_and_a_malformed_one_fails(tmp_path, monkeypatch):
    import shutil

    import yaml

    from ml.families import FAMILY_NAMES

    for name in FAMILY_NAMES:
        drift = load_policy(name).drift
        assert 0 < drift.warn_share <= drift.retrain_share <= 1
    config = tmp_path / "config"
    shutil.copytree("config", config)
    monkeypatch.setenv("VALUEFLOW_CONFIG_DIR", str(config))
    path = config / "policies" / "propensity.yaml"
    raw = yaml.safe_load(path.read_text())
    for drift, message in (({"warn_share": 2}, "shares in"), ({"retrain": 0.5}, "malformed `drift`"),
                           ({"warn_share": 0.6, "retrain_share": 0.4}, "warn_share 0.6 is above retrain_share")):
        path.write_text(yaml.safe_dump({**raw, "drift": drift}))
        with pytest.raises(PolicyError, match=message):
            load_policy("propensity")
