"""The warehouse SQL of the propensity inputs matches the pandas reference, in both dialects."""
import numpy as np
import pandas as pd
import pytest

from ml.families.propensity.dataset import build_examples_at
from ml.families.propensity.features import list_origins, read_examples, write_propensity_features
from tests.unit.propensity.shop import make_shop

pytestmark = pytest.mark.warehouse

D = pd.Timestamp("2025-04-01")
ORIGINS = [D - pd.Timedelta(days=30), D - pd.Timedelta(days=58)]


@pytest.fixture
def wh(any_warehouse):
    return any_warehouse


@pytest.mark.parametrize("with_events", [True, False])
def test_sql_inputs_and_labels_match_pandas(wh, with_events):
    lines, events = make_shop(80, seed=5, with_events=with_events)
    products = pd.DataFrame({"product_id": [f"P{i:02d}" for i in range(20)], "description": "item",
                             "category": [None if i % 5 == 0 else f"cat{i % 3}" for i in range(20)],
                             "unit_price": 5.0})
    lines.loc[lines.index[::40], "product_id"] = "POST"  # fees are not merchandise
    wh.replace_table("raw.order_lines", lines)
    wh.replace_table("raw.products", products)
    if with_events:
        wh.replace_table("raw.events", events)
    write_propensity_features(wh, D, ORIGINS)
    assert list_origins(wh, D) == [D.date(), *(o.date() for o in ORIGINS)]
    for origin in ORIGINS + [D]:
        got, want = read_examples(wh, D, origin), build_examples_at(lines, origin, events, products=products)
        assert len(got) > 20
        pd.testing.assert_frame_equal(got.inputs, want.inputs, check_exact=False, rtol=1e-9)
        if origin != D:
            np.testing.assert_array_equal(got.labels, want.labels)
        else:
            assert (got.labels == -1).all()  # nothing known after D


def test_rows_on_or_after_as_of_change_no_partition(wh):
    lines, _ = make_shop(60, seed=6)
    wh.replace_table("raw.products", pd.DataFrame({"product_id": ["P00"], "description": "x", "category": "c",
                                                   "unit_price": 1.0}))
    wh.replace_table("raw.order_lines", lines[lines["invoice_ts"] < D])
    write_propensity_features(wh, D, ORIGINS)
    before = [read_examples(wh, D, o) for o in ORIGINS + [D]]
    late = lines[lines["invoice_ts"] < D].head(50).assign(invoice_ts=D + pd.Timedelta(days=1), quantity=9)
    wh.replace_table("raw.order_lines", pd.concat([lines, late], ignore_index=True))
    write_propensity_features(wh, D, ORIGINS)  # idempotent: replaces the partition
    for old, new in zip(before, [read_examples(wh, D, o) for o in ORIGINS + [D]]):
        pd.testing.assert_frame_equal(old.inputs, new.inputs)
        np.testing.assert_array_equal(old.labels, new.labels)


def test_origins_whose_labels_reach_the_as_of_date_are_refused(wh):
    with pytest.raises(ValueError, match="past the as-of date"):
        write_propensity_features(wh, D, [D - pd.Timedelta(days=10)])


def test_a_capped_read_keeps_the_same_hash_sample_in_both_dialects_and_every_read(wh):
    import hashlib

    lines, events = make_shop(80, seed=5, with_events=True)
    wh.replace_table("raw.products", pd.DataFrame({"product_id": ["P00"], "description": "x", "category": "c",
                                                   "unit_price": 1.0}))
    wh.replace_table("raw.order_lines", lines)
    wh.replace_table("raw.events", events)
    write_propensity_features(wh, D, ORIGINS)
    origin = ORIGINS[0]
    full = read_examples(wh, D, origin)
    assert len(full) > 30
    sample = read_examples(wh, D, origin, max_customers=25)
    ids = sorted(full.inputs["customer_id"], key=lambda c: hashlib.md5(c.encode()).hexdigest())[:25]
    # the smallest md5s, whatever the dialect: PostgreSQL and DuckDB agree with Python's md5
    assert sorted(sample.inputs["customer_id"]) == sorted(ids)
    # a sampled customer's inputs and label are exactly those of the full read
    kept = full.inputs["customer_id"].isin(ids).to_numpy()
    pd.testing.assert_frame_equal(sample.inputs, full.inputs[kept].reset_index(drop=True))
    np.testing.assert_array_equal(sample.labels, full.labels[kept])
    # a cap above the active count keeps everyone
    assert len(read_examples(wh, D, origin, max_customers=10_000)) == len(full)
