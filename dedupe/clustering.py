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
    """Union-find over the records in play, numbered 0..n-1 (lists, not dictionaries keyed by mid:
    at a million records the dictionary lookups were most of the clustering time). A record alone
    in its cluster has no entry in ``members`` or ``sources``."""

    def __init__(self, source_codes: list[int]):
        self.parent = list(range(len(source_codes)))
        self.size = [1] * len(source_codes)
        self.members: dict[int, list[int]] = {}
        self.sources: dict[int, set[int]] = {}
        self.source_codes = source_codes

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def members_of(self, root: int) -> list[int]:
        return self.members[root] if self.size[root] > 1 else [root]

    def shares_a_source(self, a: int, b: int) -> bool:
        if self.size[a] == 1 and self.size[b] == 1:
            return self.source_codes[a] == self.source_codes[b]
        sa = self.sources[a] if self.size[a] > 1 else {self.source_codes[a]}
        sb = self.sources[b] if self.size[b] > 1 else {self.source_codes[b]}
        return not sa.isdisjoint(sb)

    def union(self, a: int, b: int) -> int:
        """b's cluster joins a's, or a's joins b's when b's is the larger."""
        if self.size[a] < self.size[b]:
            a, b = b, a
        if self.size[a] == 1:
            self.members[a], self.sources[a] = [a], {self.source_codes[a]}
        if self.size[b] == 1:
            self.members[a].append(b)
            self.sources[a].add(self.source_codes[b])
        else:
            self.members[a].extend(self.members.pop(b))
            self.sources[a] |= self.sources.pop(b)
        self.parent[b] = a
        self.size[a] += self.size[b]
        return a


def cluster_pairs(mid_l: np.ndarray, mid_r: np.ndarray, prob: np.ndarray, match_mask: np.ndarray,
                  source_of: dict[int, str], names: dict[int, str] | None = None, link_only: bool = True,
                  must_link: list[tuple[int, int]] = (), cannot_link: set[tuple[int, int]] = frozenset(),
                  match_probability: float = 0.95) -> ClusterResult:
    """Greedy, non-chaining clustering of the pairs in match_mask (see the module docstring)."""
    # Only records in a probable pair or a must-link can be in a cluster with another, and a clearly
    # different pair can only refuse a merge when both its records are such: at a million records the
    # others are millions of entries that no merge ever looks up.
    in_play = np.unique(np.concatenate([mid_l[match_mask], mid_r[match_mask],
                                        np.array([m for pair in must_link for m in pair], dtype=mid_l.dtype)]))
    n = len(in_play)
    different = prob < CLEARLY_DIFFERENT
    different[different] = np.isin(mid_l[different], in_play) & np.isin(mid_r[different], in_play)
    relevant = match_mask | different
    # Records by their number among those in play; a pair by one integer, smaller number first.
    at_l, at_r = np.searchsorted(in_play, mid_l[relevant]), np.searchsorted(in_play, mid_r[relevant])
    scored = dict(zip((np.minimum(at_l, at_r) * n + np.maximum(at_l, at_r)).tolist(), prob[relevant].tolist()))
    number = {m: i for i, m in enumerate(in_play.tolist())}
    cannot = {min(number[a], number[b]) * n + max(number[a], number[b])
              for a, b in cannot_link if a in number and b in number}
    sources = [source_of.get(m) for m in in_play.tolist()]
    codes = {s: k for k, s in enumerate(dict.fromkeys(sources))}
    cl = _Clusters([codes[s] for s in sources])
    name_of = [names.get(m) for m in in_play.tolist()] if names is not None else None
    result = ClusterResult(root={}, accepted=[])

    def cross_ok(ra: int, rb: int) -> str | None:
        if link_only and cl.shares_a_source(ra, rb):
            return "one record per source"
        for x in cl.members_of(ra):
            for y in cl.members_of(rb):
                key = x * n + y if x < y else y * n + x
                if key in cannot:
                    return "cannot-link override"
                p = scored.get(key)
                if p is not None:
                    if p < CLEARLY_DIFFERENT:
                        return "a member pair clearly differs"
                elif name_of is not None and name_of[x] and name_of[y] \
                        and fuzz.token_sort_ratio(name_of[x], name_of[y]) < NAMES_CLEARLY_DIFFER:
                    # a record without a name says nothing against the merge
                    return "a member pair clearly differs"
        return None

    for a, b in must_link:
        ra, rb = cl.find(number[a]), cl.find(number[b])
        if ra != rb:
            cl.union(ra, rb)
            result.accepted.append((a, b, 1.0))
    order = np.argsort(-prob[match_mask], kind="stable")
    probable = match_mask[relevant]     # the probable pairs among the relevant ones, in the same order
    for a, b, x, y, p in zip(mid_l[match_mask][order].tolist(), mid_r[match_mask][order].tolist(),
                             at_l[probable][order].tolist(), at_r[probable][order].tolist(),
                             prob[match_mask][order].tolist()):
        ra, rb = cl.find(x), cl.find(y)
        if ra == rb:
            continue
        why = cross_ok(ra, rb)
        if why:
            result.refused[why] += 1
            continue
        cl.union(ra, rb)
        result.accepted.append((a, b, p))
    mids = in_play.tolist()
    for x in range(n):
        result.root[mids[x]] = mids[cl.find(x)]
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
