"""Interaction and scoring SQL (run on DuckDB, and on PostgreSQL when it is reachable) and the CSR matrix."""
import datetime as dt
import os
import uuid

import numpy as np
import pandas as pd
import pytest

from ml.families.recommender.config import RecommenderConfig
from ml.families.recommender.features import active_items_sql, holdout_sql, interactions_sql
from ml.families.recommender.interactions import build_matrix, build_relevance
from ml.sql import MissingColumns, date_literal

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


@pytest.fixture
def duck():
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw")
    for name, frame in {"order_lines": order_lines(), "events": events(), "products": products()}.items():
        con.register("incoming", frame)
        con.execute(f"CREATE TABLE raw.{name} AS SELECT * FROM incoming")
        con.unregister("incoming")
    yield lambda sql: con.execute(sql).fetch_df()
    con.close()


@pytest.fixture
def postgres():
    psycopg = pytest.importorskip("psycopg")
    admin_url = os.environ.get("VALUEFLOW_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        pytest.skip("PostgreSQL not reachable")
    name = f"vf_test_rec_{uuid.uuid4().hex[:8]}"
    admin.execute(f"CREATE DATABASE {name}")
    con = psycopg.connect(admin_url.rsplit("/", 1)[0] + f"/{name}", autocommit=True)
    try:
        con.execute("CREATE SCHEMA raw")
        con.execute(
            "CREATE TABLE raw.order_lines (invoice_id TEXT, line_no BIGINT, product_id TEXT, description TEXT,"
            " quantity BIGINT, unit_price DOUBLE PRECISION, invoice_ts TIMESTAMP, customer_id TEXT,"
            " country TEXT, is_return BOOLEAN)"
        )
        for r in order_lines().itertuples():
            con.execute(
                "INSERT INTO raw.order_lines VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (r.invoice_id, r.line_no, r.product_id, r.description, r.quantity, r.unit_price,
                 r.invoice_ts.to_pydatetime(), None if pd.isna(r.customer_id) else r.customer_id, r.country, r.is_return),
            )
        con.execute("CREATE TABLE raw.events (customer_id TEXT, product_id TEXT, event_type TEXT, event_ts TIMESTAMP)")
        for r in events().itertuples():
            con.execute("INSERT INTO raw.events VALUES (%s,%s,%s,%s)",
                        (r.customer_id, r.product_id, r.event_type, r.event_ts.to_pydatetime()))
        con.execute("CREATE TABLE raw.products (product_id TEXT, description TEXT, category TEXT, unit_price DOUBLE PRECISION)")
        for p in products()["product_id"]:
            con.execute("INSERT INTO raw.products VALUES (%s, 'x', NULL, 1.0)", (p,))

        def run(sql):
            cur = con.execute(sql)
            if cur.description is None:  # DDL: nothing to return
                return None
            return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])

        yield run
    finally:
        con.close()
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()


def expected_weights() -> dict[tuple[str, str], float]:
    decay = lambda days: 0.5 ** (days / 10.0)  # noqa: E731
    return {
        ("c1", "p1"): 2 * decay(1) + 1 * decay(10),
        ("c2", "p1"): 1 * decay(1),
        ("c2", "p2"): 0.5 * decay(1) + 0.1 * decay(1),
        ("c3", "p4"): 1 * decay((AS_OF - dt.date(2023, 10, 1)).days),
    }


@pytest.fixture(params=["duckdb", "postgres"])
def run_sql(request):
    return request.getfixturevalue("duck" if request.param == "duckdb" else "postgres")


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


def interactions_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["u2", "u1", "u1", "u3"],
            "product_id": ["b", "a", "b", "c"],
            "weight": [1.0, 2.0, 0.5, 4.0],
            "last_purchase_date": pd.to_datetime(["2024-02-25", "2023-01-01", None, "2024-02-10"]),
        }
    )


def test_build_matrix_ids_weights_and_recent():
    m = build_matrix(interactions_frame(), AS_OF, RecommenderConfig(recent_days=30))
    assert list(m.users) == ["u1", "u2", "u3"] and list(m.items) == ["a", "b", "c"]
    assert m.weights.toarray().tolist() == [[2.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 4.0]]
    assert m.recent.toarray().tolist() == [[0, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert list(m.user_index(["u3", "nobody"])) == [2, -1]


def test_build_matrix_fixed_items_and_relevance():
    m = build_matrix(interactions_frame(), AS_OF, RecommenderConfig(), items=["a", "b"])
    assert m.shape == (3, 2) and m.weights.nnz == 3
    holdout = pd.DataFrame({"customer_id": ["u1", "u1", "new"], "product_id": ["b", "zzz", "a"]})
    assert build_relevance(holdout, m).toarray().tolist() == [[0, 1], [0, 0], [0, 0]]


def test_build_matrix_rejects_bad_input():
    with pytest.raises(MissingColumns, match="weight"):
        build_matrix(interactions_frame().drop(columns="weight"), AS_OF, CONFIG)
    bad = interactions_frame()
    bad.loc[0, "weight"] = 0.0
    with pytest.raises(ValueError, match="positive"):
        build_matrix(bad, AS_OF, CONFIG)
    with pytest.raises(MissingColumns, match="customer_id"):
        build_relevance(pd.DataFrame({"product_id": ["a"]}), build_matrix(interactions_frame(), AS_OF, CONFIG))


def test_build_matrix_empty_input():
    empty = interactions_frame().iloc[:0]
    m = build_matrix(empty, AS_OF, CONFIG)
    assert m.shape == (0, 0) and m.weights.nnz == 0


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


def reference_matrix(frame: pd.DataFrame, as_of: dt.date, recent_days: int, items=None):
    """build_matrix written the plain way: one Python loop over rows, ids sorted by sorted()."""
    rows = frame.dropna(subset=["customer_id", "product_id"])
    users = sorted({str(c) for c in rows["customer_id"]})
    columns = sorted({str(p) for p in rows["product_id"]}) if items is None else sorted(map(str, items))
    weights = np.zeros((len(users), len(columns)), dtype=np.float32)
    recent = np.zeros_like(weights)
    since = pd.Timestamp(as_of - dt.timedelta(days=recent_days))
    for row in rows.itertuples():
        if str(row.product_id) not in columns:
            continue
        i, j = users.index(str(row.customer_id)), columns.index(str(row.product_id))
        weights[i, j] += np.float32(row.weight)
        if pd.notna(row.last_purchase_date) and row.last_purchase_date >= since:
            recent[i, j] = 1.0
    return users, columns, weights, recent


def random_interactions(seed: int, integer_ids: bool = False) -> pd.DataFrame:
    """Repeated pairs, missing ids and ids whose string order differs from their numeric or
    case order ("C10" < "C9", "Z" < "a"), in random row order."""
    rng = np.random.default_rng(seed)
    n = 600
    if integer_ids:
        customers = rng.choice([7, 10, 12346, 99, 100, 5], n).astype(object)
    else:
        customers = rng.choice(["C9", "C10", "C100", "c1", "Z", "a", "é", "C9 "], n).astype(object)
    products = rng.choice(["85123A", "22423", "POST", "9", "10", "b", "Ä"], n).astype(object)
    customers[rng.random(n) < 0.05] = None
    products[rng.random(n) < 0.05] = None
    days = rng.integers(0, 90, n)
    return pd.DataFrame({
        "customer_id": customers,
        "product_id": products,
        "weight": rng.integers(1, 16, n) / 4.0,  # exact in float32, so summation order cannot matter
        "last_purchase_date": [None if d > 80 else pd.Timestamp(AS_OF) - pd.Timedelta(days=int(d)) for d in days],
    })


@pytest.mark.parametrize("seed, integer_ids, items", [
    (0, False, None), (1, False, None), (2, True, None), (3, False, ["b", "9", "22423", "never sold"]),
])
def test_build_matrix_equals_plain_reference(seed, integer_ids, items):
    frame = random_interactions(seed, integer_ids)
    frame["last_purchase_date"] = pd.to_datetime(frame["last_purchase_date"])
    m = build_matrix(frame, AS_OF, RecommenderConfig(recent_days=30), items=items)
    users, columns, weights, recent = reference_matrix(frame, AS_OF, 30, items)
    assert m.users.dtype == object and m.items.dtype == object
    assert m.users.tolist() == users and m.items.tolist() == columns
    assert m.weights.has_canonical_format and m.weights.dtype == np.float32
    np.testing.assert_array_equal(m.weights.toarray(), weights)
    np.testing.assert_array_equal(m.recent.toarray(), recent)
    wanted = [users[-1], "nobody", users[0], users[-1], None]
    assert m.user_index(wanted).tolist() == [len(users) - 1, -1, 0, len(users) - 1, -1]


def test_among_compares_ids_as_strings():
    from ml.families.recommender.interactions import among

    ids = np.array(["10", "9", "a", "b"], dtype=object)
    assert among(ids, ["b", 10, "zzz"]).tolist() == [True, False, False, True]
    assert among(ids, []).tolist() == [False] * 4
    assert among(np.array([], dtype=object), ["a"]).tolist() == []


def assert_same_matrix(got, want):
    assert got.users.tolist() == want.users.tolist() and got.items.tolist() == want.items.tolist()
    assert got.weights.has_canonical_format and got.weights.dtype == np.float32
    np.testing.assert_array_equal(got.weights.toarray(), want.weights.toarray())
    np.testing.assert_array_equal(got.recent.toarray(), want.recent.toarray())


@pytest.mark.parametrize("seed, spare_rows", [(0, None), (1, None), (0, 0), (1, 25)])
def test_a_matrix_assembled_from_batches_equals_the_one_built_from_the_whole_frame(seed, spare_rows):
    from ml.families.recommender.interactions import assemble_matrix

    frame = random_interactions(seed)
    frame["last_purchase_date"] = pd.to_datetime(frame["last_purchase_date"])
    config = RecommenderConfig(recent_days=30)
    whole = build_matrix(frame, AS_OF, config)
    # repeated pairs land in different batches and must still be summed
    batches = (frame.iloc[i:i + 37] for i in range(0, len(frame), 37))
    total_rows = None if spare_rows is None else len(frame) + spare_rows  # preallocated, the tail unused
    assembled = assemble_matrix(batches, whole.users[::-1], whole.items, AS_OF, config, total_rows)
    assert_same_matrix(assembled, whole)
    assert assembled.weights.nnz < len(frame.dropna(subset=["customer_id", "product_id"]))  # duplicates were summed


def test_assemble_matrix_refuses_more_rows_than_it_was_told():
    from ml.families.recommender.interactions import assemble_matrix

    frame = random_interactions(0).dropna(subset=["customer_id", "product_id"])
    frame["last_purchase_date"] = pd.to_datetime(frame["last_purchase_date"])
    with pytest.raises(ValueError, match="total_rows=10"):
        assemble_matrix([frame], frame["customer_id"].unique(), frame["product_id"].unique(), AS_OF,
                        RecommenderConfig(), total_rows=10)


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
def test_read_matrix_streams_one_partition_out_of_the_warehouse(request, dialect):
    from ml.families.recommender.interactions import read_matrix

    wh = request.getfixturevalue("warehouse" if dialect == "duckdb" else "pg_warehouse")
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


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
def test_read_matrix_user_sample_is_the_smallest_md5s_of_the_partition(request, dialect):
    import hashlib

    from ml.families.recommender.interactions import read_matrix

    wh = request.getfixturevalue("warehouse" if dialect == "duckdb" else "pg_warehouse")
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
