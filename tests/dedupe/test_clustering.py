"""Clustering (dedupe/clustering.py) on its own: pairs and probabilities in, clusters out."""
import numpy as np
import pytest

from dedupe.clustering import cluster_pairs


@pytest.mark.parametrize("offset", [0, 10**12])
def test_pairs_that_are_all_unlikely_leave_every_record_alone(offset):
    """No probable pair and no must-link puts no record in play (an incremental night whose new
    records match nothing, or sources without duplicates): the clearly different pairs must still be
    numbered without error (issue 17: the night published nothing), and nothing merges."""
    mid_l, mid_r = np.array([16, 23, 30], np.int64) + offset, np.array([36, 36, 36], np.int64) + offset
    prob = np.array([0.0, 0.01, 0.6])
    res = cluster_pairs(mid_l, mid_r, prob, prob >= 0.95, {m: "abc"[k % 3] for k, m in enumerate([*mid_l, *mid_r])})
    assert res.root == {} and res.accepted == [] and not res.refused
    # The same pairs with one probable: only its two records are in play, and they merge.
    prob[2] = 0.99
    res = cluster_pairs(mid_l, mid_r, prob, prob >= 0.95, {16 + offset: "a", 23 + offset: "b", 30 + offset: "c", 36 + offset: "d"})
    assert res.root == {30 + offset: 30 + offset, 36 + offset: 30 + offset}
