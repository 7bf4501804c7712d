"""Audiences: resolution by priority, control groups, missing marts and config errors."""
import copy
import logging

import pandas as pd
import pytest

from ml.audiences.rules import (
    AudienceConfigError,
    build_audiences,
    load_audiences,
    parse_audiences,
)
from ml.families.customer_value.tiers import load_tiers

TIER_NAMES = ["platinum", "gold", "silver", "bronze"]

CONFIG = {
    "seed": 11,
    "default_control_share": 0.0,
    "audiences": [
        {"name": "suppress_lapsed", "priority": 1, "action": "suppress", "reason": "lapsed bronze",
         "when": {"segment": ["lapsed"], "value_tier": ["bronze"]}},
        {"name": "win_back", "priority": 2, "action": "win_back", "reason": "valuable, at risk",
         "when": {"value_tier": ["platinum", "gold"], "churn_risk": {"min": 0.5}}},
        {"name": "cross_sell", "priority": 3, "action": "cross_sell", "reason": "new, likely to buy",
         "when": {"segment": ["new"], "propensity": {"min": 0.6}},
         "offer": {"type": "top_recommendations", "count": 2}},
        {"name": "vip", "priority": 4, "action": "reward", "reason": "top value",
         "when": {"value_tier": ["platinum"]}},
    ],
}


@pytest.fixture
def frames() -> dict[str, pd.DataFrame]:
    value = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e"],
        "value_tier": ["platinum", "gold", "bronze", "platinum", "silver"],
        "p_alive": [0.9, 0.2, 0.1, 0.95, 0.5],
        "predicted_clv_365d": [900.0, 400.0, 5.0, 800.0, 100.0],
        "expected_orders_90d": [3.0, 0.5, 0.0, 2.0, 1.0],
        "historical_value": [5000.0, 900.0, 20.0, 3000.0, 300.0],
    })
    segments = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "e"], "segment": ["champion", "loyal", "lapsed", "new", "new"]})
    propensity = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "e"],
                               "propensity": [0.9, 0.3, 0.1, 0.8, 0.7], "churn_risk": [0.1, 0.8, 0.9, 0.6, 0.2]})
    recommendations = pd.DataFrame({"customer_id": ["e", "e", "e", "d"], "product_id": ["p3", "p1", "p2", "p9"],
                                    "rank": [3, 1, 2, 1]})
    return {"value": value, "segments": segments, "propensity": propensity, "recommendations": recommendations}


def test_each_customer_lands_in_its_highest_priority_audience(frames):
    out = build_audiences(parse_audiences(CONFIG, TIER_NAMES), frames).set_index("customer_id")
    # d is platinum, churn 0.6 (win_back, prio 2), new with propensity 0.8 (cross_sell, 3) and vip (4).
    assert out["audience"].to_dict() == {"c": "suppress_lapsed", "b": "win_back", "d": "win_back",
                                         "e": "cross_sell", "a": "vip"}
    assert out.index.is_unique
    assert out.loc["e", "offer_product_ids"] == "p1,p2"  # top 2 by rank
    assert pd.isna(out.loc["d", "offer_product_ids"])  # win_back has no offer
    assert out.loc["b", "priority"] == 2 and out.loc["c", "action"] == "suppress"
    assert not out["is_control"].any()


def test_lower_priority_number_wins_whatever_the_file_order(frames):
    config = copy.deepcopy(CONFIG)
    config["audiences"].reverse()
    out = build_audiences(parse_audiences(config, TIER_NAMES), frames).set_index("customer_id")
    assert out.loc["d", "audience"] == "win_back"


def test_control_share_is_exact_and_seeded():
    n = 200
    frames = {"value": pd.DataFrame({"customer_id": [f"c{i:03d}" for i in range(n)], "value_tier": "gold",
                                     "p_alive": 0.9, "predicted_clv_365d": 1.0, "expected_orders_90d": 1.0,
                                     "historical_value": 1.0})}
    config = {"seed": 3, "audiences": [
        {"name": "all_gold", "priority": 1, "action": "email", "reason": "gold", "control_share": 0.15,
         "when": {"value_tier": ["gold"]}}]}
    first = build_audiences(parse_audiences(config), frames)
    assert first["is_control"].sum() == 30
    shuffled = {"value": frames["value"].sample(frac=1.0, random_state=1)}
    again = build_audiences(parse_audiences(config), shuffled)
    assert set(first.loc[first["is_control"], "customer_id"]) == set(again.loc[again["is_control"], "customer_id"])
    other_seed = build_audiences(parse_audiences(config | {"seed": 4}), frames)
    assert set(first.loc[first["is_control"], "customer_id"]) != set(other_seed.loc[other_seed["is_control"], "customer_id"])


def test_control_shares_are_per_audience(frames):
    config = copy.deepcopy(CONFIG)
    config["audiences"][3]["control_share"] = 0.5  # vip; 40 extra platinum customers make the share measurable
    big = {k: v.copy() for k, v in frames.items()}
    extra = pd.DataFrame({"customer_id": [f"v{i}" for i in range(40)], "value_tier": "platinum", "p_alive": 0.9,
                          "predicted_clv_365d": 1000.0, "expected_orders_90d": 1.0, "historical_value": 1.0})
    big["value"] = pd.concat([big["value"], extra], ignore_index=True)
    out = build_audiences(parse_audiences(config, TIER_NAMES), big)
    shares = out.groupby("audience")["is_control"].mean()
    assert shares["vip"] == pytest.approx(0.5, abs=1 / 41)
    assert shares["win_back"] == 0.0


def test_missing_marts_disable_only_their_rules(frames, caplog):
    with caplog.at_level(logging.WARNING):
        out = build_audiences(parse_audiences(CONFIG, TIER_NAMES), {"value": frames["value"], "segments": frames["segments"]})
    # No propensity mart: win_back and cross_sell match no one; suppression and vip still work.
    assert set(out["audience"]) == {"suppress_lapsed", "vip"}
    assert set(out.loc[out["audience"] == "vip", "customer_id"]) == {"a", "d"}
    assert "churn_risk" in caplog.text and "propensity" in caplog.text


def test_missing_recommendations_leave_offers_empty(frames, caplog):
    partial = {k: v for k, v in frames.items() if k != "recommendations"}
    with caplog.at_level(logging.WARNING):
        out = build_audiences(parse_audiences(CONFIG, TIER_NAMES), partial).set_index("customer_id")
    assert out.loc["e", "audience"] == "cross_sell" and pd.isna(out.loc["e", "offer_product_ids"])
    assert "recommendations" in caplog.text


def test_missing_column_counts_as_missing_mart(frames):
    frames["propensity"] = frames["propensity"].drop(columns="churn_risk")
    out = build_audiences(parse_audiences(CONFIG, TIER_NAMES), frames)
    assert "win_back" not in set(out["audience"])


def test_no_marts_at_all_gives_an_empty_frame_with_the_mart_columns():
    out = build_audiences(parse_audiences(CONFIG, TIER_NAMES), {})
    assert out.empty and list(out.columns) == [
        "customer_id", "audience", "action", "reason", "priority", "offer_product_ids", "is_control"]


def test_unknown_source_is_rejected(frames):
    with pytest.raises(KeyError, match="clv"):
        build_audiences(parse_audiences(CONFIG), {"clv": frames["value"]})


def _broken(path, value):
    config = copy.deepcopy(CONFIG)
    target = config
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return config


@pytest.mark.parametrize(
    "config, message",
    [
        (_broken(["audiences", 0, "when", "lifetime"], ["x"]), "unknown field 'lifetime'"),
        (_broken(["audiences", 1, "when", "value_tier"], ["diamond"]), r"unknown value tier\(s\) \['diamond'\]"),
        (_broken(["audiences", 0, "colour"], "red"), "unknown key"),
        (_broken(["audiences", 1, "priority"], 1), "priorities must be unique"),
        (_broken(["audiences", 1, "name"], "suppress_lapsed"), "names must be unique"),
        (_broken(["audiences", 1, "control_share"], 1.5), "control share"),
        (_broken(["audiences", 1, "priority"], KeyError), "missing 'priority'"),
        (_broken(["audiences", 1, "when", "churn_risk"], {"above": 0.5}), "min: , max: "),
        (_broken(["audiences", 1, "when", "churn_risk"], {"min": 0.9, "max": 0.1}), "min > max"),
        (_broken(["audiences", 2, "offer"], {"type": "coupon"}), "offer must be"),
        (_broken(["audiences", 0, "when"], {}), "at least one field"),
        (_broken(["targets"], []), "unknown top-level"),
        (_broken(["audiences"], []), "non-empty"),
    ],
)
def test_invalid_configs_stop_with_a_clear_error(config, message):
    with pytest.raises(AudienceConfigError, match=message):
        parse_audiences(config, TIER_NAMES)


def test_repository_config_is_valid_against_the_repository_tiers():
    config = load_audiences(tier_names=[t.name for t in load_tiers()])
    assert [a.priority for a in config.audiences] == sorted(a.priority for a in config.audiences)


def test_load_audiences_names_the_file(tmp_path):
    path = tmp_path / "audiences.yaml"
    path.write_text("audiences:\n  - name: x\n    priority: 1\n    action: a\n    reason: r\n    when: {value_tier: [tin]}\n")
    with pytest.raises(AudienceConfigError, match="audiences.yaml.*tin"):
        load_audiences(path, tier_names=TIER_NAMES)


def test_a_rule_on_the_values_lower_bound_picks_the_customers_worth_it_on_a_cautious_reading(frames):
    # a and d have the same high point value; only a's interval stays high at its lower end
    frames["value"] = frames["value"].assign(predicted_clv_365d_low=[600.0, 100.0, 0.0, 50.0, 20.0],
                                             p_order_30d=[0.7, 0.1, 0.0, 0.6, 0.3])
    config = {"seed": 1, "default_control_share": 0.0, "audiences": [
        {"name": "sure_value", "priority": 1, "action": "reward", "reason": "valuable even at the low end",
         "when": {"predicted_clv_365d_low": {"min": 500.0}, "p_order_30d": {"min": 0.5}}}]}
    out = build_audiences(parse_audiences(config, TIER_NAMES), frames)
    assert out["customer_id"].tolist() == ["a"]
