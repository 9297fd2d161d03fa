"""Harvesting RPDE feeds from a real HTTP server on 127.0.0.1: paging, incremental runs, faults.

The feeds are the real 2020 captures (Everyone Active, change-number ordering; Active Newham,
timestamp ordering) split into linked pages, the real single items, and generated feeds with
tombstones, late updates and orphan sessions. Everything goes through ``harvest_source`` and
``normalise_source`` into real snapshot files, as a nightly run does.
"""
import json

import duckdb
import pytest

from connectors import openactive
from connectors.config import ConfigError, load_sources
from connectors.refresh import harvest_source, normalise_source
from tests.support.faultyserver import FaultyServer, Reply
from tests.support.openactive_items import SID, series_item, session_item, write_sources
from tests.support.rpdeserver import RpdeFeed, dataset_site_html
from warehouse.snapshots import SourceStore


@pytest.fixture
def server():
    with FaultyServer() as srv:
        yield srv


@pytest.fixture
def fast_end_poll(monkeypatch):
    """Runs in these tests follow each other within seconds; the 8 s rule has its own test."""
    monkeypatch.setattr(openactive, "END_POLL_SECONDS", 0.0)


def run(source, state_dir, run_id="r1", full_reread=False):
    rep = harvest_source(source, state_dir, run_id, full_reread=full_reread)
    if rep.status == "ok":
        rep = normalise_source(source, state_dir, rep.version, run_id)
        assert rep.status == "ok", rep.message
    return rep


def snapshot_query(state_dir, sql, sid=SID):
    cur = SourceStore(state_dir, sid).current()
    with duckdb.connect(str(cur.path), read_only=True) as con:
        return con.execute(sql).fetchall()


def harvest_state(state_dir, sid=SID):
    return SourceStore(state_dir, sid).harvest_state()


def service_names(state_dir):
    return sorted(r[0] for r in snapshot_query(state_dir, "SELECT name FROM staging.service"))


# -- the real 2020 pages, split into linked pages ------------------------------------------------------
def test_real_pages_split_into_linked_pages_both_orderings(tmp_path, fixtures_dir, server):
    pages = fixtures_dir / "openactive" / "rpde-pages"
    ea = json.loads((pages / "everyoneactive-sessions-afterChangeNumber-2020-01-06.json").read_text())
    nh = json.loads((pages / "activenewham-sessions-afterTimestamp-2020-01-02.json").read_text())
    RpdeFeed(server, "/ea/sessions", ea["items"], ordering="changeNumber", page_size=120)
    RpdeFeed(server, "/newham/", nh["items"], ordering="timestamp", page_size=50, relative_next=True)
    source = write_sources(tmp_path, fixtures_dir, feeds=[server.url + "/ea/sessions", server.url + "/newham/"])
    rep = run(source, tmp_path / "state")
    assert rep.status == "ok"
    live = {it["id"] for it in ea["items"] + nh["items"] if it["state"] == "updated"}
    raw = snapshot_query(tmp_path / "state", "SELECT record_id, record_type FROM raw.record")
    assert {r[0].split("/", 1)[1] for r in raw} == live
    assert {r[1] for r in raw} == {"Event"}
    state = harvest_state(tmp_path / "state")["feeds"]
    assert state[server.url + "/ea/sessions"]["ordering"] == "changeNumber"
    assert state[server.url + "/newham/"]["ordering"] == "timestamp"
    assert state[server.url + "/ea/sessions"]["items"] == 500 and state[server.url + "/newham/"]["items"] == 269
    # 500 items in pages of 120 = 5 pages, then the empty last page; 269 in 50s = 6 + 1.
    assert server.count("/ea/sessions") == 6 and server.count("/newham/") == 7
    assert state[server.url + "/ea/sessions"]["next"].endswith("afterChangeNumber=287950976")
    services = snapshot_query(tmp_path / "state", "SELECT count(*) FROM staging.service")[0][0]
    assert services == len(live)


def test_real_single_items_series_paired_with_sessions(tmp_path, fixtures_dir, server):
    items_dir = fixtures_dir / "openactive" / "items"
    series, sessions = [], []
    for name in ("sessionseries-playwaze-badmintonengland.json", "sessionseries-nottingham-leisurecloud-partialschedule.json"):
        it = json.loads((items_dir / name).read_text())
        it.setdefault("id", it["data"].get("identifier"))
        it.setdefault("modified", 10)
        it.setdefault("state", "updated")
        series.append(it)
    for name in ("scheduledsession-playwaze-references-superevent.json", "scheduledsession-nottingham-leisurecloud.json"):
        it = json.loads((items_dir / name).read_text())
        it.setdefault("id", it["data"].get("identifier"))
        it.setdefault("modified", 20)
        sessions.append(it)
    sessions += json.loads((items_dir / "scheduledsessions-activeleeds-leisurecloud-2024.json").read_text())
    RpdeFeed(server, "/session-series", series, page_size=1, kind="SessionSeries")
    RpdeFeed(server, "/scheduled-sessions", sessions, page_size=2, kind="ScheduledSession")
    server.route("/", Reply.raw(dataset_site_html("Test sessions", [
        {"name": "SessionSeries", "additionalType": "https://openactive.io/SessionSeries", "contentUrl": server.url + "/session-series"},
        {"name": "ScheduledSession", "additionalType": "https://openactive.io/ScheduledSession", "contentUrl": server.url + "/scheduled-sessions"},
    ]), content_type="text/html"))
    source = write_sources(tmp_path, fixtures_dir, url=server.url + "/")
    assert run(source, tmp_path / "state").status == "ok"
    assert service_names(tmp_path / "state") == ["No Strings Badminton and coaching Sessions - Thursday evenings 19:00 - 23:00",
                                                 "Shadow Box Fit"]
    kinds = dict(snapshot_query(tmp_path / "state", "SELECT record_type, count(*) FROM raw.record GROUP BY 1"))
    assert kinds == {"SessionSeries": 2, "ScheduledSession": 4}
    issues = snapshot_query(tmp_path / "state", "SELECT rule, record_id FROM quality.issue WHERE rule = 'orphan_session'")
    assert len(issues) == 2  # the two Active Leeds sessions: their series is not in this feed


# -- generated feeds: tombstones, late updates, repeats -------------------------------------------------
def test_tombstones_late_updates_and_highest_modified_wins(tmp_path, fixtures_dir, server):
    big = 2 ** 60
    pages = {
        "": {"items": [series_item(1, modified=str(big + 1)), series_item(2, modified=big + 2),
                       series_item(3, modified=big + 3)], "next": "/f?afterTimestamp=%d&afterId=3" % (big + 3)},
        # An empty page that points elsewhere is legal: keep going.
        "afterTimestamp=%d&afterId=3" % (big + 3): {"items": [], "next": "/f?afterTimestamp=%d&afterId=3&x=1" % (big + 3)},
        "afterTimestamp=%d&afterId=3&x=1" % (big + 3): {"items": [
            series_item(1, modified=big + 10, name="Class 1 renamed"),   # a later update of 1
            series_item(2, modified=big + 1, name="Class 2 STALE"),      # an older copy arriving late
            {"state": "deleted", "kind": "SessionSeries", "id": "3", "modified": str(big + 11)},
            {"state": "deleted", "kind": "SessionSeries", "id": "2", "modified": big},  # older tombstone: ignored
        ], "next": "/f?afterTimestamp=%d&afterId=3&x=2" % (big + 11)},
        "afterTimestamp=%d&afterId=3&x=2" % (big + 11): {"items": [], "next": "/f?afterTimestamp=%d&afterId=3&x=2" % (big + 11)},
    }

    def handler(q, h):
        key = "&".join(f"{k}={v}" for k, v in q.items())
        return Reply.json(pages[key])

    server.route("/f", handler)
    source = write_sources(tmp_path, fixtures_dir, feeds=[server.url + "/f"])
    assert run(source, tmp_path / "state").status == "ok"
    assert service_names(tmp_path / "state") == ["Class 1 renamed", "Class 2"]
    mods = dict(snapshot_query(tmp_path / "state", "SELECT record_id, payload->>'$.modified' FROM raw.record"))
    assert openactive.parse_modified(mods["SessionSeries/1"]) == big + 10  # kept exact, not a float
    assert server.count("/f") == 4


def test_second_run_reads_only_new_pages_and_ends_with_the_right_services(tmp_path, fixtures_dir, server, fast_end_poll):
    feed = RpdeFeed(server, "/series", [series_item(n) for n in range(30)], page_size=10, kind="SessionSeries")
    source = write_sources(tmp_path, fixtures_dir, feeds=[feed.url])
    state_dir = tmp_path / "state"
    assert run(source, state_dir, "r1").status == "ok"
    assert server.count("/series") == 4  # 3 full pages + the empty last page
    first_run_requests = len(server.log)
    for n in (30, 31, 32):
        feed.upsert(series_item(n))
    feed.delete("7")
    assert run(source, state_dir, "r2").status == "ok"
    second = server.log[first_run_requests:]
    # Only the page after the last position (4 changes) and the new empty last page.
    assert len(second) == 2
    assert all("afterTimestamp" in q for _, q, _ in second)
    expected = sorted(f"Class {n}" for n in range(33) if n != 7)
    assert service_names(state_dir) == expected
    assert harvest_state(state_dir)["feeds"][feed.url]["items"] == 30 + 4


def test_orphan_sessions_and_slots_are_issues(tmp_path, fixtures_dir, server):
    RpdeFeed(server, "/series", [series_item(1)], kind="SessionSeries")
    RpdeFeed(server, "/sessions", [session_item(1, 1), session_item(2, 99)], kind="ScheduledSession")
    source = write_sources(tmp_path, fixtures_dir, feeds=[server.url + "/series", server.url + "/sessions"])
    assert run(source, tmp_path / "state").status == "ok"
    assert service_names(tmp_path / "state") == ["Class 1"]
    [(rule, rid, msg)] = snapshot_query(tmp_path / "state",
                                        "SELECT rule, record_id, message FROM quality.issue WHERE rule LIKE 'orphan%'")
    assert rid == "ScheduledSession/s2" and "https://example.org/series/99" in msg


# -- faults --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_transient_faults_are_retried_and_the_harvest_completes(tmp_path, fixtures_dir, server):
    feed = RpdeFeed(server, "/series", [series_item(n) for n in range(25)], page_size=5)
    feed.empty_hops.add(None)
    # One fault per page (items are modified 1..25, pages of 5 end at 5, 10, 15, 20, 25).
    server.fault("/series?hop=1", "status", code=503, times=2)
    server.fault("/series?afterTimestamp=5&*", "retry_after", seconds=1)
    server.fault("/series?afterTimestamp=10&*", "truncate")
    server.fault("/series?afterTimestamp=15&*", "html200")
    server.fault("/series?afterTimestamp=20&*", "drop")
    server.fault("/series?afterTimestamp=25&*", "bom")
    source = write_sources(tmp_path, fixtures_dir, feeds=[feed.url])
    rep = run(source, tmp_path / "state")
    assert rep.status == "ok"
    assert service_names(tmp_path / "state") == sorted(f"Class {n}" for n in range(25))
    assert all(f.times == 0 for f in server.faults), "every injected fault was met"
    # 5 pages + the legal empty hop + the end page, plus one more request per fault but the BOM.
    assert server.count("/series") == 7 + 6


@pytest.mark.parametrize("code", [404, 410])
def test_gone_feed_stops_reports_the_url_and_keeps_the_last_good_snapshot(tmp_path, fixtures_dir, server, fast_end_poll, code):
    feed = RpdeFeed(server, "/series", [series_item(n) for n in range(12)], page_size=5)
    source = write_sources(tmp_path, fixtures_dir, feeds=[feed.url])
    state_dir = tmp_path / "state"
    assert run(source, state_dir, "r1").status == "ok"
    good = SourceStore(state_dir, SID).current().version
    for n in range(12, 24):
        feed.upsert(series_item(n))
    server.fault("/series", "status", code=code, after=1, times=-1)  # the 2nd page of run 2 is gone
    rep = run(source, state_dir, "r2")
    assert rep.status in ("degraded", "failed")
    assert f"HTTP {code}" in rep.message and feed.url in rep.message and "\n" not in rep.message
    assert SourceStore(state_dir, SID).current().version == good
    assert len(service_names(state_dir)) == 12
    assert server.count("/series") == 4 + 2  # run 1: 3 pages + end; run 2 stopped at the gone page


def test_end_of_feed_is_not_polled_again_within_8_seconds(tmp_path, fixtures_dir, server):
    feed = RpdeFeed(server, "/series", [series_item(n) for n in range(3)], end_cache_seconds=60)
    source = write_sources(tmp_path, fixtures_dir, feeds=[feed.url])
    state_dir = tmp_path / "state"
    assert run(source, state_dir, "r1").status == "ok"
    st = harvest_state(state_dir)["feeds"][feed.url]
    assert st["at_end"] is True and st["polled_at"] > 0 and st["max_age"] == 60
    before = server.count("/series")
    rep = run(source, state_dir, "r2")
    assert rep.status == "unchanged"
    assert server.count("/series") == before


def test_cache_control_max_age_stretches_the_end_poll_interval():
    fstate = {"next": "http://x/f?afterChangeNumber=5", "at_end": True, "polled_at": 1000.0, "max_age": 60}
    feed = openactive.Feed("http://x/f")
    run_ = openactive.harvest_feed(None, None, feed, fstate, max_pages=5, now=1030.0)
    assert run_.polled is False and run_.pages == 0


# -- discovery -----------------------------------------------------------------------------------------
def test_discovery_collection_catalog_dataset_site_feeds(tmp_path, fixtures_dir, server, fast_end_poll):
    RpdeFeed(server, "/feeds/ss", [series_item(1), series_item(2)], kind="SessionSeries")
    RpdeFeed(server, "/feeds/fu", [], kind="FacilityUse")
    # A dataset site with one standard and one non-standard distribution (no additionalType).
    server.route("/site/", Reply.raw(dataset_site_html("Leisure Trust", [
        {"name": "SessionSeries", "additionalType": "https://openactive.io/SessionSeries", "contentUrl": server.url + "/feeds/ss"},
        {"name": "Facility Uses", "contentUrl": server.url + "/feeds/fu"},
        {"name": "Annual report", "contentUrl": server.url + "/report.pdf", "encodingFormat": "application/pdf"},
    ]), content_type="text/html"))
    server.route("/catalog.jsonld", {"@context": "https://schema.org/", "@type": "DataCatalog",
                                     "dataset": [server.url + "/site/", server.url + "/missing-site/"]})
    server.route("/collection.jsonld", {"@context": "https://schema.org/", "@type": "DataCatalog",
                                        "hasPart": [server.url + "/catalog.jsonld"]})
    client = openactive.HttpClient(openactive.HttpPolicy(max_retries=0))
    problems = []
    what, feeds = openactive.discover(client, server.url + "/collection.jsonld", problems)
    assert what == "collection"
    assert [(f.url, f.kind) for f in feeds] == [(server.url + "/feeds/ss", "SessionSeries"),
                                                (server.url + "/feeds/fu", "FacilityUse")]
    assert len(problems) == 1 and "/missing-site/" in problems[0] and "404" in problems[0]
    # The whole source: harvested, but one dataset site of the catalog is gone → partial.
    source = write_sources(tmp_path, fixtures_dir, url=server.url + "/collection.jsonld")
    rep = run(source, tmp_path / "state")
    assert rep.status in ("degraded", "failed") and "/missing-site/" in rep.message


def test_discovery_of_real_dataset_site_pages(fixtures_dir, server):
    disc = fixtures_dir / "openactive" / "discovery"
    server.route("/goodgym", Reply.raw((disc / "dataset-site-goodgym.html").read_bytes(), content_type="text/html"))
    server.route("/ref", Reply.raw((disc / "dataset-site-reference-implementation.html").read_bytes(), content_type="text/html"))
    server.route("/fusion.jsonld", Reply.raw((disc / "dataset-site-template-example.jsonld").read_bytes(),
                                             content_type="application/ld+json"))
    client = openactive.HttpClient(openactive.HttpPolicy(max_retries=0))
    what, feeds = openactive.discover(client, server.url + "/goodgym", [])
    assert what == "dataset" and [(f.url, f.kind) for f in feeds] == [("https://www.goodgym.org/api/openactive/events", "Event")]
    what, feeds = openactive.discover(client, server.url + "/ref", [])
    assert what == "dataset" and feeds and all(f.kind != "unknown" for f in feeds)
    what, feeds = openactive.discover(client, server.url + "/fusion.jsonld", [])
    assert {f.kind for f in feeds} == {"ScheduledSession", "SessionSeries", "Event", "FacilityUse", "Slot", "CourseInstance"}


def test_a_url_that_is_nothing_openactive_fails_with_one_line(tmp_path, fixtures_dir, server):
    server.route("/page", Reply.raw("<!DOCTYPE html><html><body>Welcome</body></html>", content_type="text/html"))
    source = write_sources(tmp_path, fixtures_dir, url=server.url + "/page")
    rep = run(source, tmp_path / "state")
    assert rep.status == "failed" and "JSON-LD Dataset" in rep.message and server.url + "/page" in rep.message
    assert "\n" not in rep.message


def test_feed_kind_from_additional_type_or_name():
    assert openactive.feed_kind("https://openactive.io/SessionSeries", "whatever") == "SessionSeries"
    assert openactive.feed_kind(None, "Session Series") == "SessionSeries"
    assert openactive.feed_kind(None, "Slot for FacilityUse") == "Slot"
    assert openactive.feed_kind(None, "scheduled-sessions") == "ScheduledSession"
    assert openactive.feed_kind("https://schema.org/Event") == "Event"


def test_modified_up_to_2_pow_60_as_number_or_string():
    assert openactive.parse_modified(2 ** 60) == 2 ** 60
    assert openactive.parse_modified(str(2 ** 60 + 1)) == 2 ** 60 + 1
    assert openactive.parse_modified("not a number") is None
    assert openactive.parse_modified(True) is None


def test_max_pages_stops_and_the_next_run_continues(tmp_path, fixtures_dir, server, fast_end_poll):
    feed = RpdeFeed(server, "/series", [series_item(n) for n in range(20)], page_size=5)
    source = write_sources(tmp_path, fixtures_dir, feeds=[feed.url], max_pages=3)
    state_dir = tmp_path / "state"
    rep = harvest_source(source, state_dir, "r1")
    assert rep.status == "ok" and "continue next run" in rep.message
    normalise_source(source, state_dir, rep.version, "r1")
    assert len(service_names(state_dir)) == 15
    assert run(source, state_dir, "r2").status == "ok"
    assert len(service_names(state_dir)) == 20 and harvest_state(state_dir)["feeds"][feed.url]["at_end"] is True
    assert server.count("/series") == 3 + 2  # no page read twice


@pytest.mark.parametrize("feeds", ["https://example.org/feed", ["not a url"], []])
def test_bad_feeds_field_is_one_line_at_load_time(tmp_path, feeds):
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n  - id: oa\n    kind: openactive\n    publisher: P\n"
                    f"    url: https://example.org/\n    feeds: {json.dumps(feeds)}\n")
    with pytest.raises(ConfigError) as err:
        load_sources(path)
    msg = str(err.value)
    assert "\n" not in msg and "field 'feeds'" in msg and str(path) in msg


def test_activity_list_from_a_url_is_fetched_once_and_cached(tmp_path, fixtures_dir, server, monkeypatch):
    from connectors.openactive import activities

    monkeypatch.setenv("PLACECAT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(activities, "_ACTIVITY_CACHE", {})
    body = (fixtures_dir / "openactive" / "vocabularies" / "activity-list.jsonld").read_bytes()
    server.route("/activity-list.jsonld", Reply.raw(body, content_type="application/ld+json"))
    feed = RpdeFeed(server, "/series", [series_item(1)])
    source = write_sources(tmp_path, fixtures_dir, feeds=[feed.url], activity_list=server.url + "/activity-list.jsonld")
    assert run(source, tmp_path / "state").status == "ok"
    assert server.count("/activity-list.jsonld") == 1
    assert list((tmp_path / "cache").glob("activity-list-*.jsonld"))
    monkeypatch.setattr(activities, "_ACTIVITY_CACHE", {})  # a new process: the disk copy serves
    server.stop()
    rows = openactive.StagingRows(SID)
    assert len(openactive.activity_list_for(source, rows)) == 768 and rows.issues == []
