"""Scoring: Fellegi–Sunter weights with gates that keep "same venue" or "same organisation" from
passing for "same service", measured against data the project did not write (dev-2026).

Where the numbers come from (no labels anywhere):

* m (how often two listings of one service fall at a level) is declared with each comparison
  (``dedupe.comparisons``): what a duplicate listing looks like is much the same in every set of
  directories, and EM over candidate pairs learns the wrong thing here. Candidates are mostly
  siblings, branches and namesakes that share a venue, an organisation and its contacts, so EM's
  "match" class became "same organisation": on dev-2026 it learned that 81 % of matches are at
  venues far apart. Without the gates (``gates=False``, the plain model the benchmarks compare
  against), m is learned by EM as usual.
* u (how often a level occurs between two unrelated records) from random pairs of the records.
* the prior (the chance that two records picked at random are one service) by EM with m and u
  fixed, over every pair of records (blocking keeps nearly all the matches), separately for pairs
  from two sources and pairs within one source: a source rarely lists one service twice.

How a pair is scored: the sum of log2(m/u) over comparisons, with

* term frequency: an exact name weighs log2(m / share of records with that name), so 'Health Walk'
  needs more support than 'Fallowfield Bowls Taster Sessions';
* namesakes: an agreeing name loses log2(k) when one source lists k records of that name at that
  place (a leisure operator's five 'Pilates' at one centre, a charity's 'Befriending' in every town);
* evidence groups: comparisons that say the same thing (organisation, phone, e-mail, web site,
  description and taxonomy all say "same organisation") count with their strongest agreement, not
  their sum; disagreements all count;
* gates: place and organisation weights count only if the name agrees, name weights only if a
  place or organisation agrees;
* vetoes (``VETO_LEVELS``): far-apart venues, names that differ or differ by a qualifier, and
  schedules on different days never merge automatically; a shared service identifier is certain.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from dedupe.comparisons import SERVICE_COMPARISONS, SERVICE_SIMILARITIES, Comparison
from dedupe.levels import RecordText, compute_gammas, fetch_gammas
from dedupe.records import PLACE_KEY_SQL

# Thresholds fixed by design, before any labelled data was looked at.
MATCH_PROBABILITY = 0.95
REVIEW_PROBABILITY = 0.50
# Levels that forbid an automatic merge whatever the rest says: both venues known and far apart, or
# two house numbers on one street, or names that share nothing (such pairs can only reach the review queue).
VETO_LEVELS = {("venue", "elsewhere"), ("venue", "another number on the same street"), ("name", "different"),
               ("name", "one word differs"), ("schedule", "different days")}
# Within one source, any disagreement of schedules also forbids it: a source that lists one name at one
# place twice with other days or times lists two sessions (a re-entered listing copies its schedule).
VETO_WITHIN_SOURCE = {("schedule", "same days, other times"), ("schedule", "overlapping days")}
EM_ITERATIONS = 25
U_SAMPLE = 100_000


@dataclass
class Model:
    comparisons: tuple[Comparison, ...]
    m: list[np.ndarray]
    u: list[np.ndarray]
    prior: float                    # the prior for a pair of records from two sources
    gates: bool = True
    trained_on: dict = field(default_factory=dict)
    prior_within: float | None = None   # for a pair from one source (None: the same as prior)
    records: int = 0                    # how many records it was trained on (names' frequencies are over these)

    def weights(self) -> list[np.ndarray]:
        """log2(m/u) per level. A comparison's closest agreement (its first level) never counts
        against a pair: where every record shares it (one taxonomy term for a whole leisure
        directory) it says nothing, not "different"."""
        out = []
        for m, u in zip(self.m, self.u):
            w = np.log2(np.clip(m, 1e-5, 1) / np.clip(u, 1e-5, 1))
            w[0] = max(w[0], 0.0)
            out.append(w)
        return out

    def to_json(self) -> str:
        return json.dumps({"comparisons": [c.name for c in self.comparisons],
                           "levels": [[lv.label for lv in c.levels] for c in self.comparisons],
                           "m": [m.tolist() for m in self.m], "u": [u.tolist() for u in self.u],
                           "prior": self.prior, "prior_within": self.prior_within, "gates": self.gates,
                           "trained_on": self.trained_on, "records": self.records})

    @classmethod
    def from_json(cls, text: str, comparisons: tuple[Comparison, ...]) -> "Model":
        d = json.loads(text)
        if d["comparisons"] != [c.name for c in comparisons] or d["levels"] != [[lv.label for lv in c.levels] for c in comparisons]:
            raise ValueError("stored model was trained on other comparisons")
        return cls(comparisons, [np.array(x) for x in d["m"]], [np.array(x) for x in d["u"]], d["prior"],
                   d.get("gates", True), d.get("trained_on", {}), d.get("prior_within"), d.get("records", 0))

    def prior_weights(self, same_source: np.ndarray | None) -> np.ndarray | float:
        """log2 prior odds per pair (or one number when no pair is from a single source)."""
        cross = math.log2(self.prior / (1 - self.prior))
        if same_source is None or self.prior_within is None or not same_source.any():
            return cross
        return np.where(same_source, math.log2(self.prior_within / (1 - self.prior_within)), cross)


def estimate_u(con: duckdb.DuckDBPyConnection, records: str, comparisons, sims, link_only: bool, seed: int = 7,
               text: RecordText | None = None) -> list[np.ndarray]:
    """u-probabilities from random pairs of records: almost all of them are non-matches."""
    # Drawn in numpy with a fixed seed, not with DuckDB's random(): that one differs between runs
    # when several threads scan, and the weights (so the merges) must not.
    raw = con.execute(f"SELECT mid, dense_rank() OVER (ORDER BY source_id) AS src FROM {records} ORDER BY mid").fetchnumpy()
    mids, src = np.asarray(raw["mid"], np.int64), np.asarray(raw["src"], np.int64)
    rng = np.random.default_rng(seed)
    draws = min(U_SAMPLE, 50 * len(mids)) * (3 if link_only else 1) if len(mids) > 1 else 0
    a, b = rng.integers(0, max(len(mids), 1), draws), rng.integers(0, max(len(mids), 1), draws)
    ok = (a != b) & ((src[a] != src[b]) if link_only else True)
    pairs = np.unique(np.stack([np.minimum(mids[a[ok]], mids[b[ok]]), np.maximum(mids[a[ok]], mids[b[ok]])], axis=1), axis=0)
    pairs = pairs[rng.permutation(len(pairs))[:U_SAMPLE]] if len(pairs) else pairs.reshape(0, 2)
    con.register("random_frame", pd.DataFrame({"mid_l": pairs[:, 0], "mid_r": pairs[:, 1]}))
    con.execute("CREATE OR REPLACE TEMP TABLE random_pairs2 AS SELECT * FROM random_frame")
    con.unregister("random_frame")
    compute_gammas(con, "random_pairs2", records, comparisons, sims, target="random_gamma", text=text)
    _, _, g = fetch_gammas(con, "random_gamma", comparisons)
    u = []
    for k, c in enumerate(comparisons):
        col = g[:, k]
        counts = np.bincount(col[col >= 0], minlength=len(c.levels)).astype(float) + 0.5
        u.append(counts / counts.sum())
    for t in ("random_pairs2", "random_gamma"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    return u


def _em(g: np.ndarray, m: list[np.ndarray], u: list[np.ndarray], prior: float, learn: set[int],
        use: set[int], iterations: int = EM_ITERATIONS, learn_prior: bool = True) -> tuple[list[np.ndarray], float]:
    m = [x.copy() for x in m]
    if len(g) == 0:
        return m, prior
    for _ in range(iterations):
        llr = np.zeros(len(g))
        for k in use:
            col = g[:, k]
            ok = col >= 0
            llr[ok] += np.log(np.clip(m[k], 1e-6, 1))[col[ok]] - np.log(np.clip(u[k], 1e-6, 1))[col[ok]]
        logit = np.log(prior / (1 - prior)) + llr
        p = 1 / (1 + np.exp(-np.clip(logit, -50, 50)))
        for k in learn:
            col = g[:, k]
            ok = col >= 0
            counts = np.bincount(col[ok], weights=p[ok], minlength=len(m[k])) + 1e-3
            m[k] = counts / counts.sum()
        if learn_prior:
            prior = float(np.clip(p.mean(), 1e-6, 1 - 1e-6))
    return m, prior


def _agree_mask(g: np.ndarray, comparisons, roles: set[str]) -> np.ndarray:
    out = np.zeros(len(g), dtype=bool)
    for k, c in enumerate(comparisons):
        if c.role in roles:
            agreeing = [i for i, lv in enumerate(c.levels) if lv.agrees]
            out |= np.isin(g[:, k], agreeing)
    return out


def pair_totals(con: duckdb.DuckDBPyConnection, records: str) -> tuple[int, int]:
    """How many pairs of records there are from two sources, and from one source."""
    n, within = con.execute(f"""SELECT sum(k), sum(k * (k - 1) / 2) FROM
                                (SELECT count(*) AS k FROM {records} GROUP BY source_id)""").fetchone()
    n, within = int(n or 0), int(within or 0)
    return n * (n - 1) // 2 - within, within


def estimate_prior(model: Model, g: np.ndarray, total_pairs: int, candidates: int | None = None,
                   facts: "PairFacts | None" = None) -> float:
    """The chance that two records picked at random are one service, by EM with m and u fixed.

    Over every pair of records, not over the candidate pairs: blocking keeps the pairs that share
    something, and most of those are siblings, branches and namesakes, so a prior over candidates
    (0.80 on dev-2026) says that a shared postcode alone makes a match likely. The candidates hold
    nearly all the matches; the pairs that blocking left out are taken as non-matches. Scored the
    way ``score_gammas`` scores (gates, term frequencies), so that the prior is the one the
    decisions use. ``g`` may be a uniform sample of ``candidates`` candidate pairs.
    """
    if len(g) == 0 or total_pairs <= 0:
        return 1e-9
    flat = dataclasses.replace(model, prior=0.5, prior_within=None)
    evidence, _, _ = score_gammas(flat, g, facts)
    scale = (candidates or len(g)) / len(g)
    prior = min(0.5, len(g) * scale / total_pairs / 10)
    for _ in range(200):
        p = 1 / (1 + np.exp2(-np.clip(math.log2(prior / (1 - prior)) + evidence, -60, 60)))
        # One match in every set of pairs as a pseudo-count: where the matches are few (a source that
        # lists a service twice once in a thousand records), the fixed point otherwise slides to zero.
        new = float(np.clip((p.sum() * scale + 1) / (total_pairs + 1), 1e-12, 0.5))
        if abs(new - prior) <= 1e-4 * prior:
            return new
        prior = new
    return prior


def train_model(con: duckdb.DuckDBPyConnection, gamma_table: str = "work.pair_gamma", records: str = "work.match_record",
                comparisons=SERVICE_COMPARISONS, sims=SERVICE_SIMILARITIES, link_only: bool = True,
                gates: bool = True, text: RecordText | None = None, candidates: int | None = None,
                facts_of_records: "RecordFacts | None" = None) -> Model:
    """Estimate u and the priors, and (without the gates) m, without labels (see the module docstring).

    gamma_table holds the comparison levels of the candidate pairs to learn from: all of them, or
    (at scale) a uniform random sample of ``candidates`` of them, which estimates the same priors.
    """
    u = estimate_u(con, records, comparisons, sims, link_only, text=text)
    m = [np.array(c.m, float) if c.m else np.full(len(c.levels), 1 / len(c.levels)) for c in comparisons]
    mid_l, mid_r, g = fetch_gammas(con, gamma_table, comparisons)
    facts = (facts_of_records or record_facts(con, records)).of_pairs(mid_l, mid_r)
    n_records = con.execute(f"SELECT count(*) FROM {records}").fetchone()[0]
    if not gates:
        # The plain model (the benchmarks' people, the gates-off comparison): m and the prior over
        # the candidates learned together by EM, as Fellegi-Sunter is usually trained.
        everything = set(range(len(comparisons)))
        m, prior = _em(g, m, u, 0.1, learn=everything, use=everything)
        return Model(tuple(comparisons), m, u, prior, gates, {"m": "learned by EM", "candidate_pairs_learned_from": len(g)},
                     records=n_records)
    cross_pairs, within_pairs = pair_totals(con, records)
    model = Model(tuple(comparisons), m, u, 0.5, gates, records=n_records)
    within = facts.same_source
    share_within = float(within.mean()) if len(within) else 0.0
    model.prior = estimate_prior(model, g[~within], cross_pairs,
                                 None if candidates is None else round(candidates * (1 - share_within)), facts.subset(~within))
    if not link_only and within.any():
        model.prior_within = estimate_prior(model, g[within], within_pairs,
                                            None if candidates is None else round(candidates * share_within),
                                            facts.subset(within))
    model.trained_on = {"m": "declared with the comparisons",
                        "candidate_pairs_learned_from": len(g), "pairs_from_two_sources": cross_pairs,
                        "pairs_within_one_source": within_pairs if not link_only else 0}
    return model


def name_frequency_weight(model: Model, k: int, count: np.ndarray) -> np.ndarray:
    """The weight of an exact name, adjusted for how common the name is (term frequency).

    The level's u is the chance that two records picked at random have the same name, averaged over
    names; for one name it is the share of records that carry it. So 'Health Walk', listed by a
    hundred groups, counts for less than 'Fallowfield Bowls Taster Sessions', listed once:
    log2(m_exact / share) instead of log2(m_exact / u_exact). The share is of the records the model
    was trained on, so that a night that adds or drops a whole source moves only the names it touches,
    and counts are rounded up to a power of two (``name_count_class``), so that a name's weight moves
    only when its count crosses one: an incremental night clusters again the records of those names
    and of no other, and scores every pair as a full match would."""
    return np.log2(np.clip(model.m[k][0], 1e-5, 1) * max(model.records, 1) / np.exp2(name_count_class(count)))


def name_count_class(count: np.ndarray) -> np.ndarray:
    """ceil(log2(count)), at least 0: the power of two a name's count is rounded up to."""
    return np.ceil(np.log2(np.maximum(count, 1.0)))


# The same in SQL, for dedupe.matcher's incremental region.
NAME_COUNT_CLASS_SQL = "ceil(log2(greatest({n}, 1)))"

# Branches of a name: per (name key, organisation), the most distinct postcodes at which one source
# lists it. Counted within one source because one service's listings in several sources often carry
# several postcodes (the venue's, the organisation's, a typo), while one source listing a name at
# three postcodes means three branches.
BRANCHES_SQL = """SELECT name_key, org, max(n) AS branches FROM (
                      SELECT name_key, org, source_id, count(DISTINCT postcode) AS n FROM {records}
                      WHERE name_key IS NOT NULL AND org IS NOT NULL GROUP BY ALL) GROUP BY ALL"""
# A pair without a venue to compare, of a name its organisation runs at this many places or more,
# cannot say which branch it is: at most queued for review (see ``score_gammas``).
BRANCHES_DOUBTFUL = 2
# Venue levels that place a pair no closer than its town: as good as no venue for telling branches apart.
UNPLACED_VENUE_LEVELS = ("same town",)


@dataclass
class PairFacts:
    """What scoring needs to know about each pair beyond its levels (see ``score_gammas``)."""
    name_count: np.ndarray      # the larger number of records that carry either record's name key (0: no name)
    namesakes: np.ndarray       # the larger of its two records' namesake counts in their own sources
    same_source: np.ndarray     # both records come from one source
    schedules: np.ndarray | None = None   # how many of the two records give a schedule (0, 1 or 2)
    branches: np.ndarray | None = None    # the larger of its two records' branch counts (RecordFacts)

    def subset(self, mask: np.ndarray) -> "PairFacts":
        return PairFacts(self.name_count[mask], self.namesakes[mask], self.same_source[mask],
                         None if self.schedules is None else self.schedules[mask],
                         None if self.branches is None else self.branches[mask])


@dataclass
class RecordFacts:
    """Per mid (as an index): how many records carry its name key, how many records of its own source
    carry its name at its place (``PLACE_KEY_SQL``, itself included), its source, and its branches:
    the most postcodes at which one source lists its name for its organisation (``BRANCHES_SQL``).
    Counted afresh on every run, incremental ones included: they change as sources come and go, and
    the counts over a million records take a fraction of a second."""
    name_count: np.ndarray
    namesakes: np.ndarray
    source: np.ndarray
    has_schedule: np.ndarray
    branches: np.ndarray

    def of_pairs(self, mid_l: np.ndarray, mid_r: np.ndarray) -> PairFacts:
        # The larger of the two counts: names alike by letters but keyed apart ('food bank' / 'foodbank')
        # have two, and a pair must score the same whichever record is on its left.
        return PairFacts(np.maximum(self.name_count[mid_l], self.name_count[mid_r]),
                         np.maximum(self.namesakes[mid_l], self.namesakes[mid_r]), self.source[mid_l] == self.source[mid_r],
                         self.has_schedule[mid_l].astype(np.int8) + self.has_schedule[mid_r],
                         np.maximum(self.branches[mid_l], self.branches[mid_r]))


def record_facts(con: duckdb.DuckDBPyConnection, records: str) -> RecordFacts:
    columns = {name for (name,) in con.execute(f"SELECT column_name FROM (DESCRIBE {records})").fetchall()}
    named = {"name_key", "postcode", "org", "web_key", "org_web_key", "email_domains"} <= columns
    schedule = "len(days) > 0" if "days" in columns else "false"
    if {"name_key", "org", "postcode"} <= columns:
        branches = "coalesce(b.branches, 0)"
        branch_join = f"LEFT JOIN ({BRANCHES_SQL.format(records=records)}) b ON b.name_key = r.name_key AND b.org = r.org"
    else:
        branches, branch_join = "0", ""
    # Counts by GROUP BY joined back, and the sources ranked among themselves: windows over every
    # record (two partitionings and a sort of a million rows by source) cost 2.9 s at a million
    # records, paid on every night, incremental ones included. Records of another kind (a
    # benchmark's people) have no name frequencies and no namesakes.
    null = "CAST(NULL AS VARCHAR)"
    raw = con.execute(f"""
        WITH r AS (SELECT mid, source_id, {"name_key" if "name_key" in columns else null} AS name_key,
                          {"org" if "org" in columns else null} AS org, {PLACE_KEY_SQL if named else "''"} AS place_key,
                          {schedule} AS has_schedule FROM {records}),
        names AS (SELECT name_key, count(*) AS n FROM r WHERE {named} AND name_key IS NOT NULL GROUP BY 1),
        namesakes AS (SELECT source_id, name_key, place_key, count(*) AS n FROM r WHERE {named} AND name_key IS NOT NULL
                      GROUP BY ALL),
        sources AS (SELECT source_id, dense_rank() OVER (ORDER BY source_id) AS source FROM (SELECT DISTINCT source_id FROM r))
        SELECT r.mid, coalesce(c.n, 0) AS name_count, coalesce(k.n, 1) AS namesakes, s.source, r.has_schedule,
               {branches} AS branches
        FROM r LEFT JOIN names c ON c.name_key = r.name_key
        LEFT JOIN namesakes k ON k.source_id IS NOT DISTINCT FROM r.source_id AND k.name_key = r.name_key AND k.place_key = r.place_key
        LEFT JOIN sources s ON s.source_id IS NOT DISTINCT FROM r.source_id
        {branch_join}""").fetchnumpy()
    mids = np.asarray(raw["mid"], np.int64)
    top = int(mids.max()) + 1 if len(mids) else 0
    count, namesakes, source, has_schedule = np.zeros(top), np.ones(top), np.full(top, -1, np.int64), np.zeros(top, bool)
    branches_of = np.zeros(top)
    branches_of[mids] = np.asarray(raw["branches"], np.float64)
    has_schedule[mids] = np.asarray(raw["has_schedule"], bool)
    count[mids] = np.asarray(raw["name_count"], np.float64)
    namesakes[mids] = np.asarray(raw["namesakes"], np.float64)
    source[mids] = np.asarray(raw["source"], np.int64)
    return RecordFacts(count, namesakes, source, has_schedule, branches_of)


def _counted_weights(model: Model, g: np.ndarray, facts: PairFacts | None) -> list[np.ndarray]:
    """Each comparison's weight per pair as it counts: term frequency and namesakes applied to the
    name, then the gates (a missing field, level -1, weighs 0: the table's extra last entry)."""
    w_tables = model.weights()
    comps = model.comparisons
    if model.gates:
        name_agrees = _agree_mask(g, comps, {"name"})
        context_agrees = _agree_mask(g, comps, {"place", "org"})
    out = []
    for k, c in enumerate(comps):
        contrib = np.append(w_tables[k], 0.0)[g[:, k]]
        if c.role == "name" and facts is not None:
            exact = (g[:, k] == 0) & (facts.name_count > 0)
            contrib[exact] = name_frequency_weight(model, k, facts.name_count[exact])
        if model.gates and c.role in ("place", "org"):
            contrib[(contrib > 0) & ~name_agrees] = 0.0
        elif model.gates and c.role == "name":
            contrib[(contrib > 0) & ~context_agrees] = 0.0
        out.append(contrib)
    return out


def score_gammas(model: Model, g: np.ndarray, facts: PairFacts | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(match weight, probability, veto flag) per pair (see the module docstring).

    ``facts`` brings the term frequencies, the namesake counts and the within-source prior in; a
    caller without them scores every exact name alike and every pair with the cross-source prior."""
    comps = model.comparisons
    weight = np.zeros(len(g)) + model.prior_weights(None if facts is None else facts.same_source)
    strongest: dict[str, np.ndarray] = {}
    total: dict[str, np.ndarray] = {}
    # One comparison at a time into the sum: a pairs x comparisons matrix of weights is 800 MB at ten
    # million pairs. Agreements within one evidence group count once, by the strongest of them.
    for c, contrib in zip(comps, _counted_weights(model, g, facts)):
        if model.gates and c.group:
            weight += np.minimum(contrib, 0.0)
            agree = np.maximum(contrib, 0.0)
            if c.group in strongest:
                np.maximum(strongest[c.group], agree, out=strongest[c.group])
                total[c.group] += agree
            else:
                strongest[c.group], total[c.group] = agree, agree.copy()
        else:
            weight += contrib
    names = [c.name for c in comps]
    no_venue = g[:, names.index("venue")] < 0 if "venue" in names else np.ones(len(g), bool)
    for group, agree in strongest.items():
        weight += agree + np.where(no_venue, GROUP_REST_WITHOUT_VENUE, 0.0) * (total[group] - agree)
    if facts is not None:
        # A name that k records of one source carry at one place: the rest of the evidence (the place,
        # the organisation) is the same for all k, so this pair is at best one of k (odds divided by k).
        alike = _agree_mask(g, comps, {"name"})
        weight[alike] -= np.log2(np.maximum(facts.namesakes[alike], 1.0))
    certain = np.zeros(len(g), dtype=bool)
    veto = np.zeros(len(g), dtype=bool)
    for k, c in enumerate(comps):
        if c.certain:
            certain |= g[:, k] == 0
        for i, lv in enumerate(c.levels):
            if model.gates and (c.name, lv.label) in VETO_LEVELS:   # the vetoes belong to the guard
                veto |= g[:, k] == i
            elif model.gates and facts is not None and (c.name, lv.label) in VETO_WITHIN_SOURCE:
                veto |= (g[:, k] == i) & facts.same_source
    if model.gates and facts is not None and "schedule" in {c.name for c in comps}:
        # Doubtful, so at most queued for review (DOUBTFUL_WEIGHT): one source lists this name at this
        # place more than once (a within-source pair counts itself and its partner) and the schedules
        # do not settle which listing it is. Within one source the schedules must always settle it where
        # either gives one, and a third listing of the name at that place makes any pair of them
        # doubtful however alike the two are: on dev-2026, two listings of one source with the same
        # name, place and times were two services 75 times and one service listed twice 22 times.
        k_sched = [c.name for c in comps].index("schedule")
        settled = g[:, k_sched] == 0
        others = facts.namesakes - np.where(facts.same_source, 1, 0)
        given = facts.schedules > 0 if facts.schedules is not None else np.ones(len(g), bool)
        doubtful = _agree_mask(g, comps, {"name"}) & ((others >= 2) | (facts.same_source & given)) & ~settled
        doubtful |= facts.same_source & (others >= 2)
        if facts.branches is not None:
            # No venue to tell the branches of a name apart ("Stroke Club" of the Stroke Association at
            # seven places, one listing with no address, or a town only): which branch it is, nothing
            # here says.
            # On hard-11 (run), such merges were 32 wrong of 89; measured in the closing figures.
            k_venue = names.index("venue")
            town_only = [i for i, lv in enumerate(comps[k_venue].levels) if lv.label in UNPLACED_VENUE_LEVELS]
            unplaced = no_venue | np.isin(g[:, k_venue], town_only)
            doubtful |= unplaced & _agree_mask(g, comps, {"name"}) & (facts.branches >= BRANCHES_DOUBTFUL)
        weight[doubtful] = np.minimum(weight[doubtful], DOUBTFUL_WEIGHT)
    if model.gates:
        copy = _copies(model, g)
        if facts is not None:      # as above: within one source, only a name the source lists just twice
            copy &= ~facts.same_source | (facts.namesakes <= 2)
        certain |= copy
    weight = np.where(certain, np.maximum(weight, 30.0), weight)
    prob = 1 / (1 + np.exp2(-np.clip(weight, -60, 60)))
    return weight, prob, veto & ~certain


# Where neither venue is known, the organisation's evidence is all the context there is: its other
# agreements count at half their weight beside the strongest (at a shared venue they say nothing more
# than the venue does, and count 0). Measured on the no-venue sets (benchmarks/bench_novenue.py, one
# source, seeds 7 and 11): 0 -> P 1.0, R 0.00; 0.5 -> P 1.0 / 0.97, R 0.10 / 0.21; 1 -> P 0.87 / 0.86,
# R 0.42 / 0.50 (precision must stay at 0.95 or more); dev-2026 with venues is the same at each.
GROUP_REST_WITHOUT_VENUE = 0.5

# The most a doubtful pair may weigh: probability 0.9, in the review band below MATCH_PROBABILITY.
DOUBTFUL_WEIGHT = math.log2(0.9 / 0.1)


# A copy: the same name, place and schedule, and no field that both records give and that disagrees.
# Nothing tells two such listings apart, for the matcher or for anyone reading them: one service
# listed twice (a source that re-entered a listing), whatever the base rate says.
COPY_LEVELS = {"name": ("exact",), "schedule": ("same days and times",),
               "venue": ("same UPRN", "same postcode and address", "same address in the same town")}


def _copies(model: Model, g: np.ndarray) -> np.ndarray:
    names = {c.name: k for k, c in enumerate(model.comparisons)}
    if not set(COPY_LEVELS) <= set(names):
        return np.zeros(len(g), dtype=bool)
    out = np.ones(len(g), dtype=bool)
    for name, labels in COPY_LEVELS.items():
        c = model.comparisons[names[name]]
        out &= np.isin(g[:, names[name]], [i for i, lv in enumerate(c.levels) if lv.label in labels])
    for k, w in enumerate(model.weights()):
        out &= ~np.isin(g[:, k], np.flatnonzero(w < 0))
    return out


def explain_pair(model: Model, gamma_row: np.ndarray, name_count: float = 0.0, namesakes: float = 1.0,
                 same_source: bool = False) -> dict:
    """The levels and counted weights of one pair, as stored in match_reason."""
    levels = [int(x) for x in gamma_row]
    comps = model.comparisons
    g = np.array([levels], dtype=np.int8)
    facts = PairFacts(np.array([name_count]), np.array([namesakes]), np.array([same_source]))
    counted = [float(w[0]) for w in _counted_weights(model, g, facts)]
    raw = model.weights()
    name_agrees = bool(_agree_mask(g, comps, {"name"})[0])
    context_agrees = bool(_agree_mask(g, comps, {"place", "org"})[0])
    strongest: dict[str, int] = {}
    for k, c in enumerate(comps):
        if model.gates and c.group and counted[k] > 0 and (c.group not in strongest or counted[k] > counted[strongest[c.group]]):
            strongest[c.group] = k
    out = []
    for k, c in enumerate(comps):
        lv = levels[k]
        if lv < 0:
            out.append({"comparison": c.name, "level": "not compared", "weight": 0.0})
            continue
        item = {"comparison": c.name, "level": c.levels[lv].label, "weight": round(counted[k], 2)}
        if model.gates and raw[k][lv] > 0 and counted[k] == 0:
            item["gated"] = "names do not agree" if c.role in ("place", "org") and not name_agrees else \
                "neither place nor organisation agrees" if c.role == "name" and not context_agrees else "namesakes"
        elif model.gates and c.group and counted[k] > 0 and strongest.get(c.group) != k:
            item["weight"] = 0.0
            item["counted_once"] = f"{c.group} evidence already counted"
        if c.role == "name" and lv == 0 and name_count > 0:
            item["records_with_this_name"] = int(name_count)
        if c.role == "name" and namesakes > 1:
            item["namesakes"] = int(namesakes)
        out.append(item)
    prior = model.prior_weights(np.array([same_source]))
    return {"prior_weight": round(float(np.asarray(prior).reshape(-1)[0]), 2), "comparisons": out}
