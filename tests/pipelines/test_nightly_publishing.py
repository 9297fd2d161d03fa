"""Issue 18's acceptance: a night over the real Bristol page and a feed with every publishing hazard
publishes, and nothing personal or executable leaves: not in any table of the published file, any
exported file or any API response; every personal contact is reported in quality.issue; the served
API passes the official schemas on every endpoint, and /v1 the v1 schemas.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import jsonschema
import pytest
import requests

from connectors.oruk.validate import validate_feed
from pipelines.cli import main
from pipelines.nightly_run import run_nightly
from tests.support.faultyserver import FaultyServer
from tests.support.hazards import (NBSP_EMAIL, PERSONAL, SCHEMELESS_URL, UNSAFE, WITHHELD, hazard_services,
                                   record_id)
from tests.support.orukfeeds import OrukFeed, bristol_feed
from warehouse.profiles import DEFAULT_PROFILE
from warehouse.serve import RunningServer, SnapshotHolder, create_app

pytestmark = [pytest.mark.slow, pytest.mark.integration]

# Bristol's own personal contacts (the assurers, the hotmail address, a mobile), written by hand.
BRISTOL_PERSONAL = ["oliviaplenty@thecareforum.org.uk", "danhull@thecareforum.org.uk", "our2wayst@hotmail.com",
                    "07597922718"]


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def occurrences(text: str, value: str) -> int:
    """How often a personal value appears in text, as written or normalised (case, spacing)."""
    if "@" in value:
        return text.lower().count(value.lower())
    if len(_digits(value)) >= 9:
        return _digits(text).count(_digits(value)[-10:])
    return text.count(value)


@pytest.fixture(scope="module")
def night(tmp_path_factory, fixtures_dir):
    tmp = tmp_path_factory.mktemp("publishing")
    with FaultyServer() as bristol_srv, FaultyServer() as hazard_srv:
        bristol_feed(fixtures_dir).install(bristol_srv)
        OrukFeed(hazard_services()).install(hazard_srv)
        sources = tmp / "sources.yaml"
        sources.write_text(
            "sources:\n"
            f"  - {{id: bristol, kind: oruk, url: '{bristol_srv.url}', version: 1, publisher: Bristol City Council,"
            " role: owner, licence: OGL-UK-3.0, attribution: Contains Bristol City Council data}\n"
            f"  - {{id: hazards, kind: oruk, url: '{hazard_srv.url}', publisher: Hazard Directory (test), role: none}}\n")
        db = tmp / "out" / "placecat.duckdb"
        res = run_nightly(sources, db)
    assert res.published, res.error
    return res, db, tmp


def every_published_text(db: Path) -> dict[str, str]:
    """Every table of the published file as text (all columns cast)."""
    out = {}
    with duckdb.connect(str(db), read_only=True) as con:
        for schema, table in con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall():
            rows = con.execute(f'SELECT * FROM {schema}."{table}"').fetchall()
            out[f"{schema}.{table}"] = "\n".join(map(str, rows))
    return out


def test_night_publishes_and_no_personal_contact_is_in_any_table(night):
    res, db, _tmp = night
    tables = every_published_text(db)
    assert not [t for t in tables if t.split(".")[0] in ("raw", "staging", "work")]
    assert "quality.personal_data" not in tables and not any(t.startswith("catalogue.match_") for t in tables)
    found = {(value, t): n for _k, _w, value in PERSONAL for t, text in tables.items()
             if (n := occurrences(text, value))}
    found.update({(value, t): n for value in BRISTOL_PERSONAL for t, text in tables.items()
                  if (n := occurrences(text, value))})
    assert found == {}
    with duckdb.connect(str(db), read_only=True) as con:
        services = con.execute("SELECT count(*) FROM catalogue.service").fetchone()[0]
    assert services >= 50 + len(hazard_services()) - 2  # published per record: the rest of the catalogue stands


def test_every_personal_contact_is_reported_in_quality_issue(night):
    _res, db, _tmp = night
    with duckdb.connect(str(db), read_only=True) as con:
        issues = con.execute("SELECT source_id, record_id, table_name, field, rule, message FROM quality.issue "
                             "WHERE rule IN ('personal_data', 'personal_data_withheld')").fetchall()
    for key, where, _value in PERSONAL:
        table, field = where.split(".")
        assert any(r[0] == "hazards" and r[1] == record_id(key) and r[2] == table and r[3] == field for r in issues), \
            f"{key}: no issue for {where}"
    assert any(r[0] == "bristol" and r[3] == "assurer_email" for r in issues)


def test_a_record_whose_published_text_still_holds_personal_data_is_withheld_and_the_rest_publishes(night):
    res, db, _tmp = night
    with duckdb.connect(str(db), read_only=True) as con:
        published = {r for (r,) in con.execute("SELECT source_record_id FROM catalogue.service_source "
                                                "WHERE source_id = 'hazards'").fetchall()}
        withheld = con.execute("SELECT DISTINCT table_name, field, kind FROM quality.withheld").fetchall()
        quarantined = {r: rules for r, rules in con.execute(
            "SELECT record_id, rules FROM quality.quarantine WHERE source_id = 'hazards'").fetchall()}
    for key in WITHHELD:
        assert record_id(key) not in published
        assert quarantined.get(record_id(key)) == ["personal_data_withheld"]
    assert ("service", "description", "mobile_number") in withheld
    # Only the withheld service is out: the one whose lost-zero mobile was scrubbed stays in.
    assert record_id("mobile-no-zero") in published and record_id("mobile-known") in published
    assert res.published


def test_unsafe_values_are_not_published_and_addresses_are_normalised(night):
    _res, db, _tmp = night
    tables = "\n".join(every_published_text(db).values())
    for _key, _where, value in UNSAFE:
        assert value not in tables
    assert "javascript:" not in tables.lower() and "data:text" not in tables.lower() and "<script" not in tables.lower()
    with duckdb.connect(str(db), read_only=True) as con:
        url, email, name = con.execute("SELECT url, email, name FROM catalogue.service WHERE name LIKE 'Hazard%'").fetchone()
        bristol_urls = [u for (u,) in con.execute("SELECT url FROM catalogue.service WHERE url IS NOT NULL").fetchall()]
    assert url == "https://" + SCHEMELESS_URL and email == NBSP_EMAIL.strip(" \u00a0\u200b")
    assert name == "Hazard Advice Drop-in"
    assert all(u.startswith(("https://", "http://")) for u in bristol_urls)
    assert "https://www.samaritans.org/branches/bristol/" in bristol_urls
    assert "\u200b" not in tables


@pytest.fixture(scope="module")
def served(night):
    _res, db, _tmp = night
    holder = SnapshotHolder(db, DEFAULT_PROFILE, reload_interval=0)
    with RunningServer(create_app(holder)) as srv:
        yield srv.url


def crawl(base: str) -> dict[str, str]:
    """Every response of the API: each list page, each item, the change feed and /v1."""
    bodies: dict[str, str] = {}

    def get(path: str) -> dict | list:
        r = requests.get(base + path, timeout=30)
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
        bodies[path] = r.text
        return r.json()

    get("/")
    for lst, key in (("/services", "contents"), ("/service_at_locations", "contents"), ("/taxonomies", "contents"),
                     ("/taxonomy_terms", "contents"), ("/v1/services", "content"), ("/v1/organizations", "content"),
                     ("/v1/locations", "content"), ("/v1/taxonomies", "content")):
        page, pages = 1, 1
        while page <= pages:
            doc = get(f"{lst}?page={page}&per_page=20")
            pages = doc.get("total_pages") or doc.get("totalPages") or 1
            for item in doc[key]:
                get(f"{lst}/{item['id']}")
            page += 1
    get("/services?full=true&per_page=500")
    get("/changes?limit=1000")
    get("/v1/vocabularies")
    return bodies


def test_no_api_response_or_export_holds_personal_or_unsafe_values(night, served):
    _res, db, tmp = night
    bodies = crawl(served)
    assert len(bodies) > 150
    out = tmp / "export"
    assert main(["export", "--db", str(db), "--out", str(out)]) == 0
    files = {str(p): p.read_text(encoding="utf-8", errors="replace") for p in (out / "current").rglob("*")
             if p.is_file() and p.suffix in (".json", ".csv")}
    with duckdb.connect() as con:
        for p in (out / "current").rglob("*.parquet"):
            files[str(p)] = "\n".join(map(str, con.execute(f"SELECT * FROM read_parquet('{p}')").fetchall()))
    everything = {**bodies, **files}
    found = {(value, where) for where, text in everything.items()
             for value in [v for _k, _w, v in PERSONAL + UNSAFE] + BRISTOL_PERSONAL if occurrences(text, value)}
    assert found == set()
    assert not [w for w, text in everything.items() if "javascript:" in text.lower() or "<script" in text.lower()]


def test_served_api_passes_the_official_schemas_on_every_endpoint(served, fixtures_dir):
    rep = validate_feed(served, schemas=fixtures_dir / "oruk" / "schema" / "v3-uk", sample=10)
    assert rep.passed, [f.line() for f in rep.errors][:20]
    assert {e.endpoint for e in rep.endpoints} >= {"/", "/services", "/services/{id}", "/service_at_locations",
                                                    "/service_at_locations/{id}", "/taxonomies", "/taxonomies/{id}",
                                                    "/taxonomy_terms", "/taxonomy_terms/{id}"}
    assert all(e.checked > 0 for e in rep.endpoints if e.endpoint != "/")


def test_taxonomies_list_the_vocabularies_in_use(served):
    taxonomies = requests.get(served + "/taxonomies?per_page=500", timeout=30).json()["contents"]
    terms = requests.get(served + "/taxonomy_terms?per_page=500", timeout=30).json()["contents"]
    assert taxonomies and terms
    ids = {t["id"] for t in taxonomies}
    assert all(t.get("taxonomy_id") in ids and t.get("term") for t in terms)
    names = {t["name"] for t in taxonomies}
    assert {"oruk-v1:attending_type", "oruk-v1:deliverable_type"} <= names


V1_SCHEMAS = {"/v1/services": "service_list.json", "/v1/organizations": "organization_list.json",
              "/v1/locations": "location_list.json", "/v1/taxonomies": "taxonomy_list.json",
              "/v1/reviews": "review_list.json"}
V1_ITEM_SCHEMAS = {"/v1/services": "service.json", "/v1/organizations": "organization.json",
                   "/v1/locations": "location.json", "/v1/taxonomies": "taxonomy.json"}


def test_v1_endpoints_pass_the_v1_schemas(served, fixtures_dir):
    folder = fixtures_dir / "oruk" / "schema" / "v1" / "validator-jsonschema"
    checker = jsonschema.Draft7Validator.FORMAT_CHECKER
    errors = []
    for path, name in V1_SCHEMAS.items():
        schema = json.loads((folder / name).read_text(encoding="utf-8"))
        doc = requests.get(served + path + "?per_page=500", timeout=30).json()
        assert {"totalElements", "totalPages", "number", "size", "first", "last", "empty", "content"} <= set(doc)
        errors += [f"{path}: {e.message}" for e in jsonschema.Draft7Validator(schema, format_checker=checker).iter_errors(doc)]
        if path in V1_ITEM_SCHEMAS:
            item_schema = json.loads((folder / V1_ITEM_SCHEMAS[path]).read_text(encoding="utf-8"))
            for item in doc["content"]:
                one = requests.get(f"{served}{path}/{item['id']}", timeout=30).json()
                errors += [f"{path}/{item['id']}: {e.message}"
                           for e in jsonschema.Draft7Validator(item_schema, format_checker=checker).iter_errors(one)]
    assert errors == []
    services = requests.get(served + "/v1/services?per_page=500", timeout=30).json()["content"]
    days = [s["weekday"] for svc in services for s in svc.get("regular_schedules", [])]
    assert days and all(isinstance(d, int) and 1 <= d <= 7 for d in days)
    assert requests.get(served + "/v1/vocabularies", timeout=30).json()


def test_bad_parameters_get_the_documented_error_and_docs_work_offline(served):
    for query in ("page=abc", "per_page=ten", "minimum_age=old", "day=Blursday", "start_time=25:00"):
        r = requests.get(f"{served}/services?{query}", timeout=30)
        assert r.status_code == 400 and set(r.json()) == {"error", "status"}, (query, r.text)
    docs = requests.get(served + "/docs", timeout=30)
    assert docs.status_code == 200 and "/services/{service_id}" in docs.text
    assert not re.search(r"(src|href)=[\"']?https?://", docs.text)  # nothing fetched from elsewhere
    modified = requests.get(served + "/services?modified_after=2000-01-01T00:00:00Z", timeout=30).json()
    assert modified["total_items"] == requests.get(served + "/services", timeout=30).json()["total_items"]
