"""Ranking metrics against cases computed by hand."""
import math

import numpy as np
import pytest
import scipy.sparse as sp

from ml.families.recommender.metrics import catalogue_coverage, hit_matrix, ranking_metrics

A, B, C, D = 0, 1, 2, 3


def relevance(rows: list[set[int]], n_items: int = 8) -> sp.csr_matrix:
    dense = np.zeros((len(rows), n_items), dtype=np.float32)
    for r, items in enumerate(rows):
        dense[r, list(items)] = 1
    return sp.csr_matrix(dense)


def test_hand_computed_case():
    recs = np.array([[A, B, C], [D, A, -1], [A, B, C]])
    rel = relevance([{B, D}, {D}, set()])  # the third user has no purchase: not averaged
    got = ranking_metrics(recs, rel, k=3)
    # user 0: one hit at rank 2 of 2 relevant; user 1: one hit at rank 1 of 1 relevant
    ndcg0 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert got["n_users"] == 2
    assert got["precision_at_3"] == pytest.approx((1 / 3 + 1 / 3) / 2)
    assert got["recall_at_3"] == pytest.approx((1 / 2 + 1) / 2)
    assert got["ndcg_at_3"] == pytest.approx((ndcg0 + 1) / 2)
    assert got["map_at_3"] == pytest.approx(((1 / 2) / 2 + 1) / 2)


def test_perfect_and_empty_lists():
    rel = relevance([{A, B}])
    perfect = ranking_metrics(np.array([[A, B, C]]), rel, k=3)
    assert perfect["ndcg_at_3"] == pytest.approx(1.0)
    assert perfect["map_at_3"] == pytest.approx(1.0)
    assert perfect["recall_at_3"] == pytest.approx(1.0)
    assert perfect["precision_at_3"] == pytest.approx(2 / 3)
    nothing = ranking_metrics(np.array([[-1, -1, -1]]), rel, k=3)
    assert nothing["ndcg_at_3"] == 0.0 and nothing["map_at_3"] == 0.0


def test_ndcg_rewards_earlier_hits():
    rel = relevance([{A}])
    early = ranking_metrics(np.array([[A, B, C]]), rel, k=3)["ndcg_at_3"]
    late = ranking_metrics(np.array([[B, C, A]]), rel, k=3)["ndcg_at_3"]
    assert early == 1.0 and late == pytest.approx(0.5)


def test_more_relevant_than_k_caps_ideal_and_map():
    rel = relevance([{A, B, C, D}])
    got = ranking_metrics(np.array([[A, B]]), rel, k=2)
    assert got["ndcg_at_2"] == pytest.approx(1.0)
    assert got["map_at_2"] == pytest.approx(1.0)
    assert got["recall_at_2"] == pytest.approx(0.5)


def test_no_user_with_relevant_items_gives_zeros():
    got = ranking_metrics(np.array([[A, B]]), relevance([set()]), k=2)
    assert got["n_users"] == 0 and got["ndcg_at_2"] == 0.0


def test_padding_is_never_a_hit():
    rel = relevance([{A}])
    assert not hit_matrix(np.array([[-1, B]]), rel).any()


def test_shape_mismatch_and_bad_k_raise():
    with pytest.raises(ValueError, match="shape"):
        hit_matrix(np.array([[A, B]]), relevance([{A}, {B}]))
    with pytest.raises(ValueError, match="k must be positive"):
        ranking_metrics(np.array([[A]]), relevance([{A}]), k=0)


def test_catalogue_coverage():
    assert catalogue_coverage(np.array([[A, B, C], [D, A, -1]]), 8) == pytest.approx(0.5)
    assert catalogue_coverage(np.array([[A]]), 0) == 0.0
