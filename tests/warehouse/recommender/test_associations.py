"""Pair rules and marts.product_associations on DuckDB and on PostgreSQL: FP-growth's rules on both."""
import dataclasses

import numpy as np
import pytest

from ml import catalog
from ml.families.recommender.associations import build_associations, pair_rules_sql
from tests.unit.recommender.baskets import AS_OF, BASKETS, LOOSE, mlxtend_rules, order_lines, sorted_rules

pytestmark = pytest.mark.warehouse


@pytest.mark.parametrize("thresholds", [{}, {"min_lift": 1.3, "min_confidence": 0.1}, {"max_products": 4}])
def test_the_same_rules_as_fp_growth_on_both_warehouses(any_warehouse, thresholds):
    any_warehouse.replace_table("raw.order_lines", order_lines())
    config = dataclasses.replace(LOOSE, **thresholds)
    kept = [[p for p in b if config.max_products >= 6 or p in ("p1", "p2", "p3", "p4")] for b in BASKETS]
    expected = mlxtend_rules([b for b in kept if len(b) >= 2], config)
    got = sorted_rules(any_warehouse.query(pair_rules_sql(AS_OF, config)))
    assert list(zip(got.antecedent_product_id, got.consequent_product_id)) == list(
        zip(expected.antecedent_product_id, expected.consequent_product_id))
    for column in ("support", "confidence", "lift"):
        np.testing.assert_allclose(got[column], expected[column], rtol=0, atol=1e-9, err_msg=column)


def test_the_mart_on_both_warehouses(any_warehouse, mlflow_store):
    any_warehouse.replace_table("raw.order_lines", order_lines())
    mined = build_associations(any_warehouse, AS_OF, LOOSE)
    table = catalog.PRODUCT_ASSOCIATIONS
    assert any_warehouse.columns(table) == [*catalog.MART_COLUMNS[table], *catalog.ASSOCIATION_LINEAGE_COLUMNS]
    mart = any_warehouse.query(f"SELECT * FROM {table}")
    assert len(mart) == mined.rules > 0 and set(mart["run_id"]) == {mined.run_id} and (mart["lift"] > 1).any()
