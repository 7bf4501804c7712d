"""Every family's drift inputs in both dialects: the champion's training rows and the scored date's,
with the columns the check compares, the same in DuckDB and PostgreSQL; the hash sample keeps the
same rows in both."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from ml import ingest
from ml.drift.compare import hash_sample_sql
from ml.families import FAMILY_NAMES, load_family

pytestmark = pytest.mark.warehouse


@pytest.fixture(scope="module")
def frames_by_dialect():
    return {}


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
def test_drift_inputs_of_every_family_are_point_in_time_and_agree_across_dialects(
        request, dialect, small_shop, small_shop_as_of, state_home, frames_by_dialect):
    wh = request.getfixturevalue("warehouse" if dialect == "duckdb" else "pg_warehouse")
    ingest.stage_source(wh, small_shop)
    ingest.publish_staged(wh)
    later, earlier = small_shop_as_of, small_shop_as_of - dt.timedelta(days=91)
    found = {}
    for name in FAMILY_NAMES:
        family = load_family(name)
        family.build_features(wh, earlier)  # what a training run for `earlier` wrote
        frames = family.drift_inputs(wh, earlier, later)  # `later` is built on demand
        columns = [*frames.numeric, *frames.categorical]
        assert len(frames.reference) and len(frames.current), name
        assert set(columns) <= set(frames.reference.columns) & set(frames.current.columns), name
        assert frames.reference_note, name
        found[name] = frames
    frames_by_dialect[dialect] = found
    if len(frames_by_dialect) == 2:
        for name in FAMILY_NAMES:
            duck, pg = frames_by_dialect["duckdb"][name], frames_by_dialect["postgres"][name]
            for side in ("reference", "current"):
                a, b = getattr(duck, side), getattr(pg, side)
                columns = sorted(duck.numeric)
                a = a[columns].astype(float).sort_values(columns).reset_index(drop=True)
                b = b[columns].astype(float).sort_values(columns).reset_index(drop=True)
                pd.testing.assert_frame_equal(a, b, rtol=1e-9, check_dtype=False, obj=f"{name} {side}")


def test_the_hash_sample_keeps_about_what_it_is_asked_for_and_the_same_rows_in_both_dialects(
        warehouse, pg_warehouse):
    ids = pd.DataFrame({"customer_id": [f"C{i:05d}" for i in range(5000)]})
    kept = []
    for wh in (warehouse, pg_warehouse):
        wh.replace_table("features.sample_probe", ids)
        predicate = hash_sample_sql("customer_id", 5000, keep=500)
        kept.append(set(wh.query(f"SELECT customer_id FROM features.sample_probe WHERE {predicate}")["customer_id"]))
    assert kept[0] == kept[1] and 450 <= len(kept[0]) <= 750
    assert hash_sample_sql("customer_id", 400, keep=500) == "TRUE"
