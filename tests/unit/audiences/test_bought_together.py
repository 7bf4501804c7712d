"""Cross-sell offers from marts.product_associations: the SQL (DuckDB), the rules and the shipped audience."""
import datetime as dt

import pandas as pd
import pytest

from ml import catalog
from ml.audiences.bought_together import read_bought_together
from ml.audiences.build import AUDIENCES_MART, build_marketing_audiences
from ml.audiences.rules import AudienceConfigError, build_audiences, parse_audiences
from ml.sql import sql_literal

AS_OF = dt.date(2024, 6, 1)


def write_baskets_and_rules(wh) -> None:
    """x bought p1, p2, p3 lately and p4 long ago; y bought only p9; rules among them (one mined later)."""
    interactions = pd.DataFrame({
        "customer_id": ["x", "x", "x", "x", "y"], "product_id": ["p1", "p2", "p3", "p4", "p9"],
        "purchase_qty": [1, 2, 1, 5, 1], "weight": [1.0, 2.0, 1.0, 0.5, 1.0],
        "last_purchase_date": pd.to_datetime(["2024-05-30", "2024-05-20", "2024-05-10", "2024-01-01", "2024-05-01"]),
    })
    wh.replace_partition(catalog.USER_ITEM_INTERACTIONS, interactions.assign(as_of_date=AS_OF), {"as_of_date": AS_OF})
    rules = pd.DataFrame([
        ("p1", "p5", 3.0), ("p3", "p5", 4.0),  # p5 offered at its best lift, 4
        ("p1", "p2", 5.0),  # x has p2 already: no offer
        ("p2", "p6", 2.0),
        ("p4", "p7", 9.0),  # p4 is not among x's three latest products
        ("p2", "p8", 1.5),
    ], columns=["antecedent_product_id", "consequent_product_id", "lift"]).assign(support=0.1, confidence=0.5)
    wh.replace_partition(catalog.PRODUCT_ASSOCIATIONS, rules.assign(as_of_date=AS_OF, run_id="mining"),
                         {"as_of_date": AS_OF})
    later = AS_OF + dt.timedelta(days=7)  # mined from orders after the as-of date: never read for it
    wh.replace_partition(catalog.PRODUCT_ASSOCIATIONS, rules.head(1).assign(consequent_product_id="p0", lift=99.0,
                                                                           as_of_date=later, run_id="later"),
                         {"as_of_date": later})


def check_offers(wh) -> None:
    write_baskets_and_rules(wh)
    offers = read_bought_together(wh, AS_OF, count=2)
    assert offers.sort_values("rank")[["customer_id", "product_id", "rank"]].values.tolist() == [
        ["x", "p5", 1], ["x", "p6", 2]]  # y's p9 has no rule
    assert read_bought_together(wh, AS_OF, count=5)["product_id"].tolist().count("p8") == 1


def test_offers_are_the_best_consequents_of_the_latest_products(warehouse):
    check_offers(warehouse)


def test_no_rules_no_offers(warehouse):
    assert read_bought_together(warehouse, AS_OF, count=3) is None


def test_an_audience_offering_products_bought_together():
    config = parse_audiences({"audiences": [
        {"name": "basket", "priority": 1, "action": "cross_sell", "reason": "r", "control_share": 0.0,
         "when": {"has_bought_together": True}, "offer": {"type": "bought_together", "count": 2}}]})
    frames = {"value": pd.DataFrame({"customer_id": ["x", "y"], "p_alive": [0.9, 0.9]}),
              "bought_together": pd.DataFrame({"customer_id": ["x", "x", "x"], "product_id": ["p6", "p5", "p8"],
                                               "rank": [2, 1, 3]})}
    out = build_audiences(config, frames).set_index("customer_id")
    assert out["offer_product_ids"].to_dict() == {"x": "p5,p6"}  # y has no offer, so is in no audience
    with pytest.raises(AudienceConfigError, match="bought_together"):
        parse_audiences({"audiences": [{"name": "b", "priority": 1, "action": "a", "reason": "r",
                                        "when": {"p_alive": {"min": 0.1}}, "offer": {"type": "bought_along"}}]})


def test_the_shipped_complete_the_basket_audience(warehouse):
    write_baskets_and_rules(warehouse)
    value = pd.DataFrame({"customer_id": ["x", "y"], "expected_orders_90d": 1.0, "p_alive": [0.8, 0.8],
                          "predicted_clv_365d": 50.0, "value_tier": "silver", "historical_value": 1.0})
    warehouse.replace_partition(catalog.USER_VALUE, value.assign(as_of_date=AS_OF), {"as_of_date": AS_OF})
    build_marketing_audiences(warehouse, AS_OF, "run-1")
    out = warehouse.query(f"SELECT * FROM {AUDIENCES_MART} WHERE as_of_date = {sql_literal(AS_OF)}")
    assert out[["customer_id", "audience", "action", "offer_product_ids"]].values.tolist() == [
        ["x", "complete_the_basket", "cross_sell", "p5,p6,p8"]]
