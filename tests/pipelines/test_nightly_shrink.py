"""Whole nights with the shrink guard: a source that suddenly serves nothing is held, the catalogue
keeps its services, `/changes` sends no deletions, and after `placecat accept` the next night
publishes the shrink (and only then do the deletions go out).

Real `placecat run` processes over a copy of the bundled sample, and the read-only API on a real
loopback server for `/changes`.
"""
from __future__ import annotations

import json

import duckdb
import pytest
import requests

from tests.support.nights import copy_sample, placecat, run_ok
from tests.support.sources_seen import api_view
from warehouse.profiles import DEFAULT_PROFILE
from warehouse.serve import RunningServer, create_app
from warehouse.served import SnapshotHolder


def empty_feed(sources, source_id: str) -> None:
    """The council's feed answers, with no services at all."""
    for page in (sources.parent / "feeds" / source_id).glob("*.json"):
        doc = json.loads(page.read_text())
        doc.update(contents=[], total_items=0, total_pages=1, size=0, empty=True)
        page.write_text(json.dumps(doc))


def changes(db, run_id: str) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        return dict(con.execute("SELECT change, count(*) FROM publish.change WHERE run_id = ? GROUP BY 1",
                                [run_id]).fetchall())


def latest_run(db) -> tuple[str, dict[str, str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        run_id = con.execute("SELECT run_id FROM ops.run ORDER BY started_at DESC LIMIT 1").fetchone()[0]
        statuses = dict(con.execute("SELECT source_id, status FROM ops.source_status WHERE run_id = ?",
                                    [run_id]).fetchall())
    return run_id, statuses


def deleted_on_changes(db) -> set[str]:
    """Follow `/changes` from the start, as a hub does, and collect the ids it says were deleted."""
    deleted: set[str] = set()
    with RunningServer(create_app(SnapshotHolder(db, DEFAULT_PROFILE, reload_interval=0))) as srv:
        path = "/changes?limit=50"
        for _ in range(100):
            doc = requests.get(srv.url + path, timeout=30).json()
            deleted |= {item["id"] for item in doc["items"] if item["state"] == "deleted"}
            if not doc["items"]:
                return deleted
            path = doc["next"].split(srv.url.split("//")[1], 1)[-1] if doc["next"].startswith("http") else doc["next"]
    raise AssertionError("/changes never ended")


def golden_count(db) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT count(*) FROM catalogue.service").fetchone()[0]


@pytest.mark.slow
def test_an_emptied_feed_is_held_with_no_deletions_until_accepted(tmp_path):
    sources = copy_sample(tmp_path)
    db = tmp_path / "out" / "placecat.duckdb"
    run_ok(sources, db)
    before = golden_count(db)
    assert deleted_on_changes(db) == set()

    empty_feed(sources, "leeds-council")
    out = run_ok(sources, db)
    council = next(line for line in out.splitlines() if line.startswith("leeds-council"))
    assert " held " in council and "no services, down from 19" in council and "placecat accept leeds-council" in council
    run2, statuses = latest_run(db)
    assert statuses["leeds-council"] == "held"
    assert "removed" not in changes(db, run2)
    assert golden_count(db) == before
    assert deleted_on_changes(db) == set()
    root, records = api_view(db)  # hubs see that the council's records wait on a person
    assert root["leeds-council"]["status"] == "held" and "placecat accept leeds-council" in root["leeds-council"]["note"]
    assert {r.get("source_status") for r in records if r["source_id"] == "leeds-council"} == {"held"}

    # A second night changes nothing: still held, still no deletions.
    run_ok(sources, db)
    assert latest_run(db)[1]["leeds-council"] == "held" and deleted_on_changes(db) == set()

    proc = placecat("accept", "leeds-council", "--sources", str(sources), "--db", str(db))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and out.startswith("leeds-council: accepted the held harvest"), out + err
    run_ok(sources, db)
    run3, statuses = latest_run(db)
    assert statuses["leeds-council"] in ("ok", "unchanged")  # the accepted harvest is what it finds
    removed = changes(db, run3).get("removed", 0)
    assert removed > 0 and golden_count(db) == before - removed
    assert len(deleted_on_changes(db)) == removed
