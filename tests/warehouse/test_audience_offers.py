"""Bought-together offers for audiences read alike from DuckDB and PostgreSQL."""
import pytest

from tests.unit.audiences.test_bought_together import check_offers

pytestmark = pytest.mark.warehouse


def test_bought_together_offers_on_both_warehouses(any_warehouse):
    check_offers(any_warehouse)
