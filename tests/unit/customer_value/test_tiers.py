"""Value tiers: configuration checks and monotone assignment."""
import numpy as np
import pandas as pd
import pytest

from ml.families.customer_value.tiers import Tier, TierConfigError, assign_value_tiers, load_tiers, parse_tiers

TIERS = [Tier("platinum", 0.05), Tier("gold", 0.15), Tier("silver", 0.30), Tier("bronze", None)]
ORDER = {t.name: i for i, t in enumerate(TIERS)}


def test_repository_config_loads():
    assert [t.name for t in load_tiers()] == ["platinum", "gold", "silver", "bronze"]


def test_shares_are_respected_without_ties():
    values = pd.Series(np.arange(100, dtype=float), index=[f"c{i}" for i in range(100)])
    tiers = assign_value_tiers(values, TIERS)
    assert tiers.value_counts().to_dict() == {"bronze": 50, "silver": 30, "gold": 15, "platinum": 5}
    assert set(tiers[values >= 95]) == {"platinum"}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tiers_are_monotone_in_predicted_value(seed):
    rng = np.random.default_rng(seed)
    # Rounded values force ties, including ties across a tier boundary.
    values = pd.Series(np.round(rng.lognormal(3, 1, 137), -1))
    rank = assign_value_tiers(values, TIERS).map(ORDER)
    order = np.argsort(-values.to_numpy(), kind="stable")
    assert np.all(np.diff(rank.to_numpy()[order]) >= 0)  # higher value never in a lower tier
    for _, group in rank.groupby(values):
        assert group.nunique() == 1  # equal values share a tier


def test_a_tie_at_a_boundary_goes_to_the_tier_where_most_of_it_falls():
    # 60 customers predicted 0 straddle the silver/bronze cut (ranks 41-100, the cut at 50): they are
    # bronze, and silver keeps the 20 positive values below gold.
    values = pd.Series(np.r_[np.arange(40, 0, -1, dtype=float), np.zeros(60)])
    assert assign_value_tiers(values, TIERS).value_counts().to_dict() == {
        "bronze": 60, "silver": 20, "gold": 15, "platinum": 5}
    # a tie that lies mostly above the cut stays above it: ranks 45-54 hold 10 equal values, 6 of them
    # before the cut at 50, so silver takes all 10 (ranks 21-54)
    values = pd.Series(np.r_[np.arange(100, 56, -1, dtype=float), np.full(10, 50.0), np.arange(46, 0, -1, dtype=float)])
    assert assign_value_tiers(values, TIERS).value_counts()["silver"] == 34
    assert assign_value_tiers(pd.Series(np.zeros(10)), TIERS).unique().tolist() == ["bronze"]


def test_tiny_and_empty_inputs():
    assert assign_value_tiers(pd.Series([5.0]), TIERS).tolist() == ["bronze"]  # round(0.05) = 0 platinum
    assert assign_value_tiers(pd.Series([], dtype=float), TIERS).empty
    with pytest.raises(ValueError, match="NaN"):
        assign_value_tiers(pd.Series([1.0, np.nan]), TIERS)


@pytest.mark.parametrize(
    "config, message",
    [
        ({"tiers": []}, "non-empty"),
        ({"tier": [{"name": "a"}]}, "exactly one key"),
        ({"tiers": [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.5}]}, "must not have a share"),
        ({"tiers": [{"name": "a"}, {"name": "b"}]}, "needs a share"),
        ({"tiers": [{"name": "a", "share": 0.6}, {"name": "b", "share": 0.5}, {"name": "c"}]}, "sum to less than 1"),
        ({"tiers": [{"name": "a", "share": 0.1}, {"name": "a"}]}, "unique"),
        ({"tiers": [{"name": "a", "share": 0.1, "colour": "red"}, {"name": "b"}]}, "optionally 'share'"),
    ],
)
def test_invalid_tier_configs_are_rejected(config, message):
    with pytest.raises(TierConfigError, match=message):
        parse_tiers(config)


def test_load_tiers_names_the_file(tmp_path):
    path = tmp_path / "tiers.yaml"
    path.write_text("tiers:\n  - name: top\n")
    assert load_tiers(path) == [Tier("top", None)]
    path.write_text("tiers:\n  - name: top\n    share: 2\n  - name: rest\n")
    with pytest.raises(TierConfigError, match="tiers.yaml"):
        load_tiers(path)


def test_chunked_tiering_equals_tiering_the_whole_base():
    from ml.families.customer_value.tiers import apply_value_tiers, value_tier_thresholds

    values = np.round(np.random.default_rng(4).gamma(0.5, 100.0, 1001), 0)
    thresholds = value_tier_thresholds(values, TIERS)
    chunked = np.concatenate([apply_value_tiers(chunk, TIERS, thresholds) for chunk in np.array_split(values, 7)])
    assert chunked.tolist() == assign_value_tiers(pd.Series(values), TIERS).tolist()
    assert np.all(np.diff(thresholds) <= 0)
