"""The whole nightly job with an ORUK feed on the loopback server: a server killed part-way through a
harvest leaves the previous snapshot in force, the run carries on, and ops.source_status says why."""
from __future__ import annotations

import duckdb
import pytest
import yaml

from pipelines.nightly_run import run_nightly
from tests.support.environment import SAMPLE, SAMPLE_SOURCES
from tests.support.faultyserver import FaultyServer
from tests.support.orukfeeds import OrukFeed, generated_v3_services


def write_sources(tmp_path, url):
    """The loopback feed beside the demo's three Leeds directories (local files, which overlap)."""
    sample = yaml.safe_load(SAMPLE_SOURCES.read_text())["sources"]
    for entry in sample:
        entry["path"] = str(SAMPLE / entry["path"])
    doc = {"sources": [
        {"id": "loopback-council", "kind": "oruk", "url": url, "publisher": "Loopback Council", "role": "owner",
         "per_page": 10, "time_budget": 4},
        *sample,
    ]}
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def source_status(db, run_id):
    with duckdb.connect(str(db), read_only=True) as con:
        return {r[0]: r[1:] for r in con.execute(
            "SELECT source_id, status, message, snapshot_version FROM ops.source_status WHERE run_id = ?",
            [run_id]).fetchall()}


def loopback_records(db):
    with duckdb.connect(str(db), read_only=True) as con:
        return {r[0] for r in con.execute("SELECT source_record_id FROM catalogue.service_source "
                                          "WHERE source_id = 'loopback-council'").fetchall()}


@pytest.mark.slow
def test_server_killed_part_way_keeps_the_previous_snapshot(tmp_path):
    first_services = generated_v3_services(100, seed=21)
    feed = OrukFeed(first_services)
    db = tmp_path / "out" / "placecat.duckdb"
    with FaultyServer() as srv:
        feed.install(srv)
        sources = write_sources(tmp_path, srv.url)
        first = run_nightly(sources, db)
        assert first.published, first.error
        status1 = source_status(db, first.run_id)
        assert status1["loopback-council"][0] == "ok"
        assert loopback_records(db) == {s["id"] for s in first_services}

        # The feed changes overnight, and the server dies on the 5th page request.
        feed.services = generated_v3_services(100, seed=22)
        srv.fault("/services", "die", after=4)
        second = run_nightly(sources, db)
    assert second.published, second.error
    status2 = source_status(db, second.run_id)
    status, message, version = status2["loopback-council"]
    assert status == "degraded"
    assert "of 10 failed" in message and "connection" in message
    assert f"keeping the snapshot of {status1['loopback-council'][2]}" in message
    assert version == status1["loopback-council"][2]
    for other in ("leeds-council", "leeds-nhs-directory", "leeds-vcs-directory"):  # the others carried on
        assert status2[other][0] in ("ok", "unchanged")
    assert loopback_records(db) == {s["id"] for s in first_services}  # last good data still served
