"""Incremental harvesting keeps the same result as reading every feed again from the start.

Several "nights" of publisher changes (new series, renamed ones, tombstones, sessions moving,
sessions whose series arrives a night later) are harvested incrementally into one state folder;
after each night a full re-read from scratch must give exactly the same staging rows, and at the
end the published catalogues of `placecat run` and `placecat run --full-reread` must agree.
"""
import json

import duckdb
import pytest

from connectors import openactive
from connectors.refresh import harvest_source, normalise_source
from pipelines.nightly_run import run_nightly
from tests.support.environment import SAMPLE
from tests.support.faultyserver import FaultyServer
from tests.support.openactive_items import SID, series_item, session_item, write_sources
from tests.support.rpdeserver import RpdeFeed
from warehouse.model import ORUK_TABLES
from warehouse.snapshots import SourceStore


@pytest.fixture
def server():
    with FaultyServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def fast_end_poll(monkeypatch):
    monkeypatch.setattr(openactive, "END_POLL_SECONDS", 0.0)


def staging_rows(state_dir):
    cur = SourceStore(state_dir, SID).current()
    out = {}
    with duckdb.connect(str(cur.path), read_only=True) as con:
        for table in ORUK_TABLES:
            rows = con.execute(f"SELECT * EXCLUDE (extras), CAST(extras AS VARCHAR) FROM staging.{table}").fetchall()
            out[table] = sorted(map(repr, rows))
        out["issues"] = sorted(map(repr, con.execute(
            "SELECT record_id, table_name, field, rule, severity, message FROM quality.issue").fetchall()))
    return out


def night(source, state_dir, run_id, full=False):
    rep = harvest_source(source, state_dir, run_id, full_reread=full)
    if rep.status == "ok":
        rep = normalise_source(source, state_dir, rep.version, run_id)
    assert rep.status in ("ok", "unchanged"), rep.message
    return rep


def publisher_changes(series: RpdeFeed, sessions: RpdeFeed, n: int) -> None:
    """What a booking system's nightly churn looks like, night by night."""
    if n == 1:
        for k in (20, 21, 22):
            series.upsert(series_item(k))
        series.delete("4")
        series.upsert(series_item(5, name="Class 5 (new time)", eventSchedule=[]))
        for k in range(40, 44):
            sessions.upsert(session_item(k, 5, start=f"2024-03-0{k - 39}T18:00:00Z"))
        sessions.delete("s3")
        sessions.upsert(session_item(44, 30))  # its series arrives next night
    if n == 2:
        series.upsert(series_item(30))
        series.upsert(series_item(6, name="Class 6 renamed"))
        series.upsert(series_item(6, name="Class 6 renamed again"))
        series.delete("21")
        sessions.delete("s1")


@pytest.mark.slow  # 4.5 s: several harvests of the real RPDE pages
def test_incremental_nights_equal_a_full_reread(tmp_path, fixtures_dir, server):
    series = RpdeFeed(server, "/series", [series_item(k) for k in range(20)], page_size=7, kind="SessionSeries")
    sessions = RpdeFeed(server, "/sessions", [session_item(k, k % 10, start=f"2024-02-{10 + k % 9:02d}T10:00:00Z")
                                              for k in range(30)], page_size=9, kind="ScheduledSession")
    source = write_sources(tmp_path, fixtures_dir, feeds=[series.url, sessions.url], as_of="2024-01-01")
    incremental = tmp_path / "incremental"
    for n in range(3):
        publisher_changes(series, sessions, n)
        night(source, incremental, f"night{n}")
        fresh = tmp_path / f"fresh{n}"
        night(source, fresh, f"full{n}", full=True)
        assert staging_rows(incremental) == staging_rows(fresh), f"night {n}"
    cur = SourceStore(incremental, SID).current()
    with duckdb.connect(str(cur.path), read_only=True) as con:
        got = sorted(r[0] for r in con.execute("SELECT name FROM staging.service").fetchall())
    expected = sorted([f"Class {k}" for k in range(20) if k not in (4, 5, 6)]
                      + ["Class 5 (new time)", "Class 6 renamed again", "Class 20", "Class 22", "Class 30"])
    assert got == expected


def test_full_reread_retires_records_the_publisher_dropped_silently(tmp_path, fixtures_dir, server):
    feed = RpdeFeed(server, "/series", [series_item(k) for k in range(5)], kind="SessionSeries")
    source = write_sources(tmp_path, fixtures_dir, feeds=[feed.url])
    state_dir = tmp_path / "state"
    night(source, state_dir, "n1")
    del feed.items["2"]  # gone without a tombstone (a publisher's database was rebuilt)
    feed.upsert(series_item(9))
    night(source, state_dir, "n2")
    with duckdb.connect(str(SourceStore(state_dir, SID).current().path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM staging.service WHERE name = 'Class 2'").fetchone()[0] == 1
    night(source, state_dir, "n3", full=True)
    with duckdb.connect(str(SourceStore(state_dir, SID).current().path), read_only=True) as con:
        names = sorted(r[0] for r in con.execute("SELECT name FROM staging.service").fetchall())
    assert names == ["Class 0", "Class 1", "Class 3", "Class 4", "Class 9"]


def catalogue(db):
    with duckdb.connect(str(db), read_only=True) as con:
        services = con.execute("""SELECT s.name, s.description, s.url, s.status, s.minimum_age,
                                         (SELECT string_agg(sc.byday || ' ' || CAST(sc.opens_at AS VARCHAR), ';' ORDER BY 1)
                                          FROM catalogue.schedule sc WHERE sc.service_id = s.id)
                                  FROM catalogue.service s ORDER BY 1""").fetchall()
    return services


@pytest.mark.slow
def test_placecat_run_incremental_catalogue_equals_full_reread(tmp_path, fixtures_dir, server):
    series = RpdeFeed(server, "/series", [series_item(k) for k in range(12)], page_size=5, kind="SessionSeries")
    sessions = RpdeFeed(server, "/sessions", [session_item(k, k % 6) for k in range(12)], page_size=5,
                        kind="ScheduledSession")
    source = write_sources(tmp_path, fixtures_dir, feeds=[series.url, sessions.url], as_of="2024-01-01")
    sources_file = source.sources_file
    # Alongside two ORUK directories, as in a real deployment (and so matching has pairs to merge).
    with open(sources_file, "a") as f:
        for sid in ("leeds-council", "leeds-nhs-directory"):
            f.write(f"  - id: {sid}\n    kind: oruk\n    path: {SAMPLE / 'feeds' / sid}\n    publisher: {sid}\n")
    db_inc, db_full = tmp_path / "inc" / "placecat.duckdb", tmp_path / "full" / "placecat.duckdb"
    for n in range(2):
        publisher_changes(series, sessions, n)
        res = run_nightly(sources_file, db_inc)
        assert res.published, res.error
    res = run_nightly(sources_file, db_full, full_reread=True)
    assert res.published, res.error
    inc, full = catalogue(db_inc), catalogue(db_full)
    assert inc == full
    with duckdb.connect(str(db_inc), read_only=True) as con:
        parents, dangling = con.execute("""
            SELECT count(*), count(*) FILTER (WHERE p.id IS NULL) FROM catalogue.taxonomy_term t
            LEFT JOIN catalogue.taxonomy_term p ON p.id = t.parent_id WHERE t.parent_id IS NOT NULL""").fetchone()
    assert parents > 0 and dangling == 0    # broader activities are republished with the terms that point at them
    classes = [row for row in inc if row[0].startswith("Class ")]
    assert len(classes) == 14  # 12 + 20, 21, 22 - 4 (5 renamed in place)
    assert json.dumps(inc, default=str).count("Class 5 (new time)") == 1
