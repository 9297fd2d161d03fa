"""Property-based: any sequence of nights (records and sources added, removed, renamed, ids re-issued,
overrides added) matches incrementally without error, and each incremental night clusters the
records as a full match of them would, with the same model, within the documented tolerance
(docs/matching.md, "Incremental"): records in a block that grew past its cap tonight may differ,
since a full match drops or splits that block while an incremental night keeps last night's pairs.

Every night also runs what the nightly build runs after the matcher on the same tables: the
overrides resolved, the review queue written and within-source duplicates reported.
"""
import functools
import tempfile
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dedupe.blocking import SERVICE_BLOCKING, compute_block_keys
from dedupe.matcher import match_records
from dedupe.overrides import Overrides, OverridesError
from dedupe.queue import write_review_queue
from dedupe.records import key_records
from dedupe.within_source import report_duplicate_listings
from tests.support.listings import keyed, leisure_world, listing
from tests.support.match_nights import generated_rows, reload_inputs
from warehouse.schema import QUALITY_ISSUE_DDL

POOL = generated_rows(50, seed=21)          # about a hundred listings from four sources
SOURCES = sorted({r["source_id"] for r in POOL})
START = len(POOL) * 2 // 3


@functools.cache
def trained_model():
    """One model for every night, as the nightly reuses last night's while few records change."""
    return match_records(keyed(POOL), explain=False).model


def clusters(con) -> set[frozenset]:
    """The clusters as the nightly build reads them (dedupe.nightly_match): each record with its
    cluster's founding record, which must be one of tonight's records."""
    groups: dict = {}
    for cluster, source, rid in con.execute("""SELECT c.cluster_mid, r.source_id, r.source_record_id
                                               FROM work.record_cluster c JOIN work.match_record r USING (mid)
                                               JOIN work.match_record f ON f.mid = c.cluster_mid""").fetchall():
        groups.setdefault(cluster, set()).add((source, rid))
    return {frozenset(g) for g in groups.values()}


def in_oversized_blocks(con) -> set[tuple[str, str]]:
    """The records in a block over its cap in a full match of con's records."""
    compute_block_keys(con, SERVICE_BLOCKING, "work.match_record", target="oversized_keys")
    caps = " ".join(f"WHEN '{rule.name}' THEN {rule.cap}" for rule in SERVICE_BLOCKING)
    return set(con.execute(f"""
        WITH big AS (SELECT rule, key FROM oversized_keys GROUP BY ALL HAVING count(*) > CASE rule {caps} END)
        SELECT r.source_id, r.source_record_id FROM oversized_keys k SEMI JOIN big USING (rule, key)
        JOIN work.match_record r USING (mid)""").fetchall())


def hand_over(con) -> duckdb.DuckDBPyConnection:
    """Tonight's matcher state as tomorrow's build sees it: copied into schema previous of a new
    database (through Parquet files, which keep every column's type)."""
    nxt = duckdb.connect()
    nxt.execute("CREATE SCHEMA previous; CREATE SCHEMA work; CREATE SCHEMA catalogue; CREATE SCHEMA quality")
    nxt.execute(QUALITY_ISSUE_DDL)
    with tempfile.TemporaryDirectory() as folder:
        for src, dst in (("match_record", "match_record"), ("match_pair", "match_pair"),
                         ("record_cluster", "match_cluster"), ("block_key", "match_block_key")):
            path = Path(folder) / f"{dst}.parquet"
            con.execute(f"COPY (SELECT * FROM work.{src}) TO '{path}' (FORMAT parquet)")
            nxt.execute(f"CREATE TABLE previous.{dst} AS SELECT * FROM read_parquet('{path}')")
    return nxt


def after_matching(con, model, overrides, run_id) -> None:
    """What the nightly build runs on the matcher's tables after it (dedupe.nightly_match)."""
    _, cannot, _ = overrides.resolve_in(con)
    write_review_queue(con, model, cannot)
    report_duplicate_listings(con, run_id, cannot)


def apply(op, rows: list[dict], unused: list[dict], overrides: Overrides, n: int) -> None:
    """One upstream change (or a reviewer's decision) to tonight's listings, in place."""
    kind, x, y = op
    if kind == "add" and unused:
        rows.extend(unused.pop() for _ in range(min(1 + x % 5, len(unused))))
    elif kind == "remove" and len(rows) > 2:
        del rows[x % len(rows)]
    elif kind == "rename" and rows:
        r = rows[x % len(rows)]
        rows[x % len(rows)] = dict(r, name=f"{r['name']} {['Plus', 'Group', 'Club', 'at the Hub'][y % 4]}")
    elif kind in ("reissue", "rename_source"):
        # A source re-issues its record ids, or is renamed (listed under another id in the sources file).
        source = SOURCES[x % len(SOURCES)]
        for k, r in enumerate(rows):
            if r["source_id"] == source or r["source_id"].startswith(source + "-"):
                sid = f"{source}-v{n}" if kind == "rename_source" else r["source_id"]
                rid = f"{r['source_record_id']}-n{n}" if kind == "reissue" else r["source_record_id"]
                rows[k] = dict(r, source_id=sid, source_record_id=rid, staging_id=f"{sid}/{rid}")
    elif kind == "drop_source":
        source = rows[x % len(rows)]["source_id"] if rows else None
        if sum(r["source_id"] != source for r in rows) > 2:
            rows[:] = [r for r in rows if r["source_id"] != source]
    elif kind in ("must-link", "cannot-link") and len(rows) > 1:
        a, b = rows[x % len(rows)], rows[y % len(rows)]
        if (a["source_id"], a["source_record_id"]) != (b["source_id"], b["source_record_id"]):
            try:
                overrides.add(kind, (a["source_id"], a["source_record_id"]), (b["source_id"], b["source_record_id"]))
            except OverridesError:
                pass            # it contradicts an earlier decision: refused, as placecat review would


OPS = st.tuples(st.sampled_from(["add", "add", "remove", "rename", "reissue", "rename_source", "drop_source",
                                 "must-link", "cannot-link"]),
                st.integers(0, 10_000), st.integers(0, 10_000))


# derandomize: the same examples on every run, so that CI never fails on a sequence no one can replay.
@pytest.mark.slow  # 20 examples of up to three nights, two matches a night: about 30 s of CPU
@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(nights=st.lists(st.lists(OPS, min_size=1, max_size=4), min_size=1, max_size=3))
# Found by this test: a must-link between a renamed source's two records joined clusters whose clearly
# different pair last night had not kept, and the region clustered again merged what a full match refuses.
@example(nights=[[("rename_source", 0, 0), ("drop_source", 1, 0), ("rename", 0, 0), ("remove", 648, 0)],
                 [("remove", 4914, 0), ("reissue", 323, 0), ("must-link", 0, 0), ("must-link", 2326, 921)]])
def test_incremental_nights_match_as_a_full_match_would(nights):
    model = trained_model()
    rows, unused = [dict(r) for r in POOL[:START]], [dict(r) for r in POOL[START:]]
    overrides = Overrides()
    con = keyed(rows)
    con.execute("CREATE SCHEMA catalogue; CREATE SCHEMA quality")
    con.execute(QUALITY_ISSUE_DDL)
    match_records(con, model=model, explain=False)
    after_matching(con, model, overrides, "night-0")
    for n, ops in enumerate(nights, start=1):
        for op in ops:
            apply(op, rows, unused, overrides, n)
        con = hand_over(con)
        reload_inputs(con, rows)
        key_records(con, previous="previous")
        match_records(con, model=model, previous="previous", overrides=overrides, explain=False)
        after_matching(con, model, overrides, f"night-{n}")
        full = keyed(rows)
        match_records(full, model=model, overrides=overrides, explain=False)
        tonight, expected = clusters(con), clusters(full)
        assert {r for c in tonight for r in c} == {(r["source_id"], r["source_record_id"]) for r in rows}
        tolerated = in_oversized_blocks(full)
        differing = tonight ^ expected
        assert all(c & tolerated for c in differing), \
            f"night {n} after {ops}: clusters differ outside the tolerance: {sorted(map(sorted, differing))[:6]}"


def _stroke_club(source: str, rid: str, pc: str | None, addr: str | None, lat: float | None, lon: float | None,
                 city: str | None) -> dict:
    return listing(source, rid, "Stroke Club", org="Stroke Association", pc=pc, addr=addr, lat=lat, lon=lon, city=city,
                   phone="0303 3033 100", day="TU", url="https://www.stroke.org.uk/stroke-club")


def test_a_listing_without_a_venue_is_queued_once_its_name_has_a_second_branch_full_and_incremental():
    """A listing with no address of a name its organisation runs at one place is that place's
    listing; once a source lists the name at a second place, nothing says which branch the listing
    is, so the pair is at most queued, and an incremental night must see that as a full match does."""
    world = leisure_world()
    one_branch = world + [_stroke_club("council", "stroke-leeds", "LS14 6ZF", "Seacroft Hall", 53.819, -1.461, "Leeds"),
                          _stroke_club("vcs", "stroke-no-venue", None, None, None, None, None),
                          # another organisation's club of that name: three records carry the name, so the
                          # fourth tonight leaves its count class as it was (dedupe.scoring.name_count_class)
                          listing("nhs", "stroke-other", "Stroke Club", org="Bramley Community Centre", pc="LS13 3AP",
                                  addr="Broad Lane", lat=53.805, lon=-1.63, phone="0113 256 1111", day="FR")]
    model = match_records(keyed(world), explain=False).model
    con = keyed(one_branch)
    con.execute("CREATE SCHEMA catalogue; CREATE SCHEMA quality")
    con.execute(QUALITY_ISSUE_DDL)
    match_records(con, model=model, explain=False)
    together = ("council", "stroke-leeds"), ("vcs", "stroke-no-venue")
    assert any(set(together) <= c for c in clusters(con))
    two_branches = one_branch + [_stroke_club("council", "stroke-york", "YO1 7HH", "York Hall", 53.96, -1.08, "York")]
    con = hand_over(con)
    reload_inputs(con, two_branches)
    key_records(con, previous="previous")
    match_records(con, model=model, previous="previous", explain=False)
    full = keyed(two_branches)
    match_records(full, model=model, explain=False)
    assert clusters(con) == clusters(full)
    assert not any(set(together) <= c for c in clusters(full))
    queued = full.execute("""SELECT count(*) FROM work.match_pair p JOIN work.match_record l ON l.mid = p.mid_l
                             JOIN work.match_record r ON r.mid = p.mid_r
                             WHERE 'stroke-no-venue' IN (l.source_record_id, r.source_record_id)
                               AND p.decision = 'review'""").fetchone()[0]
    assert queued >= 2      # the no-venue listing against each branch, for a reviewer
