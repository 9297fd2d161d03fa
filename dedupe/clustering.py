"""Clustering that does not chain.

Connected components over "probably the same" pairs chain: A≈B and B≈C put A and C together even
when A and C clearly differ, and one loose pair can glue two big clusters. Here clusters are
grown greedily from the strongest pair down, and two clusters merge only when *every* pair
across them is acceptable:

* two records of one source are in one cluster only when the pair of them is itself probable
  (in ``match_mask``: the model is certain they are one service listed twice) or a must-link joins
  them: a source rarely lists one service twice, so two of its records are not chained together
  through a third record, whether or not pairs within a source were scored (``chain_within_source``
  lifts this for data that is one source of records like any others, such as FEBRL's people);
* no cannot-link override between any two members;
* no scored cross pair below ``CLEARLY_DIFFERENT``, and no unscored cross pair whose names are
  clearly different (token-sort ratio below ``NAMES_CLEARLY_DIFFER``).

Must-link overrides are applied first. ``ClusterResult.refused`` counts the merges refused and
why; ``refused['a member pair clearly differs']`` is the number of chains prevented.
"""
from __future__ import annotations

from array import array
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
    """Union-find over the records in play, numbered 0..n-1 (arrays, not dictionaries keyed by mid:
    at a million records the dictionary lookups were most of the clustering time). A record alone
    in its cluster has no entry in ``members`` or ``sources``."""

    def __init__(self, source_codes: list[int]):
        # Typed arrays, not lists: each read of a list of a million ints misses the cache twice
        # (the slot, then the int object), and the loop over probable pairs is bound by those reads.
        self.parent = array("q", range(len(source_codes)))
        self.size = array("q", [1]) * len(source_codes)
        self.members: dict[int, list[int]] = {}
        self.sources: dict[int, set[int]] = {}
        self.source_codes = array("q", source_codes)

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

    def same_source_pairs(self, a: int, b: int):
        """The pairs of records across clusters a and b that come from one source."""
        code = self.source_codes
        return ((x, y) for x in self.members_of(a) for y in self.members_of(b) if code[x] == code[y])

    def share_a_source(self, a: int, b: int) -> bool:
        code, size, sources = self.source_codes, self.size, self.sources
        if size[a] == 1:
            return code[a] == code[b] if size[b] == 1 else code[a] in sources[b]
        return code[b] in sources[a] if size[b] == 1 else not sources[a].isdisjoint(sources[b])

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


def _numbered(mids: np.ndarray):
    """The distinct mids in order, and a function giving each mid's number among them (-1 if absent),
    by a table over the mids rather than a sort and a binary search when the mids are dense."""
    top = int(mids.max()) + 1 if len(mids) else 0
    if top > 4 * len(mids) + 1_000_000:
        distinct = np.unique(mids)

        def number_of(m: np.ndarray) -> np.ndarray:
            at = np.minimum(np.searchsorted(distinct, m), max(len(distinct) - 1, 0))
            return np.where(distinct[at] == m, at, -1) if len(distinct) else np.full(len(m), -1)
        return distinct, number_of
    present = np.zeros(top, bool)
    present[mids] = True
    distinct = np.flatnonzero(present).astype(mids.dtype)
    # One slot past the mids, always -1, answers for every mid outside them, so the lookup is total:
    # with no mid in play (a night whose pairs are all unlikely) the table is that slot alone, where an
    # empty table made every lookup fail and the night publish nothing.
    table = np.full(top + 1, -1, np.int64)
    table[distinct] = np.arange(len(distinct))

    def number_of(m: np.ndarray) -> np.ndarray:
        return table[np.where((m >= 0) & (m < top), m, top)]
    return distinct, number_of


def cluster_pairs(mid_l: np.ndarray, mid_r: np.ndarray, prob: np.ndarray, match_mask: np.ndarray,
                  source_of: dict[int, str], names: dict[int, str] | None = None, chain_within_source: bool = False,
                  must_link: list[tuple[int, int]] = (), cannot_link: set[tuple[int, int]] = frozenset(),
                  match_probability: float = 0.95, tie_key: dict[int, int] | None = None) -> ClusterResult:
    """Greedy, non-chaining clustering of the pairs in match_mask (see the module docstring).

    Pairs of equal probability (every pair with the same comparison levels has the same one) are
    taken in the order of their records' ``tie_key`` when given (the matcher passes a hash of source
    and record id), else in the order given: the clusters then do not depend on how the records
    happen to be numbered, so an incremental night clusters as a full match of the same records would."""
    # Only records in a probable pair or a must-link can be in a cluster with another, and a clearly
    # different pair can only refuse a merge when both its records are such: at a million records the
    # others are millions of entries that no merge ever looks up.
    in_play, number_of = _numbered(np.concatenate([mid_l[match_mask], mid_r[match_mask],
                                                   np.array([m for pair in must_link for m in pair], dtype=mid_l.dtype)]))
    n = len(in_play)
    different = prob < CLEARLY_DIFFERENT
    different[different] = (number_of(mid_l[different]) >= 0) & (number_of(mid_r[different]) >= 0)
    relevant = match_mask | different
    # Records by their number among those in play; a pair by one integer, smaller number first.
    at_l, at_r = number_of(mid_l[relevant]), number_of(mid_r[relevant])
    keys = np.minimum(at_l, at_r) * n + np.maximum(at_l, at_r)
    # A scored pair is either probable or clearly different here: two sets of keys say which (a
    # dictionary of their probabilities cost three times as much to build).
    clearly_different = set(keys[different[relevant]].tolist())
    probable_pairs = set(keys[match_mask[relevant]].tolist())
    in_play_mids = in_play.tolist()
    cannot = set()
    if cannot_link:
        pairs = np.array(sorted(cannot_link), dtype=mid_l.dtype).reshape(-1, 2)
        x, y = number_of(pairs[:, 0]), number_of(pairs[:, 1])
        both = (x >= 0) & (y >= 0)
        cannot = set((np.minimum(x, y) * n + np.maximum(x, y))[both].tolist())
    sources = [source_of.get(m) for m in in_play_mids]
    codes = {s: k for k, s in enumerate(dict.fromkeys(sources))}
    cl = _Clusters([codes[s] for s in sources])
    name_of = [names.get(m) for m in in_play_mids] if names is not None else None
    result = ClusterResult(root={}, accepted=[])

    def members_differ(ra: int, rb: int) -> str | None:
        for x in cl.members_of(ra):
            for y in cl.members_of(rb):
                key = x * n + y if x < y else y * n + x
                if key in cannot:
                    return "cannot-link override"
                if key in clearly_different:
                    return "a member pair clearly differs"
                if key not in probable_pairs and name_of is not None and name_of[x] and name_of[y] \
                        and fuzz.token_sort_ratio(name_of[x], name_of[y]) < NAMES_CLEARLY_DIFFER:
                    # a record without a name says nothing against the merge
                    return "a member pair clearly differs"
        return None

    if must_link:
        pairs = np.array(must_link, dtype=mid_l.dtype).reshape(-1, 2)
        for (a, b), x, y in zip(must_link, number_of(pairs[:, 0]).tolist(), number_of(pairs[:, 1]).tolist()):
            ra, rb = cl.find(x), cl.find(y)
            if ra != rb:
                cl.union(ra, rb)
                result.accepted.append((a, b, 1.0))
    probable = match_mask[relevant]     # the probable pairs among the relevant ones, in the same order
    if tie_key is None:
        order = np.argsort(-prob[match_mask], kind="stable")
    else:
        tie = np.array([tie_key[m] for m in in_play_mids], dtype=np.uint64)
        tl, tr = tie[at_l[probable]], tie[at_r[probable]]
        order = np.lexsort((np.maximum(tl, tr), np.minimum(tl, tr), -prob[match_mask]))
    parent, size = cl.parent, cl.size
    for a, b, x, y, p in zip(mid_l[match_mask][order].tolist(), mid_r[match_mask][order].tolist(),
                             at_l[probable][order].tolist(), at_r[probable][order].tolist(),
                             prob[match_mask][order].tolist()):
        # The find, written out: this runs once per probable pair (over a million at a million
        # records), and the calls cost about 5 % of the clustering.
        ra = x
        while parent[ra] != ra:
            ra = parent[ra]
        while parent[x] != ra:
            parent[x], x = ra, parent[x]
        rb = y
        while parent[rb] != rb:
            rb = parent[rb]
        while parent[y] != rb:
            parent[y], y = rb, parent[y]
        if ra == rb:
            continue
        if not chain_within_source and cl.share_a_source(ra, rb) and any(
                (x * n + y if x < y else y * n + x) not in probable_pairs for x, y in cl.same_source_pairs(ra, rb)):
            result.refused["one record per source"] += 1
            continue
        if size[ra] == 1 and size[rb] == 1:
            # Two records alone (most merges): members_differ for their one cross pair, written out
            # (its loops and calls cost 5 s at a million records).
            key = ra * n + rb if ra < rb else rb * n + ra
            why = "cannot-link override" if key in cannot else "a member pair clearly differs" if key in clearly_different \
                else None if key in probable_pairs else members_differ(ra, rb)
        else:
            why = members_differ(ra, rb)
        if why:
            result.refused[why] += 1
            continue
        cl.union(ra, rb)
        result.accepted.append((a, b, p))
    for x in range(n):
        result.root[in_play_mids[x]] = in_play_mids[cl.find(x)]
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
