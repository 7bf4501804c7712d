"""The CSR interaction matrix: built from frames, from batches, and against a plain reference."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ml.families.recommender.config import RecommenderConfig
from ml.families.recommender.interactions import build_matrix, build_relevance
from ml.sql import MissingColumns
from tests.unit.recommender.matrices import assert_same_matrix, random_interactions

AS_OF = dt.date(2024, 3, 1)
CONFIG = RecommenderConfig(half_life_days=10.0, cart_weight=0.5, view_weight=0.1, quantity_cap=5)






















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




