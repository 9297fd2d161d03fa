"""Duplicates inside one source (dedupe/within_source.py): reported to the source, naming both records."""
import duckdb
import pytest

from dedupe.matcher import match_records
from dedupe.within_source import report_duplicate_listings
from pipelines.nightly_run import run_nightly
from tests.support.listings import keyed, leisure_world, listing
from tests.support.match_nights import generated_rows
from tests.support.newcomer import ROWS, add_newcomer, demo
from warehouse.schema import QUALITY_ISSUE_DDL


def with_issue_table(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    con.execute("CREATE SCHEMA IF NOT EXISTS quality")
    con.execute(QUALITY_ISSUE_DDL)
    return con


def issues(con) -> dict[tuple[str, str], tuple[str, str]]:
    return {(s, r): (sev, msg) for s, r, sev, msg in con.execute(
        "SELECT source_id, record_id, severity, message FROM quality.issue WHERE rule = 'duplicate_listing'").fetchall()}


def test_a_source_that_lists_one_service_twice_hears_of_it_naming_both_records():
    rows = leisure_world()
    # The council lists Coffee & Chat twice, under two ids, once with "and".
    twin = next(r for r in rows if r["source_record_id"] == "council-svc-0")
    rows.append(dict(twin, source_record_id="council-svc-0-again", staging_id="council/council-svc-0-again",
                     name="Coffee and Chat"))
    con = with_issue_table(keyed(rows))
    match_records(con, link_only=False, explain=False)      # within-source pairs scored (placecat match --dedupe)
    counts = report_duplicate_listings(con, "run-1")
    found = issues(con)
    severity, message = found["council", "council-svc-0-again"]
    assert severity == "warning" and message.startswith("listed twice: Coffee and Chat (record council-svc-0-again) "
                                                         "is the same service as Coffee & Chat (record council-svc-0)")
    # The oracle: every record of a source that shares its cluster with an earlier record of that source.
    members = con.execute("""SELECT c.cluster_mid, r.source_id, r.source_record_id FROM work.record_cluster c
                             JOIN work.match_record r USING (mid)""").fetchall()
    seen, expected = set(), set()
    for cluster, source, rid in sorted(members, key=lambda m: (m[0], m[1], m[2])):
        (expected.add((source, rid)) if (cluster, source) in seen else seen.add((cluster, source)))
    assert {k for k, (sev, _) in found.items() if sev == "warning"} == expected
    assert counts.get("warning") == len(expected)
    # Idempotent: a second report replaces the first.
    report_duplicate_listings(con, "run-1")
    assert issues(con) == found


def test_uncertain_pairs_of_one_source_are_reported_unless_a_reviewer_kept_them_apart():
    rows = generated_rows(400, seed=5)
    # Three listings that a source repeats without their schedule and phone: the same name at the same
    # place, but nothing that settles that they are one session (the model queues such pairs).
    for row in [r for r in rows if r["schedule"] and r["postcode"]][:3]:
        rows.append(dict(row, source_record_id=row["source_record_id"] + "-again", staging_id=row["staging_id"] + "-again",
                         schedule=[], phones=[]))
    con = with_issue_table(keyed(rows))
    match_records(con, link_only=False, explain=False)
    cluster = dict(con.execute("SELECT mid, cluster_mid FROM work.record_cluster").fetchall())
    uncertain = con.execute("""SELECT p.mid_l, p.mid_r, r.source_id, r.source_record_id, l.source_record_id
                               FROM work.match_pair p JOIN work.match_record l ON l.mid = p.mid_l
                               JOIN work.match_record r ON r.mid = p.mid_r
                               WHERE l.source_id = r.source_id AND p.decision IN ('review', 'refused')""").fetchall()
    maybe = [(a, b, s, rid, other) for a, b, s, rid, other in uncertain if cluster[a] != cluster[b]]
    assert len(maybe) >= 2
    report_duplicate_listings(con, "run-1")
    infos = {k: msg for k, (sev, msg) in issues(con).items() if sev == "info"}
    assert {(s, rid) for _, _, s, rid, _ in maybe} == set(infos)
    a, b, s, rid, other = next(m for m in maybe if sum(x[3] == m[3] for x in maybe) == 1)
    assert f"(record {rid}) may be the same service as" in infos[s, rid] and f"(record {other})" in infos[s, rid]
    report_duplicate_listings(con, "run-1", cannot={(min(a, b), max(a, b))})
    assert (s, rid) not in issues(con)      # a reviewer said they are two services


def test_nothing_is_reported_when_no_source_lists_a_service_twice():
    rows = [r for r in leisure_world() if r["source_id"] != "council"] + [listing("council", "only", "Chess Club", pc="LS9 9ZZ")]
    con = with_issue_table(keyed(rows))
    match_records(con, explain=False)
    assert report_duplicate_listings(con, "run-1") == {} and not issues(con)


@pytest.mark.slow  # a whole night
def test_a_night_reports_a_spreadsheet_that_lists_a_service_twice(tmp_path):
    sources = demo(tmp_path / "demo")
    add_newcomer(sources, [*ROWS, ["N6", *ROWS[0][1:]]])      # the newcomer lists its foodbank twice
    res = run_nightly(sources, tmp_path / "out" / "placecat.duckdb")
    assert res.published, res.error
    with duckdb.connect(str(res.db_path), read_only=True) as con:
        reported = con.execute("""SELECT record_id, message FROM quality.issue WHERE rule = 'duplicate_listing'
                                  AND source_id = 'leeds-newcomer'""").fetchall()
    assert [(rid, "(record N1)" in msg) for rid, msg in reported] == [("N6", True)]
