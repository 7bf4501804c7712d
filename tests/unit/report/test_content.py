"""The report's numbers from small hand-made marts, in DuckDB and PostgreSQL."""
import datetime as dt

import pandas as pd
import pytest

from ml.report import content

AS_OF = dt.date(2024, 6, 3)  # a Monday, like a forecast origin
LINEAGE = {"model_name": "m", "model_version": "3", "run_id": "r", "model_kind": "kmeans"}


def _write(wh, table, frame, as_of=AS_OF, lineage=True):
    frame = frame.assign(as_of_date=as_of, **(LINEAGE if lineage else {}))
    wh.replace_partition(table, frame, {"as_of_date": as_of})


@pytest.fixture
def shop(any_warehouse):
    wh = any_warehouse
    _write(wh, "marts.user_segments", pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"], "segment_id": [1, 1, 1, 2],
        "segment_name": ["loyal", "loyal", "loyal", "lapsed"]}))
    _write(wh, "features.user_features", pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"], "recency_days": [10, 20, 30, 200], "frequency": [5, 3, 1, 1],
        "monetary": [500.0, 300.0, 100.0, 100.0]}), lineage=False)
    _write(wh, "marts.user_value", pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"], "value_tier": ["platinum", "gold", "bronze", "bronze"],
        "historical_value": [500.0, 300.0, 100.0, 100.0], "predicted_clv_365d": [600.0, 300.0, 50.0, 50.0],
        "p_alive": [0.9, 0.8, 0.5, 0.1]}))
    _write(wh, "marts.marketing_audiences", pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"], "audience": ["vip", "vip", "vip", "winback"],
        "action": ["thank", "thank", "thank", "discount"], "priority": [1, 1, 1, 2],
        "is_control": [False, False, True, False], "run_id": "x"}), lineage=False)
    _write(wh, "marts.user_recommendations", pd.DataFrame({
        "customer_id": ["a", "a", "b", "b", "c"], "rank": [1, 2, 1, 2, 1],
        "product_id": ["p1", "p2", "p2", "p1", "p2"], "score": 1.0}))
    _write(wh, "raw.order_lines", pd.DataFrame({"product_id": ["p1", "p2"], "description": ["MUG", "TEA"]}),
           lineage=False)
    weeks = [AS_OF + dt.timedelta(weeks=h) for h in range(4)]
    _write(wh, "marts.product_sales_forecast", pd.DataFrame({
        "product_id": ["p1"] * 4 + ["p2"] * 4, "week_start": weeks * 2, "horizon": [1, 2, 3, 4] * 2,
        "predicted_units": [1.0, 1, 1, 1, 5, 6, 7, 8], "lower_80": 0.0, "upper_80": 10.0}))
    _write(wh, "features.product_weekly_sales", pd.DataFrame({
        "product_id": ["p2"] * 20, "week_start": [AS_OF - dt.timedelta(weeks=w) for w in range(20, 0, -1)],
        "units": [float(w) for w in range(20)]}), lineage=False)
    return wh


def test_segment_sizes_and_profiles_come_from_the_segments_and_the_same_day_features(shop):
    section = content.segments(shop, AS_OF)
    table = section.table.set_index("segment")
    assert table.index.tolist() == ["loyal", "lapsed"]  # largest first
    assert table.loc["loyal", "customers"] == 3 and table.loc["loyal", "customer_share"] == pytest.approx(0.75)
    assert table.loc["loyal", "mean_recency_days"] == pytest.approx(20)
    assert table.loc["loyal", "mean_orders"] == pytest.approx(3)
    assert table.loc["loyal", "mean_spend"] == pytest.approx(300)
    assert table.loc["lapsed", "spend_share"] == pytest.approx(0.1)
    assert "marts.user_segments for 2024-06-03" in section.source and "m version 3 (kmeans)" in section.source


def test_value_tiers_follow_the_tier_order_and_their_shares_add_up(shop):
    table = content.value_tiers(shop, AS_OF).table
    assert table["value_tier"].tolist() == ["platinum", "gold", "bronze"]  # config order, empty silver left out
    bronze = table.set_index("value_tier").loc["bronze"]
    assert bronze["customers"] == 2 and bronze["historical_share"] == pytest.approx(0.2)
    assert bronze["predicted_share"] == pytest.approx(0.1)
    assert table["customer_share"].sum() == pytest.approx(1.0)


def test_audiences_count_contacted_and_control_customers_in_priority_order(shop):
    table = content.audiences(shop, AS_OF).table
    assert table[["audience", "treated", "control"]].values.tolist() == [["vip", 2, 1], ["winback", 1, 0]]
    assert table["control_share"].iloc[0] == pytest.approx(1 / 3)


def test_top_recommendations_count_lists_first_choices_and_name_the_product(shop):
    table = content.top_recommendations(shop, AS_OF).table
    assert table[["product_id", "description", "customers", "first_choice"]].values.tolist() == [
        ["p2", "TEA", 3, 2], ["p1", "MUG", 2, 1]]
    assert table["share_of_lists"].tolist() == pytest.approx([1.0, 2 / 3])


def test_forecast_shows_the_top_products_first_with_recent_history(shop):
    section = content.forecast(shop, AS_OF, top_n=1, history_weeks=12)
    assert set(section.table["product_id"]) == {"p2"}  # 26 units forecast against p1's 4
    assert section.table["predicted_units"].tolist() == [5, 6, 7, 8]
    assert len(section.history) == 12 and section.history["week_start"].max() == AS_OF - dt.timedelta(weeks=1)


def test_a_stale_mart_is_named_and_a_missing_one_says_so(shop):
    later = AS_OF + dt.timedelta(days=7)
    assert "the latest partition on or before 2024-06-10" in content.value_tiers(shop, later).source
    before = content.audiences(shop, AS_OF - dt.timedelta(days=1))
    assert before.empty and "has no partition on or before 2024-06-02" in before.note
    shop.execute("DROP TABLE marts.user_segments")
    gone = content.segments(shop, AS_OF)
    assert gone.empty and "marts.user_segments does not exist" in gone.note
