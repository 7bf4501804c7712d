"""marts.audience_uplift: contacted against control customers once the readout window has passed."""
import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ml import catalog
from ml.audiences import uplift
from ml.audiences.rules import AudienceConfigError, parse_audiences
from tests.helpers import load, order_lines

AS_OF = dt.date(2024, 3, 1)
CONFIG = parse_audiences({"seed": 1, "readout_window_days": 30, "audiences": [
    {"name": "win", "priority": 1, "action": "win_back", "reason": "r", "when": {"p_alive": {"max": 0.5}},
     "expected_effect": 0.10},
    {"name": "tiny", "priority": 2, "action": "reward", "reason": "r", "when": {"p_alive": {"min": 0.9}}}]})
# win: a-f contacted, g-j control; tiny: k contacted, l control
MEMBERS = pd.DataFrame({
    "customer_id": list("abcdefghijkl"), "audience": ["win"] * 10 + ["tiny"] * 2,
    "action": ["win_back"] * 10 + ["reward"] * 2,
    "is_control": [False] * 6 + [True] * 4 + [False, True]})
# in the window: a, b, c buy (c twice); d only returns; g buys; k buys; e buys on D + 30 (outside)
AFTER = [
    ("1", "P1", 1, 10.0, "2024-03-02 10:00", "a"), ("2", "P1", 2, 10.0, "2024-03-05 10:00", "b"),
    ("3", "P1", 1, 30.0, "2024-03-06 10:00", "c"), ("4", "P1", 1, 30.0, "2024-03-20 10:00", "c"),
    ("C5", "P1", -1, 10.0, "2024-03-07 10:00", "d"), ("6", "P1", 1, 5.0, "2024-03-10 10:00", "g"),
    ("7", "P1", 1, 9.0, "2024-03-11 10:00", "k"), ("8", "P1", 1, 9.0, "2024-03-31 10:00", "e"),
]
BEFORE = [("0", "P1", 1, 10.0, "2024-02-01 10:00", c) for c in "abcdefghijkl"]


@pytest.fixture
def shop(warehouse):
    load(warehouse, order_lines(BEFORE + AFTER))
    audiences = MEMBERS.assign(reason="r", priority=1, offer_product_ids="", run_id="build-1", as_of_date=AS_OF)
    warehouse.replace_partition(catalog.MARKETING_AUDIENCES, audiences, {"as_of_date": AS_OF})
    return warehouse


def _readout(wh) -> pd.DataFrame:
    return wh.query(f"SELECT * FROM {catalog.AUDIENCE_UPLIFT}").set_index("audience")


def test_conversion_and_revenue_of_contacted_against_control_with_welch_intervals(shop):
    assert uplift.read_out_due(shop, CONFIG) == ["audiences of 2024-03-01"]
    win = _readout(shop).loc["win"]
    assert (win["treated"], win["control"], win["window_days"]) == (6, 4, 30)
    # contacted a, b, c bought (d's return is no purchase, e's order is a day late): 3 of 6; control g: 1 of 4
    assert win["treated_conversion"] == pytest.approx(0.5) and win["control_conversion"] == pytest.approx(0.25)
    assert win["conversion_uplift"] == pytest.approx(0.25)
    expected = stats.ttest_ind([1, 1, 1, 0, 0, 0], [1, 0, 0, 0], equal_var=False).confidence_interval(0.95)
    assert (win["conversion_uplift_low"], win["conversion_uplift_high"]) == pytest.approx((expected.low, expected.high))
    # net revenue per customer: (10 + 20 + 60 - 10) / 6 against 5 / 4
    assert win["treated_revenue"] == pytest.approx(80 / 6) and win["control_revenue"] == pytest.approx(1.25)
    assert win["revenue_uplift"] == pytest.approx(80 / 6 - 1.25)
    assert win["run_id"] == "build-1" and win["expected_effect"] == pytest.approx(0.10)
    # four control customers cannot detect +10 points: said, not hidden
    assert not win["powered"] and "indicative only" in win["note"]


def test_a_control_group_of_one_is_written_as_unable_to_measure(shop):
    uplift.read_out_due(shop, CONFIG)
    tiny = _readout(shop).loc["tiny"]
    assert (tiny["treated"], tiny["control"]) == (1, 1) and math.isnan(tiny["conversion_uplift_low"])
    assert tiny["note"] == "a control group of 1 cannot measure uplift" and not tiny["powered"]
    assert tiny["expected_effect"] == pytest.approx(0.05)  # the default


def test_only_partitions_whose_window_has_passed_are_read_out_and_each_build_once(shop):
    later = AS_OF + dt.timedelta(days=5)  # [D, D + 30) ends 2024-04-05; the export ends 2024-03-31
    shop.replace_partition(catalog.MARKETING_AUDIENCES, MEMBERS.assign(
        reason="r", priority=1, offer_product_ids="", run_id="build-2", as_of_date=later), {"as_of_date": later})
    assert uplift.readout_dates(shop, 30) == [(AS_OF, "build-1")]
    uplift.read_out_due(shop, CONFIG)
    assert uplift.read_out_due(shop, CONFIG) == []


def test_the_detectable_effect_is_the_normal_approximation_at_80_percent_power():
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert uplift.detectable_effect(0.5, 1000, 1000) == pytest.approx(z * np.sqrt(0.25 * 2 / 1000))
    assert uplift.detectable_effect(0.2, 1000, 100) > uplift.detectable_effect(0.2, 1000, 1000)
    assert uplift.detectable_effect(0.2, 10, 0) == math.inf


@pytest.mark.parametrize("bad", [0, 1.5, "big", True])
def test_an_expected_effect_outside_0_1_is_refused(bad):
    with pytest.raises(AudienceConfigError, match="expected_effect must be a conversion lift"):
        parse_audiences({"audiences": [{"name": "a", "priority": 1, "action": "x", "reason": "r",
                                        "when": {"p_alive": {"max": 0.5}}, "expected_effect": bad}]})


def test_the_valueflow_view_shows_the_newest_readout(shop, mlflow_store, tmp_path):
    from ml.report import overview, view

    uplift.read_out_due(shop, CONFIG)
    table = overview.campaign_uplift(shop).set_index("audience")
    assert table.loc["win", "powered"] == "no" and table.loc["win", "treated"] == 6
    page = view.render_view(shop, tmp_path, view.Links(None, tmp_path, "/dd", "/r"))
    assert '<section id="uplift">' in page and "25.0%" in page  # win's conversion uplift
