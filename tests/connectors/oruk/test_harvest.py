"""ORUK harvesting over HTTP against the faulty loopback server: paging, guards, faults, state."""
from __future__ import annotations

import json

import duckdb
import pytest
import yaml

from connectors.config import load_sources
from connectors.refresh import harvest_source, normalise_source
from tests.support.faultyserver import FaultyServer, Reply
from tests.support.orukfeeds import OrukFeed, bristol_feed, generated_v3_services
from warehouse.snapshots import SourceStore


def make_source(tmp_path, url, **options):
    doc = {"sources": [{"id": "feed", "kind": "oruk", "url": url, "publisher": "Test council", **options}]}
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_sources(path).sources[0]


def harvest_and_normalise(source, state_dir, run_id="r1"):
    rep = harvest_source(source, state_dir, run_id)
    if rep.status == "ok":
        rep = normalise_source(source, state_dir, rep.version, run_id)
    return rep


def current_snapshot(state_dir):
    cur = SourceStore(state_dir, "feed").current()
    assert cur is not None
    return duckdb.connect(str(cur.path), read_only=True)


def staging_service_ids(state_dir):
    with current_snapshot(state_dir) as con:
        return {r[0] for r in con.execute("SELECT source_record_id FROM staging.service").fetchall()}


def raw_types(state_dir):
    with current_snapshot(state_dir) as con:
        return dict(con.execute("SELECT record_type, count(*) FROM raw.record GROUP BY 1").fetchall())


# -- the real Bristol v1 page -------------------------------------------------------------------
def test_bristol_v1_page_with_faults_lands_all_50_services_with_canonical_esd_terms(tmp_path, fixtures_dir):
    feed = bristol_feed(fixtures_dir)
    with FaultyServer() as srv:
        feed.install(srv)
        srv.fault("/services", "status", code=500, times=2)
        srv.fault("/services", "drop", times=1)
        srv.fault("/services/*", "truncate", times=3)
        srv.fault("/services/*", "html200", times=2)
        srv.fault("/services/*", "bom", times=5)
        srv.fault("/services/*", "wrong_type", times=5)
        srv.fault("/services/*", "control_chars", times=5)
        srv.fault("/services/*", "status", code=503, times=3)
        source = make_source(tmp_path, srv.url, concurrency=4)
        rep = harvest_and_normalise(source, tmp_path / "state")
        assert rep.status == "ok", rep.message
        user_agents = {h.get("User-Agent") for _, _, h in srv.log}
        assert srv.count("/services/*") >= 50  # every list item lacked nested objects
    expected = {s["id"] for s in feed.services}
    assert len(expected) == 50
    assert staging_service_ids(tmp_path / "state") == expected
    assert raw_types(tmp_path / "state") == {"service_v1": 50}
    assert all(ua and ua.startswith("placecat/") for ua in user_agents)
    with current_snapshot(tmp_path / "state") as con:
        terms = con.execute("""SELECT DISTINCT t.term_uri, t.term, t.taxonomy FROM staging.attribute a
                               JOIN staging.taxonomy_term t ON t.id = a.taxonomy_term_id
                               WHERE t.taxonomy = 'esdServiceTypes'""").fetchall()
        linked = con.execute("""SELECT count(DISTINCT a.link_id) FROM staging.attribute a
                                JOIN staging.taxonomy_term t ON t.id = a.taxonomy_term_id
                                WHERE t.taxonomy = 'esdServiceTypes'""").fetchone()[0]
        emails = con.execute("SELECT count(*) FROM staging.service WHERE assurer_email LIKE '%@%'").fetchone()[0]
        byday = {r[0] for r in con.execute("SELECT DISTINCT byday FROM staging.schedule").fetchall()}
        uprn = con.execute("SELECT count(*) FROM staging.location WHERE external_identifier_type = 'UPRN'").fetchone()[0]
        pounds = con.execute("SELECT count(*) FROM staging.service WHERE description LIKE '%Â£%'").fetchone()[0]
    # Four spellings of each esd id were served; each is one canonical term.
    assert terms and all(uri == f"http://id.esd.org.uk/service/{code}" for uri, code, _ in terms)
    assert len({uri for uri, _, _ in terms}) == len(terms)
    assert linked == 50
    assert emails == 50  # the assurer e-mails stay in staging (the quality work holds them back)
    assert byday == {"MO", "WE"}
    assert uprn == 50
    assert pounds == 0


def test_bristol_list_only_without_detail_fetch_still_lands_50(tmp_path, fixtures_dir):
    with FaultyServer() as srv:
        bristol_feed(fixtures_dir).install(srv)
        rep = harvest_and_normalise(make_source(tmp_path, srv.url, detail_fetch=False), tmp_path / "state")
        assert rep.status == "ok", rep.message
        assert srv.count("/services/*") == 0
    assert len(staging_service_ids(tmp_path / "state")) == 50


# -- paging guards --------------------------------------------------------------------------------
@pytest.mark.parametrize("switches, per_page", [
    ({}, 10),
    ({"ignore_per_page": True, "served_page_size": 7}, 10),
    ({"total_pages_offset": -2}, 10),            # total_pages too small: read on
    ({"total_pages_offset": 3}, 10),             # too large: trailing empty pages
    ({"empty_pages": set()}, 100),               # one page holds everything
])
def test_paging_variants_harvest_every_service(tmp_path, switches, per_page):
    services = generated_v3_services(95, seed=1)
    with FaultyServer() as srv:
        OrukFeed(services, **switches).install(srv)
        rep = harvest_and_normalise(make_source(tmp_path, srv.url, per_page=per_page), tmp_path / "state")
        assert rep.status == "ok", rep.message
    assert staging_service_ids(tmp_path / "state") == {s["id"] for s in services}
    assert raw_types(tmp_path / "state") == {"service": 95}


def test_empty_page_part_way_is_read_past_and_reported(tmp_path):
    services = generated_v3_services(50, seed=2)
    with FaultyServer() as srv:
        OrukFeed(services, empty_pages={2}).install(srv)
        source = make_source(tmp_path, srv.url, per_page=10)
        rep = harvest_source(source, tmp_path / "state", "r1")
    assert rep.status == "ok"
    assert "page 2 was empty part-way" in " ".join(rep.stats["warnings"])
    assert rep.records_in == 40  # the empty page's services were never served


def test_server_returning_page_one_for_every_page_is_partial(tmp_path):
    with FaultyServer() as srv:
        OrukFeed(generated_v3_services(50, seed=3), page_one_always=True).install(srv)
        rep = harvest_source(make_source(tmp_path, srv.url, per_page=10), tmp_path / "state", "r1")
    assert rep.status == "failed" or rep.status == "degraded"
    assert "page 1 for every page" in rep.message


def test_repeated_pages_loop_stops_when_total_pages_is_unknown(tmp_path):
    services = generated_v3_services(30, seed=4)
    feed = OrukFeed(services, repeat_pages={4: 2, 5: 3, 6: 2}, total_pages_offset=-10)
    with FaultyServer() as srv:
        feed.install(srv)
        rep = harvest_source(make_source(tmp_path, srv.url, per_page=10), tmp_path / "state", "r1")
        assert srv.count("/services") < 10
    assert rep.status == "ok"
    assert rep.records_in == 30
    assert "repeats" in " ".join(rep.stats["warnings"])


def test_page_limit_makes_the_harvest_partial(tmp_path):
    with FaultyServer() as srv:
        OrukFeed(generated_v3_services(60, seed=5)).install(srv)
        rep = harvest_source(make_source(tmp_path, srv.url, per_page=10, max_pages=3), tmp_path / "state", "r1")
    assert rep.status in ("degraded", "failed")
    assert "max_pages is 3" in rep.message


def test_list_items_without_nested_objects_are_completed_from_details(tmp_path):
    services = generated_v3_services(25, seed=6)
    with FaultyServer() as srv:
        OrukFeed(services, strip_nested=True).install(srv)
        rep = harvest_and_normalise(make_source(tmp_path, srv.url, per_page=10), tmp_path / "state")
        assert rep.status == "ok", rep.message
        assert srv.count("/services/*") == 25
    with current_snapshot(tmp_path / "state") as con:
        assert con.execute("SELECT count(*) FROM staging.service_at_location").fetchone()[0] == 25
        assert con.execute("SELECT count(*) FROM staging.schedule").fetchone()[0] == 25


# -- faults ---------------------------------------------------------------------------------------
def test_transport_faults_are_survived(tmp_path):
    services = generated_v3_services(40, seed=7)
    with FaultyServer() as srv:
        OrukFeed(services).install(srv)
        srv.fault("/services", "retry_after", seconds=1, times=1)
        srv.fault("/services", "status", code=502, times=2, after=1)
        srv.fault("/services", "html200", times=1)
        srv.fault("/services", "truncate", times=1)
        srv.fault("/services", "bom", times=2)
        srv.fault("/services", "control_chars", times=2)
        srv.fault("/services", "drop", times=1)
        srv.fault("/services", "delay", seconds=0.2, times=2)
        rep = harvest_and_normalise(make_source(tmp_path, srv.url, per_page=10), tmp_path / "state")
    assert rep.status == "ok", rep.message
    assert staging_service_ids(tmp_path / "state") == {s["id"] for s in services}


def test_a_page_that_fails_for_good_keeps_the_last_good_snapshot(tmp_path):
    services = generated_v3_services(100, seed=8)
    feed = OrukFeed(services)
    with FaultyServer() as srv:
        feed.install(srv)
        source = make_source(tmp_path, srv.url, per_page=10)
        first = harvest_and_normalise(source, tmp_path / "state")
        assert first.status == "ok"
        feed.services = generated_v3_services(100, seed=9)  # the feed changes ...
        srv.fault("/services?page=7&*", "status", code=404, times=-1)  # ... and page 7 is gone
        rep = harvest_source(source, tmp_path / "state", "r2")
    assert rep.status == "degraded"
    assert "page 7 of 10" in rep.message and "HTTP 404" in rep.message
    assert "keeping the snapshot of " + first.version in rep.message
    assert SourceStore(tmp_path / "state", "feed").current().version == first.version
    assert staging_service_ids(tmp_path / "state") == {s["id"] for s in services}
    assert SourceStore(tmp_path / "state", "feed").read_status()["status"] == "degraded"


def test_unreachable_feed_fails_with_the_url(tmp_path):
    srv = FaultyServer()
    url = srv.url
    srv.httpd.server_close()
    rep = harvest_source(make_source(tmp_path, url, time_budget=2), tmp_path / "state", "r1")
    assert rep.status == "failed"
    assert url in rep.message


# -- version detection ------------------------------------------------------------------------------
@pytest.mark.parametrize("root, pinned, expected", [
    ({"version": "HSDS-UK-3.0"}, None, "service"),
    ({"version": "3.0"}, None, "service"),
    ({"version": "V3"}, None, "service"),
    ({"openapi_url": "https://example.org/openapi.json"}, None, "service"),
    # A root that names no version (or answers 404) weakly says v1; the services on the pages are
    # v3, and for a new source their shape decides (they were read as v1 before: a silent re-map).
    ({"name": "a v1 API"}, None, "service"),
    (None, None, "service"),
    (None, 3, "service"),
    ({"version": "HSDS-UK-3.0"}, 1, "service_v1"),  # pinned: the source file wins
])
def test_version_detection(tmp_path, root, pinned, expected):
    services = generated_v3_services(3, seed=10)
    feed = OrukFeed(services, version="3", root=root)
    options = {"version": pinned} if pinned else {}
    with FaultyServer() as srv:
        feed.install(srv)
        rep = harvest_source(make_source(tmp_path, srv.url, **options), tmp_path / "state", "r1")
        assert rep.status == "ok", rep.message
        normalise_source(make_source(tmp_path, srv.url, **options), tmp_path / "state", rep.version, "r1")
    assert raw_types(tmp_path / "state") == {expected: 3}


# -- unchanged feeds and conditional GETs -------------------------------------------------------------
def test_unchanged_feed_keeps_the_snapshot_and_uses_conditional_gets(tmp_path):
    services = generated_v3_services(30, seed=11)
    feed = OrukFeed(services)
    with FaultyServer() as srv:
        feed.install(srv)
        source = make_source(tmp_path, srv.url, per_page=10)
        first = harvest_and_normalise(source, tmp_path / "state")
        assert first.status == "ok"
        n_before = len(srv.log)
        second = harvest_source(source, tmp_path / "state", "r2")
        conditional = [h for p, _, h in srv.log[n_before:] if p == "/services"]
        assert second.status == "unchanged", second.message
        assert conditional and all("If-None-Match" in h for h in conditional)
        feed.services = services[:29] + [{**services[29], "name": "Renamed service"}]
        third = harvest_and_normalise(source, tmp_path / "state", "r3")
        assert third.status == "ok"
    with current_snapshot(tmp_path / "state") as con:
        assert con.execute("SELECT count(*) FROM staging.service WHERE name = 'Renamed service'").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM staging.service").fetchone()[0] == 30


def test_unchanged_by_page_hash_without_etags(tmp_path):
    feed = OrukFeed(generated_v3_services(20, seed=12), etag=False)
    with FaultyServer() as srv:
        feed.install(srv)
        source = make_source(tmp_path, srv.url, per_page=10)
        assert harvest_and_normalise(source, tmp_path / "state").status == "ok"
        assert harvest_source(source, tmp_path / "state", "r2").status == "unchanged"


def test_state_holds_page_hashes_and_validators(tmp_path):
    with FaultyServer() as srv:
        OrukFeed(generated_v3_services(20, seed=13)).install(srv)
        source = make_source(tmp_path, srv.url, per_page=10)
        harvest_and_normalise(source, tmp_path / "state")
    state = SourceStore(tmp_path / "state", "feed").harvest_state()
    assert state["version"] == "3"
    assert set(state["page_hashes"]) >= {"1", "2"}
    assert state["validators"]["1"]["etag"].startswith('"')


def test_local_files_still_work_and_detect_v1(tmp_path, fixtures_dir):
    page = fixtures_dir / "oruk" / "v1" / "bristol_openplace_v1_services_page1.json"
    doc = {"sources": [{"id": "feed", "kind": "oruk", "path": str(page), "publisher": "Bristol"}]}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(doc))
    source = load_sources(tmp_path / "s.yaml").sources[0]
    rep = harvest_and_normalise(source, tmp_path / "state")
    assert rep.status == "ok"
    assert raw_types(tmp_path / "state") == {"service_v1": 50}


def test_server_serving_html_at_every_page_fails_with_a_clear_reason(tmp_path):
    with FaultyServer() as srv:
        srv.route("/services", Reply.raw("<!DOCTYPE html><html><body>Login</body></html>", 200, "text/html"))
        rep = harvest_source(make_source(tmp_path, srv.url, version=3), tmp_path / "state", "r1")
    assert rep.status == "failed"
    assert "HTML page instead of JSON" in rep.message
    assert json.dumps(rep.message).count("\\n") == 0


# -- streaming: raw records go to the snapshot as pages arrive ----------------------------------------
def test_raw_records_are_written_in_batches_while_pages_are_still_being_fetched(tmp_path):
    from connectors.http import HttpClient, HttpPolicy
    from connectors.oruk.paging import harvest_http

    services = generated_v3_services(300, seed=21)
    feed = OrukFeed(services, etag=False)
    store = SourceStore(tmp_path / "state", "feed")
    writer = store.begin()
    writer.raw_batch = 10
    flushed_at_request: dict[int, int] = {}
    with FaultyServer() as srv:
        feed.install(srv)

        def services_page(query, headers):
            flushed_at_request[int(query["page"])] = writer.raw_flushes  # what was in DuckDB by then
            return feed.serve_services(query, headers)

        srv.route("/services", services_page)
        source = make_source(tmp_path, srv.url, per_page=10, concurrency=2)
        with HttpClient(HttpPolicy.from_source(source)) as client:
            outcome = harvest_http(source, writer, {}, client)
    assert outcome.status == "complete", outcome.message
    assert sorted(flushed_at_request) == list(range(1, 31))
    # Page 30 was only asked for once most of the feed had been written, batch by batch: the
    # harvest never held the whole feed before writing it.
    assert flushed_at_request[30] >= 15
    assert writer.raw_count() == 300
    with_ids = {r[0] for r in writer.con.execute("SELECT record_id FROM raw.record").fetchall()}
    assert with_ids == {s["id"] for s in services}
    writer.abandon()


def test_unchanged_feed_with_detail_fetches_asks_for_no_details(tmp_path):
    feed = OrukFeed(generated_v3_services(30, seed=22), strip_nested=True, etag=False)
    with FaultyServer() as srv:
        feed.install(srv)
        source = make_source(tmp_path, srv.url, per_page=10)
        assert harvest_and_normalise(source, tmp_path / "state").status == "ok"
        details_before = srv.count("/services/*")
        assert details_before == 30
        rep = harvest_source(source, tmp_path / "state", "r2")
        assert rep.status == "unchanged", rep.message
        assert srv.count("/services/*") == details_before  # no page changed, so no detail was fetched


def test_changed_last_page_with_detail_fetches_rereads_the_pages_held_back(tmp_path):
    services = generated_v3_services(30, seed=23)
    feed = OrukFeed(services, strip_nested=True, etag=False)
    with FaultyServer() as srv:
        feed.install(srv)
        source = make_source(tmp_path, srv.url, per_page=10)
        assert harvest_and_normalise(source, tmp_path / "state").status == "ok"
        feed.services = services[:29] + [{**services[29], "name": "Renamed service"}]
        rep = harvest_and_normalise(source, tmp_path / "state", "r2")
        assert rep.status == "ok", rep.message
    assert staging_service_ids(tmp_path / "state") == {s["id"] for s in services}
    with current_snapshot(tmp_path / "state") as con:
        assert con.execute("SELECT count(*) FROM staging.service WHERE name = 'Renamed service'").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM staging.schedule").fetchone()[0] == 30  # details merged


def test_services_are_stored_as_served_and_hashed_like_before(tmp_path):
    import hashlib

    services = generated_v3_services(12, seed=24)
    with FaultyServer() as srv:
        OrukFeed(services, etag=False).install(srv)
        assert harvest_and_normalise(make_source(tmp_path, srv.url, per_page=5), tmp_path / "state").status == "ok"
    with current_snapshot(tmp_path / "state") as con:
        rows = con.execute("SELECT record_id, payload, content_hash FROM raw.record").fetchall()
    by_id = {s["id"]: s for s in services}
    assert len(rows) == 12
    for rid, payload, content_hash in rows:
        assert json.loads(payload) == by_id[rid]
        assert content_hash == hashlib.md5(payload.encode("utf-8")).hexdigest()
