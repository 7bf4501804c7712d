"""The warehouse interface on both dialects: DuckDB (default) and the real PostgreSQL server."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from ml import features
from ml.warehouse import WarehouseError, WarehouseLocation
from tests.helpers import load, order_lines, products

pytestmark = pytest.mark.warehouse

D1, D2 = dt.date(2024, 1, 1), dt.date(2024, 1, 8)


@pytest.fixture
def wh(any_warehouse):
    return any_warehouse


def scores(n: int, as_of: dt.date, value: float = 1.0) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "score": value, "as_of_date": as_of,
                         "note": ["needs, \"quoting\"\nhere"] * n})


def test_round_trip_keeps_values_and_types(wh):
    frame = scores(3, D1).assign(ts=pd.Timestamp("2024-01-01 10:30:00"), flag=True, n=7)
    wh.replace_partition("marts.t", frame, {"as_of_date": D1})
    got = wh.query("SELECT * FROM marts.t ORDER BY customer_id")
    assert got["note"].iloc[0] == "needs, \"quoting\"\nhere"
    assert got["ts"].iloc[0] == pd.Timestamp("2024-01-01 10:30:00")
    assert got["as_of_date"].iloc[0] == pd.Timestamp(D1)
    assert got["n"].tolist() == [7, 7, 7] and got["flag"].all()


def test_replace_partition_is_idempotent_and_leaves_other_dates(wh):
    wh.replace_partition("marts.t", scores(5, D1), {"as_of_date": D1})
    wh.replace_partition("marts.t", scores(4, D2), {"as_of_date": D2})
    wh.replace_partition("marts.t", scores(5, D1, 2.0), {"as_of_date": D1})
    wh.replace_partition("marts.t", scores(5, D1, 2.0), {"as_of_date": D1})
    counts = wh.query("SELECT as_of_date, count(*) AS n, max(score) AS s FROM marts.t GROUP BY 1 ORDER BY 1")
    assert counts["n"].tolist() == [5, 4]
    assert counts["s"].tolist() == [2.0, 1.0]


def test_a_crash_mid_write_leaves_the_previous_rows(wh):
    wh.replace_partition("marts.t", scores(5, D1), {"as_of_date": D1})

    def chunks():
        yield scores(3, D1, 9.0)
        raise RuntimeError("scorer died mid-write")

    with pytest.raises(RuntimeError, match="mid-write"):
        wh.replace_partition("marts.t", chunks(), {"as_of_date": D1})
    got = wh.query("SELECT score FROM marts.t")
    assert len(got) == 5 and (got["score"] == 1.0).all()


def test_a_frame_that_does_not_fit_the_table_is_refused_and_nothing_changes(wh):
    wh.replace_partition("marts.t", scores(2, D1), {"as_of_date": D1})
    with pytest.raises(WarehouseError, match=r"marts.t has no column\(s\) \['surprise'\]"):
        wh.replace_partition("marts.t", scores(2, D1).assign(surprise=1), {"as_of_date": D1})
    assert wh.row_count("marts.t") == 2


def test_columns_are_matched_by_name_and_missing_ones_stay_null(wh):
    wh.replace_partition("marts.t", scores(2, D1), {"as_of_date": D1})
    reordered = scores(2, D2, 5.0)[["as_of_date", "score", "customer_id"]]
    wh.replace_partition("marts.t", reordered, {"as_of_date": D2})
    got = wh.query("SELECT customer_id, score, note FROM marts.t WHERE as_of_date = '2024-01-08' ORDER BY 1")
    assert got["customer_id"].tolist() == ["c0", "c1"] and got["score"].tolist() == [5.0, 5.0]
    assert got["note"].isna().all()


def test_a_streamed_write_holds_one_chunk_not_the_whole_input(warehouse):
    import pyarrow as pa

    chunk_bytes = 1 << 20

    def chunks():
        for i in range(40):
            yield pd.DataFrame({"customer_id": [f"{i}-{j}-" + "x" * 1000 for j in range(chunk_bytes // 1000)]})

    baseline = pa.total_allocated_bytes()
    with warehouse.transaction():
        warehouse.replace_table("raw.big", chunks())
        # Still inside the transaction: DuckDB must not keep earlier chunks' Arrow buffers alive.
        held = pa.total_allocated_bytes() - baseline
    assert warehouse.row_count("raw.big") == 40 * (chunk_bytes // 1000)
    assert held < 5 * chunk_bytes, f"{held / chunk_bytes:.0f} chunks of Arrow memory held until COMMIT"


def test_a_table_of_an_older_release_gains_new_columns_and_keeps_its_rows(wh):
    from ml.sql import rebuild_partitions

    wh.replace_partition("marts.t", scores(2, D1), {"as_of_date": D1})
    assert wh.add_missing_columns("marts.t", {"score": "DOUBLE PRECISION", "model_kind": "VARCHAR"}) == ["model_kind"]
    assert wh.add_missing_columns("marts.t", {"model_kind": "VARCHAR"}) == []
    assert wh.add_missing_columns("marts.absent", {"x": "VARCHAR"}) == [], "a table not made yet is left alone"
    columns = {"customer_id": "VARCHAR", "as_of_date": "DATE", "score": "DOUBLE PRECISION", "segment": "VARCHAR"}
    rebuild_partitions(wh, "marts.t", columns, {D2: f"SELECT 'c9', DATE '{D2}', 2.0, 'new'"}, key="as_of_date")
    got = wh.query("SELECT customer_id, segment, model_kind FROM marts.t ORDER BY customer_id")
    assert got["customer_id"].tolist() == ["c0", "c1", "c9"]
    assert got["segment"].isna().tolist() == [True, True, False] and got["model_kind"].isna().all()


def test_an_older_segments_mart_gains_the_rule_column_when_a_newer_release_writes_it(wh):
    from ml import catalog, marts
    from ml.families.base import ModelRef

    old = pd.DataFrame({"customer_id": ["c0", "c1"], "segment_id": [0, 1], "segment_name": ["lapsed", "new"]})
    wh.replace_partition(catalog.USER_SEGMENTS, marts.with_lineage(old, D1, ModelRef("segmentation", "1", "r1"),
                                                                   pd.Timestamp("2024-01-01")), {"as_of_date": D1})
    new = old.assign(segment_rule=["last order ≥ 270 days ago", "first order ≤ 60 days ago"])
    marts.write_mart(wh, catalog.USER_SEGMENTS, new, D2, ModelRef("segmentation", "2", "r2"))
    got = wh.query(f"SELECT as_of_date, segment_rule FROM {catalog.USER_SEGMENTS} ORDER BY as_of_date, customer_id")
    assert got["segment_rule"].isna().tolist() == [True, True, False, False]
    assert got["segment_rule"].iloc[2] == "last order ≥ 270 days ago"


def test_query_batches_streams_while_writing(wh):
    wh.replace_table("features.src", scores(10, D1))
    written = wh.replace_partition("marts.t", (b.assign(score=b["score"] * 3) for b in
                                               wh.query_batches("SELECT * FROM features.src ORDER BY customer_id", 3)),
                                   {"as_of_date": D1})
    assert written == 10
    assert wh.query("SELECT sum(score) AS s FROM marts.t")["s"].iloc[0] == 30.0


def test_query_runs_yields_one_frame_per_value_across_fetches(wh):
    keys = [0, 0, 0, 1, 3, 3, 3, 3, 7]
    wh.replace_table("raw.keyed", pd.DataFrame({"k": keys, "v": range(len(keys)), "s": [f"r{i}" for i in range(len(keys))]}))
    runs = list(wh.query_runs("SELECT * FROM raw.keyed ORDER BY k, v", "k", fetch_rows=2))
    assert [r["v"].tolist() for r in runs] == [[0, 1, 2], [3], [4, 5, 6, 7], [8]]
    assert all(list(r.columns) == ["v", "s"] for r in runs)
    assert runs[2]["s"].tolist() == ["r4", "r5", "r6", "r7"]


def test_user_features_are_identical_on_both_dialects(warehouse, pg_warehouse):
    rows = [("1", "A", 2, 10.0, "2024-01-01 10:00", "c1"), ("2", "K", 1, 4.5, "2024-02-03 11:00", "c1"),
            ("C3", "A", -1, 10.0, "2024-02-04 09:00", "c1"), ("4", "K", 3, 4.5, "2023-05-10 12:00", "c2")]
    results = []
    for wh in (warehouse, pg_warehouse):
        load(wh, order_lines(rows), products({"A": "toys", "K": None}))
        features.build_user_features(wh, dt.date(2024, 3, 1))
        results.append(features.read_user_features(wh, dt.date(2024, 3, 1)))
    pd.testing.assert_frame_equal(results[0], results[1], check_dtype=False)


def test_urls_choose_the_dialect():
    assert WarehouseLocation.parse("duckdb:///tmp/w.duckdb") == WarehouseLocation("duckdb", "/tmp/w.duckdb")
    assert WarehouseLocation.parse("postgres://u@h:5432/db").dialect == "postgres"
    with pytest.raises(WarehouseError, match="neither duckdb"):
        WarehouseLocation.parse("mysql://x")


def test_duckdb_memory_is_capped_by_the_setting(monkeypatch):
    from ml.warehouse import Warehouse

    assert Warehouse("duckdb:///:memory:").scalar("SELECT current_setting('memory_limit')") == "3.7 GiB"  # 4GB default
    monkeypatch.setenv("VALUEFLOW_DUCKDB_MEMORY_LIMIT", "512MB")
    assert Warehouse("duckdb:///:memory:").scalar("SELECT current_setting('memory_limit')") == "488.2 MiB"


def test_unordered_inserts_is_scoped_to_its_block(wh):
    def keeps_order():
        return bool(wh.scalar("SELECT current_setting('preserve_insertion_order')"))

    with wh.transaction(), wh.unordered_inserts():
        wh.execute("CREATE TABLE features.unordered AS SELECT 1 AS x")
        inside = keeps_order() if wh.dialect == "duckdb" else None
    with pytest.raises(RuntimeError), wh.unordered_inserts():
        raise RuntimeError("a failed build must not leave the connection unordered")
    if wh.dialect == "duckdb":
        assert inside is False and keeps_order() is True
    assert wh.scalar("SELECT x FROM features.unordered") == 1


def test_user_features_insert_does_not_keep_order(warehouse, monkeypatch):
    """Ordering the insert was what ran DuckDB out of its memory cap at 1M customers."""
    load(warehouse, order_lines([("i1", "p1", 2, 3.0, "2024-01-02", "c1"), ("i2", "p2", 1, 5.0, "2024-01-03", "c2")]))
    settings_at_insert = []
    execute = warehouse.execute

    def spy(sql: str) -> None:
        if sql.lstrip().upper().startswith("INSERT"):
            settings_at_insert.append(bool(warehouse.scalar("SELECT current_setting('preserve_insertion_order')")))
        execute(sql)

    monkeypatch.setattr(warehouse, "execute", spy)
    assert features.build_user_features(warehouse, D2) > 0
    assert settings_at_insert == [False]
