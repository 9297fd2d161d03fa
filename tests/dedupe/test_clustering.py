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


def test_two_records_of_one_source_join_only_through_a_probable_pair_of_their_own():
    """A source's duplicate listing merges when the model is certain of that very pair (issue 17:
    duplicates inside one source), never by chaining through another source's record."""
    sources = {1: "a", 2: "b", 3: "a"}
    through_b = (np.array([1, 2]), np.array([2, 3]), np.array([0.99, 0.98]))
    res = cluster_pairs(*through_b, through_b[2] >= 0.95, sources)
    assert res.root[3] != res.root[1] and res.refused["one record per source"] == 1
    for p_13, merged in ((0.97, True), (0.6, False)):
        mid_l, mid_r, prob = np.array([1, 2, 1]), np.array([2, 3, 3]), np.array([0.99, 0.98, p_13])
        res = cluster_pairs(mid_l, mid_r, prob, prob >= 0.95, sources)
        assert (res.root[1] == res.root[2] == res.root[3]) is merged
    # A must-link between a source's two records holds; a third record of that source still needs its own pair.
    mid_l, mid_r, prob = np.array([1, 3]), np.array([4, 4]), np.array([0.99, 0.99])
    res = cluster_pairs(mid_l, mid_r, prob, prob >= 0.95, {1: "a", 2: "a", 3: "b", 4: "a"}, must_link=[(1, 2)])
    assert res.root[1] == res.root[2] and res.root[4] != res.root[1] and res.root[3] != res.root[1]
