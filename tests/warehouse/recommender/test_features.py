"""Interaction and scoring SQL, and reading the matrix back, on DuckDB and on PostgreSQL."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ml.families.recommender.config import RecommenderConfig
from ml.families.recommender.content import read_catalogue
from ml.families.recommender.features import active_items_sql, first_sales_sql, holdout_sql, interactions_sql
from ml.families.recommender.interactions import build_matrix
from ml.sql import date_literal
from tests.unit.recommender.matrices import assert_same_matrix, random_interactions

pytestmark = pytest.mark.warehouse

AS_OF = dt.date(2024, 3, 1)
CONFIG = RecommenderConfig(half_life_days=10.0, cart_weight=0.5, view_weight=0.1, quantity_cap=5)



def order_lines() -> pd.DataFrame:
    rows = [
        # customer, product, qty, ts, is_return
        ("c1", "p1", 2, "2024-02-29 10:00", False),  # age 1 day
        ("c1", "p1", 1, "2024-02-20 10:00", False),  # age 10 days: half weight
        ("c1", "p2", 100, "2024-02-29 11:00", False),  # capped at 5 units
        ("c1", "p2", -100, "2024-02-29 12:00", True),  # returned all of it: pair drops out
        ("c2", "p1", 1, "2024-02-29 09:00", False),
        ("c2", "p3", 4, "2024-03-01 00:00", False),  # on the as-of date: not yet known
        (None, "p1", 7, "2024-02-28 09:00", False),  # guest: no customer to recommend to
        ("c3", "p4", 1, "2023-10-01 09:00", False),  # old sale: p4 no longer sold
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "product_id", "quantity", "invoice_ts", "is_return"])
    frame["invoice_ts"] = pd.to_datetime(frame["invoice_ts"])
    frame["invoice_id"] = [f"i{i}" for i in range(len(frame))]
    frame["line_no"] = 1
    frame["unit_price"] = 1.0
    frame["description"] = "x"
    frame["country"] = "UK"
    return frame


def events() -> pd.DataFrame:
    frame = pd.DataFrame(
        [
            ("c2", "p2", "cart", "2024-02-29 08:00"),
            ("c2", "p2", "view", "2024-02-29 08:00"),
            ("c3", "p5", "view", "2024-03-02 08:00"),  # after the as-of date
        ],
        columns=["customer_id", "product_id", "event_type", "event_ts"],
    )
    frame["event_ts"] = pd.to_datetime(frame["event_ts"])
    return frame


def products() -> pd.DataFrame:
    return pd.DataFrame({"product_id": ["p1", "p2", "p3", "p4"], "description": "x", "category": None,
                         "unit_price": 1.0})


def expected_weights() -> dict[tuple[str, str], float]:
    decay = lambda days: 0.5 ** (days / 10.0)  # noqa: E731
    return {
        ("c1", "p1"): 2 * decay(1) + 1 * decay(10),
        ("c2", "p1"): 1 * decay(1),
        ("c2", "p2"): 0.5 * decay(1) + 0.1 * decay(1),
        ("c3", "p4"): 1 * decay((AS_OF - dt.date(2023, 10, 1)).days),
    }


@pytest.fixture
def run_sql(any_warehouse):
    """The shop above in raw.* of DuckDB, then of PostgreSQL; runs a statement and returns its rows."""
    for name, frame in {"order_lines": order_lines(), "events": events(), "products": products()}.items():
        any_warehouse.replace_table(f"raw.{name}", frame)

    def run(sql: str):
        if sql.lstrip().upper().startswith("CREATE"):
            any_warehouse.execute(sql)
            return None
        return any_warehouse.query(sql)

    return run


def test_interaction_weights_returns_guests_and_point_in_time(run_sql):
    got = run_sql(interactions_sql(AS_OF, CONFIG, has_events=True))
    weights = {(r.customer_id, r.product_id): float(r.weight) for r in got.itertuples()}
    assert weights.keys() == expected_weights().keys()  # no guest, no returned pair, nothing on/after D
    for key, value in expected_weights().items():
        assert weights[key] == pytest.approx(value, rel=1e-6)
    c1p1 = got[(got.customer_id == "c1") & (got.product_id == "p1")].iloc[0]
    assert int(c1p1.purchase_qty) == 3 and int(c1p1.return_qty) == 0
    assert pd.Timestamp(c1p1.last_purchase_date) == pd.Timestamp("2024-02-29")
    c2p2 = got[(got.customer_id == "c2") & (got.product_id == "p2")].iloc[0]
    assert int(c2p2.cart_events) == 1 and int(c2p2.view_events) == 1 and pd.isna(c2p2.last_purchase_date)


def test_interactions_without_events_table(run_sql):
    got = run_sql(interactions_sql(AS_OF, CONFIG, has_events=False))
    assert ("c2", "p2") not in set(zip(got.customer_id, got.product_id))


def test_holdout_and_active_items(run_sql):
    holdout = run_sql(holdout_sql(dt.date(2024, 2, 29), dt.date(2024, 3, 2)))
    # c1 returned all of p2 inside the window: a purchase undone is not relevant
    assert set(zip(holdout.customer_id, holdout.product_id)) == {("c1", "p1"), ("c2", "p1"), ("c2", "p3")}
    active = set(run_sql(active_items_sql(AS_OF, CONFIG, has_catalogue=True)).product_id)
    assert active == {"p1", "p2"}  # p4 last sold 152 days ago; p3 sold on D (not yet known)


def test_first_sales_and_the_catalogue(run_sql, any_warehouse):
    first = run_sql(first_sales_sql(AS_OF))
    # p1's first sale is c1's on 02-20 (the guest's came later); p2's was sold, then returned; p3 on D
    assert {r.product_id: pd.Timestamp(r.first_sold) for r in first.itertuples()} == {
        "p1": pd.Timestamp("2024-02-20"), "p2": pd.Timestamp("2024-02-29"), "p4": pd.Timestamp("2023-10-01")}
    catalogue = read_catalogue(any_warehouse)
    assert list(catalogue.columns) == ["product_id", "description", "category", "unit_price"]
    assert sorted(catalogue["product_id"]) == ["p1", "p2", "p3", "p4"] and catalogue["category"].isna().all()


def test_scoring_queries(run_sql):
    from ml.families.recommender.score import active_customers_sql, popularity_sql, segment_popularity_sql

    active_sql = active_items_sql(AS_OF, CONFIG, has_catalogue=True)
    assert list(run_sql(active_customers_sql(AS_OF, 30)).customer_id) == ["c1", "c2"]
    popular = run_sql(popularity_sql(AS_OF, 30, active_sql))
    # p1: c1 and c2 (the guest does not count); p2: c1 bought it (the return does not unbuy popularity)
    assert dict(zip(popular.product_id, popular.buyers.astype(int))) == {"p1": 2, "p2": 1}
    run_sql("CREATE SCHEMA IF NOT EXISTS marts")
    run_sql("CREATE TABLE marts.segs AS SELECT 'c1' AS customer_id, 'vip' AS segment, "
            f"{date_literal(AS_OF)} AS as_of_date")
    by_segment = run_sql(segment_popularity_sql(AS_OF, 30, active_sql, "marts.segs", "segment"))
    assert sorted(zip(by_segment.segment, by_segment.product_id)) == [("vip", "p1"), ("vip", "p2")]


def test_read_matrix_streams_one_partition_out_of_the_warehouse(any_warehouse):
    from ml.families.recommender.interactions import read_matrix

    wh = any_warehouse
    frame = random_interactions(4)
    frame["last_purchase_date"] = pd.to_datetime(frame["last_purchase_date"]).dt.date
    other = random_interactions(5).assign(last_purchase_date=None)
    table = pd.concat([frame.assign(as_of_date=AS_OF), other.assign(as_of_date=dt.date(2023, 1, 1))])
    wh.replace_table("features.some_interactions", table)
    config = RecommenderConfig(recent_days=30)
    got = read_matrix(wh, "features.some_interactions", f"as_of_date = {date_literal(AS_OF)}", AS_OF, config,
                      batch_rows=50)
    want = build_matrix(frame.assign(last_purchase_date=pd.to_datetime(frame["last_purchase_date"])), AS_OF, config)
    assert_same_matrix(got, want)


def test_read_matrix_user_sample_is_the_smallest_md5s_of_the_partition(any_warehouse):
    import hashlib

    from ml.families.recommender.interactions import read_matrix

    wh = any_warehouse
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({
        "customer_id": rng.choice([f"C{i}" for i in range(40)], 400).astype(object),
        "product_id": rng.choice([f"P{i}" for i in range(12)], 400).astype(object),
        "weight": rng.integers(1, 16, 400) / 4.0,
        "last_purchase_date": AS_OF - dt.timedelta(days=3),
    })
    # Customers of another partition whose md5s are smaller must not take places in the sample.
    other = pd.DataFrame({"customer_id": [f"X{i}" for i in range(200)], "product_id": "P0", "weight": 1.0,
                          "last_purchase_date": None})
    other = other[other["customer_id"].map(lambda c: hashlib.md5(c.encode()).hexdigest() < "2")]
    wh.replace_table("features.some_interactions", pd.concat([frame.assign(as_of_date=AS_OF),
                                                             other.assign(as_of_date=dt.date(2023, 1, 1))]))
    config = RecommenderConfig(recent_days=30)
    got = read_matrix(wh, "features.some_interactions", f"as_of_date = {date_literal(AS_OF)}", AS_OF, config,
                      batch_rows=50, max_users=10)
    kept = sorted(frame["customer_id"].unique(), key=lambda c: hashlib.md5(c.encode()).hexdigest())[:10]
    assert sorted(kept) != sorted(frame["customer_id"].unique())[:10]  # a sample by id order would fail
    sampled = frame[frame["customer_id"].isin(kept)]
    want = build_matrix(sampled.assign(last_purchase_date=pd.to_datetime(sampled["last_purchase_date"])), AS_OF, config)
    assert_same_matrix(got, want)
