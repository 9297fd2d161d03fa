"""The service matcher: keyed records in, clusters out.

``match_records`` runs blocking -> comparison levels -> unsupervised weights -> scores ->
non-chaining clustering over ``work.match_record`` and leaves:

* ``work.match_pair``: every scored candidate pair at or above the review band, with its
  probability, decision (match / review / veto / refused) and the comparison levels;
* ``work.record_cluster(mid, cluster_mid, score, reason)``: each record's cluster, the score of
  the pair that brought it in (1.0 for the founding record) and why, as JSON.

``dedupe.nightly_match`` and ``dedupe.match_cli`` wrap it for the pipeline and the command line.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from dedupe.blocking import SERVICE_BLOCKING, generate_candidates
from dedupe.clustering import cluster_pairs
from dedupe.comparisons import SERVICE_COMPARISONS, SERVICE_SIMILARITIES
from dedupe.records import PLACE_KEY_SQL, drop_relation, table_columns
from dedupe.levels import RecordText, compute_gammas, fetch_gammas
from dedupe.scoring import (BRANCHES_DOUBTFUL, BRANCHES_SQL, MATCH_PROBABILITY, NAME_COUNT_CLASS_SQL, REVIEW_PROBABILITY,
                            VETO_LEVELS, Model, explain_pair, record_facts, score_gammas, train_model)

# Under the gates a pair whose name level can only be "different" can be neither merged (the level
# vetoes it) nor reviewed (reviewable() leaves it out), unless an identical service identifier makes
# it certain, so it is not compared in full. Every other name level of SERVICE_COMPARISONS needs the
# same name key or the same letters without spaces, or a token_sort_ratio of at least 65, or a
# token_set_ratio of at least 60 with one
# name shortening or ending the other or every word alike; the filter asks the same of each pair, cheapest test
# first. tests/dedupe/test_matcher.py checks that it leaves out only pairs whose full comparison
# says "different", and that the clusters do not change.
NAME_PREFILTER = {"sort": ("name_sort", 65.0), "set": ("name_set", 60.0),
                  "shortens": "name_extends(l.name_words, r.name_words) OR names_look_alike(l.name_words, r.name_words) "
                              "OR name_ends(l.name_words, r.name_words)"}
# The weights are learned from a uniform random sample of the candidate pairs (all of them when
# there are fewer): the estimates of m and the prior do not need millions of pairs.
TRAINING_SAMPLE = 200_000


@dataclass
class MatchOutcome:
    records: int
    candidate_pairs: int
    matched_pairs: int
    review_pairs: int
    clusters: int
    blocking: dict
    refused: dict
    model: Model
    seconds: dict = field(default_factory=dict)
    compared_pairs: int = 0

    def summary(self) -> dict:
        return {"records": self.records, "candidate_pairs": self.candidate_pairs, "compared_pairs": self.compared_pairs,
                "matched_pairs": self.matched_pairs,
                "review_pairs": self.review_pairs, "clusters": self.clusters, "refused_merges": self.refused,
                "capped_blocks": {r: v["dropped_blocks"] for r, v in self.blocking.items() if v["dropped_blocks"]},
                "seconds": self.seconds}


def _has_tables(con: duckdb.DuckDBPyConnection, schema: str, tables) -> bool:
    have = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = ?", [schema]).fetchall()}
    return set(tables) <= have


def _mark_changed(con: duckdb.DuckDBPyConnection, records: str, previous: str) -> int:
    """work.changed: records new or changed since last night; work.gone: last night's records that are not here as they were.
    A record whose misspelt words are read otherwise tonight (dedupe.typos) is compared again too."""
    words = ", name_words" if "name_words" in {c for c, _ in table_columns(con, previous, "match_record")} else ""
    con.execute(f"""
        CREATE OR REPLACE TABLE work.changed AS
        SELECT r.mid FROM {records} r ANTI JOIN {previous}.match_record p USING (mid, source_id, source_record_id, content_hash{words})""")
    con.execute(f"""
        CREATE OR REPLACE TABLE work.gone AS
        SELECT p.mid, p.source_id, p.name_key, {PLACE_KEY_SQL} AS place_key, p.org, p.postcode FROM {previous}.match_record p
        ANTI JOIN {records} r USING (mid, source_id, source_record_id, content_hash)""")
    return con.execute("SELECT count(*) FROM work.changed").fetchone()[0]


def _lookup(con: duckdb.DuckDBPyConnection, records: str,
            mids: np.ndarray) -> tuple[dict[int, str], dict[int, str], dict[int, int]]:
    """source_id, name and tie-break key (a hash of source and record id) of the given records only:
    at a million records, whole-table dictionaries cost more than the clustering that reads them."""
    con.register("lookup_mids", pd.DataFrame({"mid": np.unique(mids).astype(np.int64)}))
    raw = con.execute(f"""SELECT r.mid, r.source_id, r.name, hash(r.source_id, r.source_record_id) AS tie
                           FROM {records} r SEMI JOIN lookup_mids m USING (mid)""").fetchnumpy()
    con.unregister("lookup_mids")
    mids_ = np.asarray(raw["mid"], np.int64).tolist()
    source_of = dict(zip(mids_, raw["source_id"].tolist()))
    names = dict(zip(mids_, [x if isinstance(x, str) else "" for x in raw["name"]]))
    return source_of, names, dict(zip(mids_, raw["tie"].tolist()))


def _override_pairs(con: duckdb.DuckDBPyConnection, records: str, overrides) -> tuple[list, set]:
    """The overrides' consistent decisions as pairs of mids, each record found by id or content
    fingerprint (dedupe.overrides)."""
    if overrides is None or not overrides.decisions:
        return [], set()
    must, cannot, _ = overrides.resolve_in(con, records)
    return must, cannot


def match_records(con: duckdb.DuckDBPyConnection, records: str = "work.match_record", link_only: bool = True,
                  overrides=None, model: Model | None = None, explain: bool = True, gates: bool = True,
                  comparisons=SERVICE_COMPARISONS, sims=SERVICE_SIMILARITIES, rules=SERVICE_BLOCKING,
                  match_probability: float = MATCH_PROBABILITY, previous: str | None = None,
                  prefilter: bool = True, chain_within_source: bool = False) -> MatchOutcome:
    """Match the records (see the module docstring).

    Incremental mode (``previous`` names a schema holding the last run's ``match_record``,
    ``match_pair`` and ``match_cluster``, ``model`` is the last run's model, and the records were
    keyed with ``key_records(previous=...)`` so that unchanged records keep their mids): only the
    new and changed records are keyed, blocked and compared, against everything; then only the
    clusters they touch (and those that lost a member) are clustered again, from the new pairs and
    the last run's pairs among their members. Every other cluster is kept as it was.
    """
    t = {"start": time.perf_counter()}
    incremental = previous is not None and model is not None and _has_tables(
        con, previous, ("match_record", "match_pair", "match_cluster"))
    previous_keys = None
    if incremental:
        if not _has_tables(con, "work", ("changed", "gone")):    # keyed without previous: compare the two
            _mark_changed(con, records, previous)
        if _has_tables(con, previous, ("match_block_key",)):
            previous_keys = f"{previous}.match_block_key"
    blocking = generate_candidates(con, rules, records, link_only=link_only, probe="work.changed" if incremental else None,
                                   previous_keys=previous_keys, gone="work.gone" if incremental else None)
    t["blocking"] = time.perf_counter()
    if incremental:
        con.execute("CREATE OR REPLACE TEMP TABLE candidate_mid AS SELECT mid_l AS mid FROM work.candidate "
                    "UNION SELECT mid_r FROM work.candidate")
    prefilter = prefilter and gates     # without the gates, names that differ can still be merged
    text = RecordText(con, records, sims, extra=PREFILTER_COLUMNS if prefilter else None,
                      only="candidate_mid" if incremental else None, comparisons=comparisons)
    n_candidates = con.execute("SELECT count(*) FROM work.candidate").fetchall()[0][0]
    sample = _training_sample(n_candidates) if model is None else np.zeros(0, np.int64)
    compared, training = _filter_candidates(con, records, text, sims, prefilter, sample)
    _pairs_table(con, "work.compared", *compared)
    n_compared = len(compared[0])
    del compared
    compute_gammas(con, "work.compared", records, comparisons, sims, text=text)
    t["comparisons"] = time.perf_counter()
    facts_of_records = record_facts(con, records)       # once, for training and for scoring
    if model is None:
        # every candidate when they are few (the compared ones plus the filtered ones), else the sample
        _pairs_table(con, "work.training_pair", *training)
        compute_gammas(con, "work.training_pair", records, comparisons, sims, target="work.training_gamma", text=text)
        model = train_model(con, "work.training_gamma", records, comparisons, sims, link_only=link_only, gates=gates, text=text,
                            candidates=n_candidates, facts_of_records=facts_of_records)
        model.trained_on["candidate_pairs"] = n_candidates
    # What the rest does not read goes now: at a million records these are gigabytes.
    del text, training
    con.execute("DROP TABLE IF EXISTS work.candidate")
    con.execute("DROP TABLE IF EXISTS work.training_pair")
    t["training"] = time.perf_counter()
    must, cannot = _override_pairs(con, records, overrides)
    if incremental:
        _mark_region(con, previous, match_probability, model, must, cannot, facts_of_records, records)
        _add_region_pairs(con, previous, comparisons)
        _add_region_candidates(con, rules, records, comparisons, sims, link_only, prefilter)
    mid_l, mid_r, g = fetch_gammas(con, "work.pair_gamma", comparisons)
    facts = facts_of_records.of_pairs(mid_l, mid_r)
    weight, prob, veto = score_gammas(model, g, facts)
    t["scoring"] = time.perf_counter()
    match_mask = (prob >= match_probability) & ~veto
    involved = np.concatenate([mid_l[match_mask], mid_r[match_mask], np.array([m for p in must for m in p], np.int64)])
    if incremental:
        involved = np.concatenate([involved, con.execute("SELECT mid FROM work.region").fetchnumpy()["mid"].astype(np.int64)])
    source_of, names, tie = _lookup(con, records, involved)
    res = cluster_pairs(mid_l, mid_r, prob, match_mask, source_of, names, tie_key=tie, chain_within_source=chain_within_source,
                        must_link=must, cannot_link=cannot, match_probability=match_probability)
    t["clustering"] = time.perf_counter()
    _write_pairs(con, mid_l, mid_r, weight, prob, veto, match_mask, res, g, model, comparisons,
                 previous=previous if incremental else None)
    n_clusters = _write_record_clusters(con, records, res, mid_l, mid_r, g, model, explain, facts,
                                        previous=previous if incremental else None)
    t["writing"] = time.perf_counter()
    seconds = {k: round(t[k] - prev, 2) for prev, k in zip(list(t.values())[:-1], list(t)[1:])}
    review = int(reviewable(g, prob, match_mask, comparisons).sum())
    n_records = con.execute(f"SELECT count(*) FROM {records}").fetchone()[0]
    return MatchOutcome(n_records, n_candidates, len(res.accepted), review, n_clusters, blocking["rules"],
                        dict(res.refused), model, seconds, compared_pairs=n_compared)


def _mark_region(con: duckdb.DuckDBPyConnection, previous: str, match_probability: float, model: Model,
                 must: list, cannot: set, records_facts, records: str = "work.match_record") -> None:
    """work.region: the records to cluster again. The new and changed records, and every member of a
    last-night cluster that lost a member, that a new pair would merge into, that an override names, or
    that holds a namesake of a new, changed or gone record in its source, a name whose count
    crossed a power of two tonight, or a name whose branches crossed ``BRANCHES_DOUBTFUL`` (all are
    in the weight of its pairs: see ``dedupe.scoring``)."""
    mid_l, mid_r, g = fetch_gammas(con, "work.pair_gamma", model.comparisons)
    _, prob, veto = score_gammas(model, g, records_facts.of_pairs(mid_l, mid_r))
    hit = (prob >= match_probability) & ~veto
    pair_mids = np.concatenate([mid_l[hit], mid_r[hit]])
    named = np.array([m for p in list(must) + list(cannot) for m in p], np.int64)
    con.register("touched_mids", pd.DataFrame({"mid": np.concatenate([pair_mids, named])}))
    branches_tonight = BRANCHES_SQL.format(
        records=f"(SELECT * FROM {records} SEMI JOIN branch_keys USING (name_key, org))")
    branches_last_night = BRANCHES_SQL.format(
        records=f"""(SELECT name_key, org, source_id, postcode FROM {records} SEMI JOIN branch_keys USING (name_key, org)
                     ANTI JOIN work.changed USING (mid)
                     UNION ALL SELECT name_key, org, source_id, postcode FROM work.gone
                     SEMI JOIN branch_keys USING (name_key, org))""")
    con.execute(f"""
        CREATE OR REPLACE TABLE work.region AS
        WITH namesakes AS (
            SELECT source_id, name_key, place_key FROM work.gone
            UNION SELECT source_id, name_key, {PLACE_KEY_SQL} FROM {records} SEMI JOIN work.changed USING (mid)),
        -- names whose count crossed a power of two tonight (their weight moved: dedupe.scoring.name_count_class)
        delta AS (
            SELECT name_key, sum(d) AS d FROM (
                SELECT name_key, 1 AS d FROM {records} SEMI JOIN work.changed USING (mid)
                UNION ALL SELECT name_key, -1 FROM work.gone) WHERE name_key IS NOT NULL GROUP BY 1),
        counted AS (
            SELECT d.name_key, d.d, count(r.mid) AS n FROM delta d LEFT JOIN {records} r USING (name_key) GROUP BY ALL),
        moved AS (
            SELECT name_key FROM counted
            WHERE {NAME_COUNT_CLASS_SQL.format(n="n")} <> {NAME_COUNT_CLASS_SQL.format(n="n - d")}),
        -- names of an organisation whose branches crossed BRANCHES_DOUBTFUL tonight (last night's
        -- records are tonight's unchanged ones and the gone ones)
        branch_keys AS (
            SELECT name_key, org FROM work.gone WHERE name_key IS NOT NULL AND org IS NOT NULL
            UNION SELECT name_key, org FROM {records} SEMI JOIN work.changed USING (mid)
                  WHERE name_key IS NOT NULL AND org IS NOT NULL),
        tonight AS ({branches_tonight}),
        last_night AS ({branches_last_night}),
        branched AS (
            SELECT k.name_key, k.org FROM branch_keys k LEFT JOIN tonight t USING (name_key, org)
            LEFT JOIN last_night l USING (name_key, org)
            WHERE (coalesce(t.branches, 0) >= {BRANCHES_DOUBTFUL}) <> (coalesce(l.branches, 0) >= {BRANCHES_DOUBTFUL})),
        touched AS (
            SELECT mid FROM work.gone UNION SELECT mid FROM touched_mids
            UNION SELECT r.mid FROM (SELECT mid, source_id, name_key, {PLACE_KEY_SQL} AS place_key FROM {records}) r
                  SEMI JOIN namesakes USING (source_id, name_key, place_key)
            UNION SELECT r.mid FROM {records} r SEMI JOIN moved USING (name_key)
            UNION SELECT r.mid FROM {records} r SEMI JOIN branched USING (name_key, org)),
        first AS (
            SELECT DISTINCT c.cluster_mid FROM {previous}.match_cluster c SEMI JOIN touched t USING (mid)),
        members AS (
            SELECT c.mid FROM {previous}.match_cluster c SEMI JOIN first k USING (cluster_mid)),
        -- A merge that the clustering refused last night (it would have put two records of a source
        -- together, or a pair that clearly differs) may be allowed once a touched cluster changes:
        -- the cluster on the other side of such a pair is clustered again too.
        refused AS (
            SELECT p.mid_r AS mid FROM {previous}.match_pair p SEMI JOIN members m ON m.mid = p.mid_l WHERE p.decision = 'refused'
            UNION SELECT p.mid_l FROM {previous}.match_pair p SEMI JOIN members m ON m.mid = p.mid_r WHERE p.decision = 'refused'),
        clusters AS (
            SELECT cluster_mid FROM first
            UNION SELECT c.cluster_mid FROM {previous}.match_cluster c SEMI JOIN refused r USING (mid))
        SELECT mid FROM work.changed
        UNION
        SELECT c.mid FROM {previous}.match_cluster c SEMI JOIN clusters k USING (cluster_mid)
        ANTI JOIN work.gone g USING (mid)
    """)
    con.unregister("touched_mids")


def _add_region_pairs(con: duckdb.DuckDBPyConnection, previous: str, comparisons) -> None:
    """Last night's scored pairs between unchanged records of the region, to cluster them again."""
    cols = ", ".join(f'p."g_{c.name}"' for c in comparisons)
    con.execute(f"""
        INSERT INTO work.pair_gamma
        SELECT p.mid_l, p.mid_r, {cols} FROM {previous}.match_pair p
        SEMI JOIN work.region a ON a.mid = p.mid_l SEMI JOIN work.region b ON b.mid = p.mid_r
        ANTI JOIN work.changed c1 ON c1.mid = p.mid_l ANTI JOIN work.changed c2 ON c2.mid = p.mid_r
        ANTI JOIN work.pair_gamma n ON n.mid_l = p.mid_l AND n.mid_r = p.mid_r
    """)


def _add_region_candidates(con: duckdb.DuckDBPyConnection, rules, records: str, comparisons, sims, link_only: bool,
                           prefilter: bool) -> None:
    """Tonight's levels of the candidate pairs between records of the region that neither tonight
    compared nor last night kept. Last night kept only the pairs worth keeping: the clearly different
    pairs between two clusters it did not merge were dropped, and a region clustered again without
    them could merge what a full match refuses (a must-link joining two records puts their clusters'
    other members together with whatever the merged cluster meets next). Candidates are the pairs of
    region records that share a stored block key in a block within its cap (the pairs of a block
    over its cap, split by name, are the documented tolerance); the name prefilter applies as above."""
    caps = " ".join(f"WHEN '{rule.name}' THEN {rule.cap}" for rule in rules)
    cross = "AND ra.source_id <> rb.source_id" if link_only else ""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE region_candidate AS
        WITH k AS (SELECT b.mid, b.rule, b.key FROM work.block_key b SEMI JOIN work.region USING (mid)),
             size AS (SELECT b.rule, b.key, count(*) AS n FROM work.block_key b
                      SEMI JOIN (SELECT DISTINCT rule, key FROM k) USING (rule, key) GROUP BY ALL),
             pairs AS (SELECT DISTINCT a.mid AS mid_l, b.mid AS mid_r FROM k a
                       JOIN k b ON a.rule = b.rule AND a.key = b.key AND a.mid < b.mid
                       JOIN size s ON s.rule = a.rule AND s.key = a.key
                       WHERE s.n <= CASE a.rule {caps} END)
        SELECT p.mid_l, p.mid_r FROM pairs p
        JOIN {records} ra ON ra.mid = p.mid_l JOIN {records} rb ON rb.mid = p.mid_r
        ANTI JOIN work.pair_gamma g ON g.mid_l = p.mid_l AND g.mid_r = p.mid_r
        WHERE true {cross}
        ORDER BY 1, 2""")
    cand = con.execute("SELECT mid_l, mid_r FROM region_candidate").fetchnumpy()
    con.execute("DROP TABLE region_candidate")
    cand_l, cand_r = np.asarray(cand["mid_l"], np.int64), np.asarray(cand["mid_r"], np.int64)
    if not len(cand_l):
        return
    con.register("region_mids", pd.DataFrame({"mid": np.unique(np.concatenate([cand_l, cand_r]))}))
    con.execute("CREATE OR REPLACE TEMP TABLE region_text_mid AS SELECT mid FROM region_mids")
    con.unregister("region_mids")
    text = RecordText(con, records, sims, extra=PREFILTER_COLUMNS if prefilter else None, only="region_text_mid",
                      comparisons=comparisons)
    keep = name_prefilter(con, records, text, sims, cand_l, cand_r) if prefilter else np.ones(len(cand_l), bool)
    _pairs_table(con, "work.region_compared", cand_l[keep], cand_r[keep])
    compute_gammas(con, "work.region_compared", records, comparisons, sims, target="work.region_gamma", text=text)
    con.execute("INSERT INTO work.pair_gamma SELECT * FROM work.region_gamma")
    for table in ("work.region_compared", "work.region_gamma", "region_text_mid"):
        con.execute(f"DROP TABLE {table}")


# Per-record values the name prefilter reads beside the similarity strings.
PREFILTER_COLUMNS = {"name_key": "coalesce(r.name_key, '')", "name_compact": "replace(coalesce(r.name, ''), ' ', '')",
                     "has_service_ids": "len(r.svc_ids) > 0"}


def name_prefilter(con: duckdb.DuckDBPyConnection, records: str, text: RecordText, sims, mid_l: np.ndarray,
                   mid_r: np.ndarray) -> np.ndarray:
    """Which candidate pairs are worth comparing in full under the gates (see NAME_PREFILTER)."""
    by_name = {s.name: s for s in sims}
    (sort_name, sort_min), (set_name, set_min) = NAME_PREFILTER["sort"], NAME_PREFILTER["set"]
    if sort_name not in by_name or set_name not in by_name:
        return np.ones(len(mid_l), bool)
    has_ids = np.asarray(text.columns["has_service_ids"], bool)
    il, ir = text.index(mid_l), text.index(mid_r)
    # Compared as codes of distinct values: comparing millions of Python strings costs seconds.
    key_codes, _ = text.codes("name_key")
    compact_codes, _ = text.codes("name_compact")
    name_codes, names = text.codes(by_name[sort_name].left)
    no_name = names[name_codes] == ""
    keep = (has_ids[il] & has_ids[ir]) | no_name[il] | no_name[ir] | (key_codes[il] == key_codes[ir]) \
        | (compact_codes[il] == compact_codes[ir])
    rest = np.flatnonzero(~keep)
    alike = text.similarity(by_name[sort_name], il[rest], ir[rest]) >= sort_min
    keep[rest[alike]] = True
    rest = rest[~alike]
    rest = rest[text.similarity(by_name[set_name], il[rest], ir[rest]) >= set_min]
    keep[rest] = _names_shorten(con, records, text, by_name[sort_name].left, il[rest], ir[rest])
    return keep


def _names_shorten(con: duckdb.DuckDBPyConnection, records: str, text: RecordText, column: str, il: np.ndarray,
                   ir: np.ndarray) -> np.ndarray:
    """NAME_PREFILTER's "shortens" test for the pairs at record indexes (il, ir), in DuckDB, once per
    distinct pair of names (a record of each name stands for all its records: the test reads only
    the name's words)."""
    if len(il) == 0:
        return np.zeros(0, bool)
    codes, values = text.codes(column)
    _, first = np.unique(codes, return_index=True)
    inverse, distinct = pd.factorize(codes[il] * len(values) + codes[ir])
    frame = pd.DataFrame({"i": np.arange(len(distinct)), "mid_l": text.mids[first[distinct // len(values)]],
                          "mid_r": text.mids[first[distinct % len(values)]]})
    con.register("shorten_frame", frame)
    raw = con.execute(f"""SELECT f.i, coalesce({NAME_PREFILTER["shortens"]}, false) AS ok FROM shorten_frame f
                          JOIN {records} l ON l.mid = f.mid_l JOIN {records} r ON r.mid = f.mid_r""").fetchnumpy()
    con.unregister("shorten_frame")
    ok = np.zeros(len(distinct), bool)
    ok[np.asarray(raw["i"], np.int64)] = np.asarray(raw["ok"], bool)
    return ok[inverse]


def _training_sample(n: int, seed: int = 11) -> np.ndarray | None:
    if n <= TRAINING_SAMPLE:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, TRAINING_SAMPLE, replace=False))


# Candidate pairs are read and filtered this many at a time (in DuckDB vectors of 2,048): at a
# million skewed records there are tens of millions, and the filter's arrays over all of them at
# once were gigabytes (2.8 GB peak at 500,000 records).
CANDIDATE_CHUNK_VECTORS = 2048


def _filter_candidates(con: duckdb.DuckDBPyConnection, records: str, text: RecordText, sims, prefilter: bool,
                       sample: np.ndarray | None) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The candidate pairs worth comparing in full (all of them without the prefilter), and the
    training pairs: those at the positions ``sample`` of the candidates in (mid_l, mid_r) order,
    or every candidate when ``sample`` is None. Read from work.candidate in parts."""
    keep_l, keep_r, train_l, train_r = [], [], [], []
    # A cursor of its own: the filter runs statements on con while this result is read.
    result = con.cursor().execute("SELECT mid_l, mid_r FROM work.candidate ORDER BY mid_l, mid_r")
    start = 0
    while len(part := result.fetch_df_chunk(CANDIDATE_CHUNK_VECTORS)):
        cand_l, cand_r = part["mid_l"].to_numpy(np.int64), part["mid_r"].to_numpy(np.int64)
        del part
        keep = name_prefilter(con, records, text, sims, cand_l, cand_r) if prefilter else np.ones(len(cand_l), bool)
        keep_l.append(cand_l[keep])
        keep_r.append(cand_r[keep])
        if sample is None:
            train_l.append(cand_l)
            train_r.append(cand_r)
        else:
            at = sample[(sample >= start) & (sample < start + len(cand_l))] - start
            train_l.append(cand_l[at])
            train_r.append(cand_r[at])
        start += len(cand_l)
    empty = np.zeros(0, np.int64)
    return ((np.concatenate(keep_l) if keep_l else empty, np.concatenate(keep_r) if keep_r else empty),
            (np.concatenate(train_l) if train_l else empty, np.concatenate(train_r) if train_r else empty))


def _pairs_table(con: duckdb.DuckDBPyConnection, table: str, mid_l: np.ndarray, mid_r: np.ndarray) -> None:
    frame = pd.DataFrame({"mid_l": mid_l, "mid_r": mid_r})
    con.register("pairs_frame", frame)
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT mid_l, mid_r FROM pairs_frame")
    con.unregister("pairs_frame")


def reviewable(g: np.ndarray, prob: np.ndarray, match_mask: np.ndarray, comparisons) -> np.ndarray:
    """Pairs worth a person's look: probable but not merged, and with names that share something
    (siblings with unrelated names at one venue are certain non-matches, not review work)."""
    names_differ = np.zeros(len(g), dtype=bool)
    for k, c in enumerate(comparisons):
        if c.role == "name":
            names_differ |= np.isin(g[:, k], [i for i, lv in enumerate(c.levels) if (c.name, lv.label) in VETO_LEVELS])
    return (prob >= REVIEW_PROBABILITY) & ~match_mask & ~names_differ


def _write_pairs(con, mid_l, mid_r, weight, prob, veto, match_mask, res, g, model, comparisons, previous=None) -> None:
    """work.match_pair: the pairs worth keeping (merged, refused, vetoed or for review) with their levels.
    Incrementally, last night's pairs outside the re-clustered region are kept as they were."""
    keep = (prob >= REVIEW_PROBABILITY) & (match_mask | reviewable(g, prob, match_mask, comparisons))
    roots = _cluster_of(res, np.concatenate([mid_l[keep], mid_r[keep]]))
    same = roots[:len(roots) // 2] == roots[len(roots) // 2:]
    decision = np.where(same, "match", np.where(veto[keep], "veto", np.where(match_mask[keep], "refused", "review")))
    frame = pd.DataFrame({"mid_l": mid_l[keep], "mid_r": mid_r[keep], "match_weight": weight[keep],
                          "probability": prob[keep], "decision": decision})
    for k, c in enumerate(comparisons):
        frame[f"g_{c.name}"] = g[keep, k]
    con.register("pair_frame", frame)
    drop_relation(con, "work.match_pair")
    if previous:
        # Last night's table brought up to date in place, like the keyed records: copying millions of
        # kept pairs cost more than the rest of an incremental night's writing.
        con.execute(f"""
            DELETE FROM {previous}.match_pair
            WHERE (mid_l IN (SELECT mid FROM work.region) AND mid_r IN (SELECT mid FROM work.region))
               OR mid_l IN (SELECT mid FROM work.gone) OR mid_r IN (SELECT mid FROM work.gone)""")
        con.execute(f"INSERT INTO {previous}.match_pair BY NAME SELECT * FROM pair_frame")
        con.execute(f"CREATE VIEW work.match_pair AS SELECT * FROM {previous}.match_pair")
    else:
        con.execute("CREATE TABLE work.match_pair AS SELECT * FROM pair_frame")
    con.unregister("pair_frame")
    con.execute("CREATE OR REPLACE TABLE work.match_model AS SELECT ? AS model", [model.to_json()])


def _cluster_of(res, mids: np.ndarray) -> np.ndarray:
    """The cluster representative of each mid (itself when it is in no cluster), by array lookup."""
    if not res.root:
        return mids.copy()
    members = np.fromiter(res.root.keys(), np.int64, len(res.root))
    roots = np.fromiter(res.root.values(), np.int64, len(res.root))
    order = np.argsort(members)
    members, roots = members[order], roots[order]
    at = np.minimum(np.searchsorted(members, mids), len(members) - 1)
    return np.where(members[at] == mids, roots[at], mids)


def _write_record_clusters(con, records, res, mid_l, mid_r, g, model, explain, facts, previous=None) -> int:
    """Each record's cluster, with the score and reason of the pair that brought it in. Incrementally,
    records outside the re-clustered region keep last night's cluster, score and reason.

    Built as arrays and turned into JSON by DuckDB: at a million records, a Python loop with a
    json.dumps per record took longer than the clustering."""
    members = pd.DataFrame({"mid": np.fromiter(res.root.keys(), np.int64, len(res.root)),
                            "root": np.fromiter(res.root.values(), np.int64, len(res.root))})
    # The cluster's first record (smallest mid) founds it.
    members["cluster_mid"] = members.groupby("root")["mid"].transform("min")
    # The later-joining record of an accepted pair is explained by the pair: each record by its best
    # pair, the first such pair in the order the clustering accepted them.
    acc = np.array([(a, b, p) for a, b, p in res.accepted], dtype=np.float64).reshape(-1, 3)
    n = len(acc)
    brought = pd.DataFrame({"mid": np.concatenate([acc[:, 0], acc[:, 1]]).astype(np.int64),
                            "partner": np.concatenate([acc[:, 1], acc[:, 0]]).astype(np.int64),
                            "p": np.concatenate([acc[:, 2], acc[:, 2]]),
                            "seq": np.concatenate([np.arange(n) * 2, np.arange(n) * 2 + 1])})
    brought = brought.sort_values(["mid", "p", "seq"], ascending=[True, False, True]).drop_duplicates("mid")
    rows = members.merge(brought, on="mid", how="left")
    founding = (rows["mid"] == rows["cluster_mid"]) | rows["partner"].isna()
    partner = rows["partner"].fillna(-1).to_numpy(np.int64)
    p = rows["p"].fillna(1.0).to_numpy(np.float64)
    explain_id = np.full(len(rows), -1, np.int64)
    explanations = []
    if explain and len(mid_l):
        # Pairs are sorted by (mid_l, mid_r), so one packed key per pair finds each accepted pair by search.
        packed = (mid_l << 32) | mid_r
        x = rows["mid"].to_numpy(np.int64)
        keys = (np.minimum(x, partner) << 32) | np.maximum(x, partner)
        at = np.minimum(np.searchsorted(packed, keys), len(packed) - 1)
        found = ~founding.to_numpy() & (packed[at] == keys)
        if found.any():
            # One explanation per distinct combination of levels and of the facts beside them.
            f = facts.subset(at[found])
            keyed = np.column_stack([g[at[found]].astype(np.float64), f.name_count, f.namesakes, f.same_source])
            distinct, which = np.unique(keyed, axis=0, return_inverse=True)
            explain_id[found] = which.reshape(-1)
            n = g.shape[1]
            explanations = [json.dumps(explain_pair(model, row[:n].astype(np.int8), float(row[n]), float(row[n + 1]), bool(row[n + 2])))
                            for row in distinct]
    rule = np.where(founding, "founding record",
                    np.where((explain_id < 0) & (p == 1.0), "must-link override", "matched"))
    frame = pd.DataFrame({"mid": rows["mid"].to_numpy(np.int64), "cluster_mid": rows["cluster_mid"].to_numpy(np.int64),
                          "score": np.where(founding, 1.0, p), "rule": rule, "partner": partner,
                          "explain_id": explain_id})
    con.register("cluster_frame", frame)
    con.register("explain_frame", pd.DataFrame({"explain_id": np.arange(len(explanations), dtype=np.int64),
                                                "explanation": pd.Series(explanations, dtype=object)}))
    clustered = f"""
        SELECT c.mid, c.cluster_mid, c.score,
               CASE WHEN c.rule = 'founding record' THEN '{{"rule": "founding record"}}'
                    ELSE CAST(json_merge_patch(
                        json_object('rule', c.rule, 'with', json_object('source_id', w.source_id, 'record_id', w.source_record_id),
                                    'probability', round(c.score, 4)),
                        coalesce(e.explanation, '{{}}')) AS VARCHAR) END AS reason
        FROM cluster_frame c LEFT JOIN {records} w ON w.mid = c.partner LEFT JOIN explain_frame e USING (explain_id)"""
    # Every record (or, incrementally, every record clustered again) in its cluster, or alone.
    each = f"""
        WITH clustered AS ({clustered})
        SELECT r.mid, coalesce(c.cluster_mid, r.mid) AS cluster_mid, coalesce(c.score, 1.0) AS score,
               coalesce(c.reason, '{{"rule": "founding record"}}') AS reason
        FROM __rows__ r LEFT JOIN clustered c USING (mid)"""
    drop_relation(con, "work.record_cluster")
    if previous:
        # Last night's clusters brought up to date in place (see _write_pairs): those of the region
        # and of the records gone are replaced, the rest are kept as they were.
        con.execute("CREATE OR REPLACE TEMP TABLE again AS SELECT mid FROM work.region UNION SELECT mid FROM cluster_frame")
        con.execute(f"""DELETE FROM {previous}.match_cluster
                        WHERE mid IN (SELECT mid FROM again) OR mid IN (SELECT mid FROM work.gone)""")
        con.execute(f"INSERT INTO {previous}.match_cluster BY NAME {each.replace('__rows__', 'again')}")
        con.execute(f"CREATE VIEW work.record_cluster AS SELECT * FROM {previous}.match_cluster")
        con.execute("DROP TABLE again")
    else:
        con.execute(f"CREATE TABLE work.record_cluster AS {each.replace('__rows__', records)}")
    con.unregister("cluster_frame")
    con.unregister("explain_frame")
    return con.execute("SELECT count(DISTINCT cluster_mid) FROM work.record_cluster").fetchone()[0]
