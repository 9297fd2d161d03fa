"""An ORUK feed's version comes from evidence, not from one answer: the root, the pages' own shape,
and the version of the last good harvest (kept once seen). A change of version, an HTML root, or a
root that contradicts the pages is a `degraded` night, never a silent re-map.

The report: an HTML page with status 200 on the root of a v3 API had it read as v1; schedules
19 -> 0, addresses 15 -> 0, taxonomy 19 -> 0, status ok, published. Real loopback servers here.
"""
from __future__ import annotations

import duckdb
import pytest
import yaml

from connectors.config import load_sources
from connectors.refresh import harvest_source, normalise_source
from tests.support.faultyserver import FaultyServer, Reply
from tests.support.orukfeeds import OrukFeed, generated_v3_services
from warehouse.snapshots import SourceStore

HTML = "<!DOCTYPE html><html><body><h1>Welcome to our directory API</h1></body></html>"
V1_SHAPED = [{"id": f"v1-{i}", "name": f"Service {i}", "regular_schedules": [], "service_taxonomys": []}
             for i in range(19)]


def source_for(tmp_path, url, **options):
    doc = {"sources": [{"id": "feed", "kind": "oruk", "url": url, "publisher": "P", **options}]}
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump(doc))
    return load_sources(tmp_path / "sources.yaml").sources[0]


def refresh(source, state, run_id, full_reread=False):
    rep = harvest_source(source, state, run_id, full_reread=full_reread)
    return normalise_source(source, state, rep.version, run_id) if rep.status == "ok" else rep


def staging_counts(state) -> dict[str, int]:
    cur = SourceStore(state, "feed").current()
    with duckdb.connect(str(cur.path), read_only=True) as con:
        return {t: con.execute(f"SELECT count(*) FROM staging.{t}").fetchone()[0]
                for t in ("service", "schedule", "address", "attribute")}


@pytest.fixture
def v3_feed_harvested(tmp_path):
    """A v3 API harvested once (its version is now known), still being served."""
    feed = OrukFeed(generated_v3_services(19, seed=9), etag=False)
    with FaultyServer() as srv:
        feed.install(srv)
        source = source_for(tmp_path, srv.url)
        first = refresh(source, tmp_path / "state", "r1")
        assert first.status == "ok", first.message
        yield srv, feed, source, tmp_path / "state", staging_counts(tmp_path / "state")


@pytest.mark.integration
def test_an_html_root_leaves_the_v3_data_intact_and_the_night_degraded(v3_feed_harvested):
    srv, feed, source, state, before = v3_feed_harvested
    assert before["schedule"] == 19 and before["address"] == 19 and before["attribute"] == 19
    srv.route("/", Reply.raw(HTML, 200, "text/html"))
    feed.services[0]["name"] = "Renamed"  # so the harvest is a new one, not `unchanged`
    rep = refresh(source, state, "r2")
    assert rep.status == "degraded", rep.message
    assert "GET / served an HTML page" in rep.message and "read as ORUK v3, as at the last good harvest" in rep.message
    assert staging_counts(state) == before  # read as v3: nothing re-mapped, nothing lost
    assert SourceStore(state, "feed").read_status()["status"] == "degraded"


@pytest.mark.integration
def test_a_root_that_now_says_v1_keeps_the_last_good_snapshot(v3_feed_harvested):
    srv, feed, source, state, before = v3_feed_harvested
    kept = SourceStore(state, "feed").current().version
    srv.route("/", Reply.json({"version": "1.0"}))
    feed.services[0]["name"] = "Renamed"
    rep = refresh(source, state, "r2")
    assert rep.status == "degraded"
    assert "GET / says v1, but this source was ORUK v3 at its last good harvest" in rep.message
    assert "pin `version: 1`" in rep.message and "keeping the snapshot of" in rep.message
    assert SourceStore(state, "feed").current().version == kept and staging_counts(state) == before


@pytest.mark.integration
def test_a_root_that_contradicts_the_pages_is_not_believed(v3_feed_harvested):
    srv, feed, source, state, before = v3_feed_harvested
    kept = SourceStore(state, "feed").current().version
    feed.services = [dict(s) for s in V1_SHAPED]  # still says v3 at /, but the pages are v1 services
    rep = refresh(source, state, "r2")
    assert rep.status == "degraded"
    assert rep.message.startswith("the pages hold ORUK v1 services, but the feed was read as v3")
    assert SourceStore(state, "feed").current().version == kept and staging_counts(state) == before


@pytest.mark.integration
def test_a_full_reread_keeps_the_version_it_knew(v3_feed_harvested):
    srv, feed, source, state, before = v3_feed_harvested
    srv.route("/", Reply.raw(HTML, 200, "text/html"))
    rep = refresh(source, state, "r2", full_reread=True)
    assert rep.status == "degraded" and staging_counts(state) == before


@pytest.mark.integration
def test_a_new_source_with_an_html_root_is_read_as_its_services_show_and_flagged(tmp_path):
    feed = OrukFeed(generated_v3_services(5, seed=2), etag=False)
    with FaultyServer() as srv:
        feed.install(srv)
        srv.route("/", Reply.raw(HTML, 200, "text/html"))
        rep = refresh(source_for(tmp_path, srv.url), tmp_path / "state", "r1")
        assert rep.status == "degraded" and "but its services are ORUK v3: read as v3; pin `version: 3`" in rep.message
        assert staging_counts(tmp_path / "state")["schedule"] == 5  # v3, not re-mapped as v1
        pinned = refresh(source_for(tmp_path, srv.url, version=3), tmp_path / "state", "r2", full_reread=True)
        assert pinned.status == "ok" and staging_counts(tmp_path / "state")["schedule"] == 5
