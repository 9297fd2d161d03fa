"""The change feed: two nightly runs with known edits, then an RPDE consumer on a real server."""
from __future__ import annotations

import json
import shutil
from urllib.parse import urlsplit

import duckdb
import pytest
import requests

from pipelines.nightly_run import run_nightly
from tests.support.environment import SAMPLE
from warehouse.changes import TRANSLATABLE_FIELDS
from warehouse.profiles import DEFAULT_PROFILE
from warehouse.serve import RunningServer, create_app
from warehouse.served import SnapshotHolder
from warehouse.build import previous_full_build

EXT = "placecat"
COUNCIL = "feeds/leeds-council"
VCS = "feeds/leeds-vcs-directory"
NEW_SERVICE = {
    "id": "0a7e2f10-5c1d-4f7a-9b1e-0d0d0d0d0d01", "name": "Armley Repair Cafe",
    "description": "Bring broken things; volunteers help you fix them.", "status": "active",
    "organization": {"id": "0a7e2f10-5c1d-4f7a-9b1e-0d0d0d0d0d02", "name": "Armley Fixers",
                     "description": "Volunteer repair group."},
    "service_at_locations": [{"id": "0a7e2f10-5c1d-4f7a-9b1e-0d0d0d0d0d03", "location": {
        "id": "0a7e2f10-5c1d-4f7a-9b1e-0d0d0d0d0d04", "location_type": "physical", "name": "Armley Library",
        "latitude": 53.797, "longitude": -1.59,
        "addresses": [{"id": "0a7e2f10-5c1d-4f7a-9b1e-0d0d0d0d0d05", "address_1": "Stanningley Road",
                       "city": "Leeds", "state_province": "West Yorkshire", "postal_code": "LS12 3LY",
                       "country": "GB", "address_type": "physical"}]}}],
}


def edit_services(folder, edit):
    """Apply ``edit(services) -> services`` to every page of a feed folder."""
    for page in sorted(folder.glob("*.json")):
        doc = json.loads(page.read_text())
        doc["contents"] = edit(doc["contents"])
        doc["size"] = len(doc["contents"])
        page.write_text(json.dumps(doc, indent=1))


def golden_id(db, source_id, name):
    with duckdb.connect(str(previous_full_build(db)), read_only=True) as con:  # staging: the internal file
        return con.execute("""SELECT ss.service_id FROM catalogue.service_source ss JOIN staging.service s
                              ON s.source_id = ss.source_id AND s.source_record_id = ss.source_record_id
                              WHERE ss.source_id = ? AND s.name = ?""", [source_id, name]).fetchall()[0][0]


def follow(base_url, start_path="/changes", state=None, limit=4):
    """An RPDE consumer: follow `next` until a page is empty, applying items; returns (state, last path, items)."""
    state = dict(state or {})
    path, seen = start_path, []
    while True:
        doc = requests.get(base_url + path + ("&" if "?" in path else "?") + f"limit={limit}", timeout=30).json()
        for item in doc["items"]:
            seen.append(item)
            if item["state"] == "deleted":
                state.pop(item["id"], None)
            else:
                state[item["id"]] = item["data"]
        nxt = urlsplit(doc["next"])
        path = nxt.path + "?" + nxt.query
        if not doc["items"]:
            return state, path, seen


def differences(a: dict, b: dict) -> list:
    """Which services, and which of their top-level fields, differ (for a readable failure)."""
    out = [("missing" if k not in a else "extra", k) for k in set(a) ^ set(b)]
    for k in set(a) & set(b):
        if a[k] != b[k]:
            out.append((k, sorted(f for f in set(a[k]) | set(b[k]) if a[k].get(f) != b[k].get(f)),
                        [(f, a[k][EXT][f], b[k][EXT][f]) for f in a[k].get(EXT, {})
                         if a[k][EXT][f] != b[k].get(EXT, {}).get(f)]))
    return out


def published_services(base_url, db):
    with duckdb.connect(str(db), read_only=True) as con:
        ids = [r[0] for r in con.execute("SELECT id FROM catalogue.service").fetchall()]
    return {i: requests.get(f"{base_url}/services/{i}", timeout=30).json() for i in ids}


@pytest.mark.slow
def test_two_runs_with_known_edits_and_an_rpde_consumer(tmp_path):
    sample = tmp_path / "sample"
    shutil.copytree(SAMPLE, sample, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    db = tmp_path / "out" / "placecat.duckdb"
    first = run_nightly(sample / "sources.yaml", db)
    assert first.published, first.error
    run1_db = tmp_path / "run1.duckdb"
    shutil.copyfile(db, run1_db)
    aquafit = golden_id(db, "leeds-council", "Aquafit")
    chair_yoga = golden_id(db, "leeds-council", "Chair Yoga")
    credit_union = golden_id(db, "leeds-vcs-directory", "Leeds Credit Union Savings Club")

    def council(services):
        for s in services:
            if s["name"] == "Aquafit":
                s["description"] = "Low-impact water exercise class, now with a lifeguard on the poolside."
            if s["name"] == "Chair Yoga":
                s["schedules"][0]["opens_at"] = "09:45:00"
        return services

    edit_services(sample / COUNCIL, council)
    edit_services(sample / VCS, lambda svcs: [s for s in svcs if s["name"] != "Leeds Credit Union Savings Club"]
                  + [NEW_SERVICE])
    second = run_nightly(sample / "sources.yaml", db)
    assert second.published, second.error
    added = golden_id(db, "leeds-vcs-directory", "Armley Repair Cafe")

    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT service_id, change, fields_changed FROM publish.change WHERE run_id = ?",
                           [second.run_id]).fetchall()
        assert con.execute("SELECT count(DISTINCT run_id) FROM publish.change").fetchall()[0][0] == 2
    # The night matched incrementally (only that leaves work.region in a build, which starts empty of
    # work tables), and left no view over a table the build dropped (the internal file keeps work.*).
    with duckdb.connect(str(previous_full_build(db)), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'work' AND table_name = 'region'"
                           ).fetchone()[0] == 1
        for schema, view in con.execute("SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal").fetchall():
            con.execute(f'SELECT * FROM "{schema}"."{view}" LIMIT 0')
    assert {r[0]: (r[1], sorted(r[2])) for r in rows} == {
        aquafit: ("updated", ["description"]),
        chair_yoga: ("updated", ["schedules"]),
        credit_union: ("removed", []),
        added: ("added", []),
    }

    # A hub that synced after run 1 ...
    with RunningServer(create_app(SnapshotHolder(run1_db, DEFAULT_PROFILE, reload_interval=0))) as srv1:
        state1, position, _ = follow(srv1.url)
        assert state1 == published_services(srv1.url, run1_db)
    # ... carries on from where it stopped after run 2 and gets exactly the night's edits.
    with RunningServer(create_app(SnapshotHolder(db, DEFAULT_PROFILE, reload_interval=0))) as srv2:
        state2, _, items = follow(srv2.url, position, state1)
        assert {i["id"]: i["state"] for i in items} == {aquafit: "updated", chair_yoga: "updated",
                                                        credit_union: "deleted", added: "updated"}
        by_id = {i["id"]: i for i in items}
        assert by_id[aquafit]["placecat"]["translation_needed"] == ["description"]
        assert "description" in TRANSLATABLE_FIELDS and "data" not in by_id[credit_union]
        modified = [(i["modified"], i["id"]) for i in items]
        assert modified == sorted(modified)
        catalogue2 = published_services(srv2.url, db)
        assert state2 == catalogue2, differences(state2, catalogue2)
        # A new hub following from the very start ends up in the same place.
        fresh, _, all_items = follow(srv2.url)
        assert fresh == catalogue2
        assert [i["id"] for i in all_items if i["state"] == "deleted"] == [credit_union]
