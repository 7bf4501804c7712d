"""Diversity, novelty and new-product share against cases computed by hand."""
import math

import numpy as np
import pytest
import scipy.sparse as sp

from ml.families.recommender.metrics import intra_list_diversity, new_product_share, novelty

A, B, C, D = 0, 1, 2, 3
# A and B point the same way, C is orthogonal to both, D is half-way between A and C (cos 1/sqrt 2).
VECTORS = sp.csr_matrix(np.array([[1, 0], [2, 0], [0, 1], [1, 1]], dtype=np.float32))


def test_intra_list_diversity_by_hand():
    lists = np.array([
        [A, B, C],    # pairs: AB 0, AC 1, BC 1 -> 2/3
        [A, D, -1],   # one pair: 1 - 1/sqrt 2
        [C, -1, -1],  # a single item has no pair: left out
    ])
    want = (2 / 3 + (1 - 1 / math.sqrt(2))) / 2
    assert intra_list_diversity(lists, VECTORS) == pytest.approx(want)
    assert intra_list_diversity(np.array([[A, B]]), VECTORS) == pytest.approx(0.0)
    assert intra_list_diversity(np.array([[A, -1]]), VECTORS) == 0.0
    # a product without catalogue data (zero vector) is similar to nothing
    assert intra_list_diversity(np.array([[A, 1]]), sp.csr_matrix(np.array([[1.0], [0.0]]))) == pytest.approx(1.0)


def test_novelty_by_hand():
    # 4 users x 4 items, 6 interactions: A by 3 users, B by 2, C by 1, D by nobody
    train = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]], dtype=np.float32))
    lists = np.array([[A, C], [B, -1], [D, A]])
    # slots A, C, B, D, A: -log2(3/6), -log2(1/6), -log2(2/6), -log2(1/6) (D counts as one), -log2(3/6)
    want = np.mean([1.0, math.log2(6), math.log2(3), math.log2(6), 1.0])
    assert novelty(lists, train) == pytest.approx(want)
    assert novelty(np.array([[-1, -1]]), train) == 0.0


def test_new_product_share_by_hand():
    is_new = np.array([False, False, True, True])
    lists = np.array([[A, C, D], [B, -1, -1]])  # 4 filled slots, 2 of them new
    assert new_product_share(lists, is_new) == pytest.approx(0.5)
    assert new_product_share(np.array([[-1]]), is_new) == 0.0
