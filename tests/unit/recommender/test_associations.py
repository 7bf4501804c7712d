"""Pair rules mined in SQL (DuckDB): the same as mlxtend's FP-growth, point in time, bounded, and
written to marts.product_associations with the run that mined them."""
import dataclasses
import datetime as dt

import mlflow
import numpy as np
import pandas as pd
import pytest

from ml import catalog
from ml.families.recommender.associations import basket_counts_sql, build_associations, pair_rules_sql
from ml.sql import date_literal
from tests.unit.recommender.baskets import AS_OF, BASKETS, LOOSE, mlxtend_rules, order_lines, sorted_rules


@pytest.fixture
def shop(warehouse):
    warehouse.replace_table("raw.order_lines", order_lines())
    return warehouse


def rules(wh, config=LOOSE, as_of=AS_OF) -> pd.DataFrame:
    return sorted_rules(wh.query(pair_rules_sql(as_of, config)))


def assert_same_rules(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(zip(got.antecedent_product_id, got.consequent_product_id)) == list(
        zip(expected.antecedent_product_id, expected.consequent_product_id))
    for column in ("support", "confidence", "lift"):
        np.testing.assert_allclose(got[column], expected[column], rtol=0, atol=1e-9, err_msg=column)


@pytest.mark.parametrize("thresholds", [
    {}, {"min_lift": 1.0}, {"min_support": 0.2, "min_confidence": 0.5}, {"min_lift": 1.3, "min_confidence": 0.1}])
def test_sql_pair_rules_are_fp_growth_s(shop, thresholds):
    config = dataclasses.replace(LOOSE, **thresholds)
    expected = mlxtend_rules(BASKETS, config)
    assert len(expected) >= 2
    assert_same_rules(rules(shop, config), expected)


def test_the_rules_by_hand(shop):
    counts = shop.query(basket_counts_sql(AS_OF, LOOSE))
    assert (int(counts.baskets[0]), int(counts.products[0])) == (12, 6)  # the return and lone line are no baskets
    got = rules(shop).set_index(["antecedent_product_id", "consequent_product_id"])
    # p1 in 7 baskets, p2 in 6, both together in 5
    assert got.loc[("p1", "p2"), "support"] == pytest.approx(5 / 12)
    assert got.loc[("p1", "p2"), "confidence"] == pytest.approx(5 / 7)
    assert got.loc[("p2", "p1"), "lift"] == pytest.approx((5 / 6) / (7 / 12))


def test_an_order_on_or_after_the_as_of_date_changes_nothing(shop):
    before = rules(shop)
    later = order_lines([["p1", "p6"], ["p1", "p6"], ["p5", "p6"]], as_of=AS_OF + dt.timedelta(days=2))
    later["invoice_id"] = "late" + later["invoice_id"]
    later["invoice_ts"] = [pd.Timestamp(AS_OF)] * 2 + [pd.Timestamp(AS_OF) + pd.Timedelta(hours=5)] * (len(later) - 2)
    shop.append("raw.order_lines", later)
    pd.testing.assert_frame_equal(rules(shop), before)
    assert not rules(shop, as_of=AS_OF + dt.timedelta(days=3)).equals(before)  # the same orders, once known


def test_the_lookback_drops_old_baskets(shop):
    recent = dataclasses.replace(LOOSE, lookback_days=100)  # the four newest baskets
    assert_same_rules(rules(shop, recent), mlxtend_rules(BASKETS[:4], recent))


def test_catalogue_basket_and_rule_bounds(shop):
    top4 = dataclasses.replace(LOOSE, max_products=4)  # p1, p3, p4 (7 baskets each), p2 (6): p5, p6 left out
    kept = [[p for p in basket if p in ("p1", "p2", "p3", "p4")] for basket in BASKETS]
    assert_same_rules(rules(shop, top4), mlxtend_rules([b for b in kept if len(b) >= 2], top4))
    small = dataclasses.replace(LOOSE, max_basket_products=3)  # the two 4-product baskets are stock orders
    assert_same_rules(rules(shop, small), mlxtend_rules([b for b in BASKETS if len(b) <= 3], small))
    two = rules(shop, dataclasses.replace(LOOSE, max_rules_per_product=2))
    assert two.groupby("antecedent_product_id").size().max() == 2
    everything = rules(shop)
    for antecedent, kept_rules in two.groupby("antecedent_product_id"):
        best = everything[everything.antecedent_product_id == antecedent].nlargest(1, "lift")
        assert best["lift"].iloc[0] == kept_rules["lift"].max()


def test_only_sellable_consequents(shop):
    got = sorted_rules(shop.query(pair_rules_sql(AS_OF, LOOSE, consequents_sql="SELECT 'p1' AS product_id")))
    assert set(got.consequent_product_id) == {"p1"} and len(got) > 0


def test_the_mart_carries_the_mining_run_and_is_replaced_per_date(shop, mlflow_store):
    mined = build_associations(shop, AS_OF, LOOSE)
    again = build_associations(shop, AS_OF, LOOSE)
    other = build_associations(shop, AS_OF - dt.timedelta(days=60), LOOSE)
    table = catalog.PRODUCT_ASSOCIATIONS
    assert shop.columns(table) == [*catalog.MART_COLUMNS[table], *catalog.ASSOCIATION_LINEAGE_COLUMNS]
    mart = shop.query(f"SELECT * FROM {table} WHERE as_of_date = {date_literal(AS_OF)}")
    assert len(mart) == mined.rules == again.rules == len(mlxtend_rules(BASKETS, LOOSE))
    assert set(mart["run_id"]) == {again.run_id} and (mart["lift"] > 1).any()
    assert shop.row_count(table) == mined.rules + other.rules
    run = mlflow.get_run(mined.run_id)
    assert run.data.metrics["n_rules"] == mined.rules and run.data.metrics["baskets"] == 12
    assert float(run.data.params["min_support"]) == LOOSE.min_support
