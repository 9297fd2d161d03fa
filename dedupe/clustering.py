"""Clustering that does not chain.

Connected components over "probably the same" pairs chain: A≈B and B≈C put A and C together even
when A and C clearly differ, and one loose pair can glue two big clusters. Here clusters are
grown greedily from the strongest pair down, and two clusters merge only when *every* pair
across them is acceptable:

* at most one record per source in a cluster (when linking sources, a source does not list one
  service twice under two ids; two of its records are two services);
* no cannot-link override between any two members;
* no scored cross pair below ``CLEARLY_DIFFERENT``, and no unscored cross pair whose names are
  clearly different (token-sort ratio below ``NAMES_CLEARLY_DIFFER``).

Must-link overrides are applied first. ``ClusterResult.refused`` counts the merges refused and
why; ``refused['a member pair clearly differs']`` is the number of chains prevented.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz

CLEARLY_DIFFERENT = 0.05
NAMES_CLEARLY_DIFFER = 60


@dataclass
class ClusterResult:
    root: dict[int, int]                            # mid -> cluster representative mid
    accepted: list[tuple[int, int, float]]          # the pairs that merged clusters
    refused: Counter = field(default_factory=Counter)


class _Clusters:
    def __init__(self, source_of: dict[int, str]):
        self.parent: dict[int, int] = {}
        self.members: dict[int, list[int]] = {}
        self.sources: dict[int, set[str]] = {}
        self.source_of = source_of

    def find(self, x: int) -> int:
        p = self.parent.get(x, x)
        if p == x:
            if x not in self.members:
                self.parent[x] = x
                self.members[x] = [x]
                self.sources[x] = {self.source_of.get(x)}
            return x
        root = self.find(p)
        self.parent[x] = root
        return root

    def union(self, a: int, b: int) -> int:
        if len(self.members[a]) < len(self.members[b]):
            a, b = b, a
        self.parent[b] = a
        self.members[a].extend(self.members.pop(b))
        self.sources[a] |= self.sources.pop(b)
        return a


def cluster_pairs(mid_l: np.ndarray, mid_r: np.ndarray, prob: np.ndarray, match_mask: np.ndarray,
                  source_of: dict[int, str], names: dict[int, str] | None = None, link_only: bool = True,
                  must_link: list[tuple[int, int]] = (), cannot_link: set[tuple[int, int]] = frozenset(),
                  match_probability: float = 0.95) -> ClusterResult:
    """Greedy, non-chaining clustering of the pairs in match_mask (see the module docstring)."""
    scored: dict[tuple[int, int], float] = {}
    # A clearly different pair can only refuse a merge when both its records are in some cluster,
    # that is in a probable pair or a must-link: at a million records the others are millions of
    # dictionary entries that no merge ever looks up.
    in_play = np.unique(np.concatenate([mid_l[match_mask], mid_r[match_mask],
                                        np.array([m for pair in must_link for m in pair], dtype=mid_l.dtype)]))
    different = prob < CLEARLY_DIFFERENT
    different[different] = np.isin(mid_l[different], in_play) & np.isin(mid_r[different], in_play)
    relevant = match_mask | different
    for a, b, p in zip(mid_l[relevant].tolist(), mid_r[relevant].tolist(), prob[relevant].tolist()):
        scored[(a, b) if a < b else (b, a)] = p
    cannot = {(a, b) if a < b else (b, a) for a, b in cannot_link}
    cl = _Clusters(source_of)
    result = ClusterResult(root={}, accepted=[])

    def cross_ok(ra: int, rb: int) -> str | None:
        if link_only and cl.sources[ra] & cl.sources[rb]:
            return "one record per source"
        for x in cl.members[ra]:
            for y in cl.members[rb]:
                key = (x, y) if x < y else (y, x)
                if key in cannot:
                    return "cannot-link override"
                p = scored.get(key)
                if p is not None:
                    if p < CLEARLY_DIFFERENT:
                        return "a member pair clearly differs"
                elif names is not None and names.get(x) and names.get(y) \
                        and fuzz.token_sort_ratio(names[x], names[y]) < NAMES_CLEARLY_DIFFER:
                    # a record without a name says nothing against the merge
                    return "a member pair clearly differs"
        return None

    for a, b in must_link:
        ra, rb = cl.find(a), cl.find(b)
        if ra != rb:
            cl.union(ra, rb)
            result.accepted.append((a, b, 1.0))
    order = np.argsort(-prob[match_mask], kind="stable")
    ls, rs, ps = mid_l[match_mask][order].tolist(), mid_r[match_mask][order].tolist(), prob[match_mask][order].tolist()
    for a, b, p in zip(ls, rs, ps):
        ra, rb = cl.find(a), cl.find(b)
        if ra == rb:
            continue
        why = cross_ok(ra, rb)
        if why:
            result.refused[why] += 1
            continue
        cl.union(ra, rb)
        result.accepted.append((a, b, p))
    for root, members in cl.members.items():
        for x in members:
            result.root[x] = root
    return result


def connected_components(mid_l: np.ndarray, mid_r: np.ndarray) -> dict[int, int]:
    """Plain connected components (for measuring how much chaining the greedy clustering avoids)."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.get(x, x) != x:
            parent[x] = parent.get(parent[x], parent[x])
            x = parent[x]
        return x

    for a, b in zip(mid_l.tolist(), mid_r.tolist()):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in set(mid_l.tolist()) | set(mid_r.tolist())}
