"""`placecat serve` over a real catalogue, on a real uvicorn server on 127.0.0.1 (no mocks)."""
from __future__ import annotations

import gzip
import json
import math
import os
import shutil
import time

import duckdb
import pytest
import requests

from tests.support.published import FORBIDDEN_STRINGS, FORMULA_NAME, OrukSchemas
from warehouse.profiles import DEFAULT_PROFILE, parse_profile
from warehouse.serve import RunningServer, create_app
from warehouse.served import SnapshotHolder


@pytest.fixture(scope="module")
def schemas(fixtures_dir):
    return OrukSchemas(fixtures_dir)


@pytest.fixture(scope="module")
def served(published_sample):
    holder = SnapshotHolder(published_sample, DEFAULT_PROFILE, reload_interval=0)
    with RunningServer(create_app(holder)) as srv:
        yield srv.url


def catalogue(db, sql, args=()):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(args)).fetchall()


def get(url, **kw):
    res = requests.get(url, timeout=30, **kw)
    return res


def all_pages(url, per_page=7):
    items, page = [], 1
    while True:
        doc = get(f"{url}{'&' if '?' in url else '?'}page={page}&per_page={per_page}").json()
        items += doc["contents"]
        if doc["last_page"]:
            return items, doc
        page += 1


# -- schema conformance --------------------------------------------------------------------------
def test_every_endpoint_validates_against_the_official_v3_schemas(served, schemas, published_sample):
    root = get(served + "/").json()
    assert schemas.errors(schemas.api_details, root) == []
    assert root["version"] == "HSDS-UK-3.0" and root["openapi_url"].endswith("/openapi.json")

    checks = [("/services", "/services"), ("/service_at_locations", "/service_at_locations"),
              ("/taxonomies", "/taxonomies"), ("/taxonomy_terms", "/taxonomy_terms")]
    for path, api_path in checks:
        for page in (1, 2):
            doc = get(f"{served}{path}?page={page}&per_page=10").json()
            assert schemas.errors(schemas.response_schema(api_path), doc) == [], path
    services, _ = all_pages(served + "/services")
    assert len(services) == catalogue(published_sample, "SELECT count(*) FROM catalogue.service")[0][0]
    for item in services:
        doc = get(f"{served}/services/{item['id']}").json()
        assert schemas.errors(schemas.response_schema("/services/{id}"), doc) == [], item["id"]
    sals, _ = all_pages(served + "/service_at_locations")
    assert sals
    for item in sals:
        doc = get(f"{served}/service_at_locations/{item['id']}").json()
        # The validator checks this endpoint against compiled/service_at_location.json.
        assert schemas.errors("compiled/service_at_location.json", doc) == [], item["id"]
        assert doc["service"]["id"] == item["service_id"] and doc["location"]["id"] == item["location_id"]
    terms, _ = all_pages(served + "/taxonomy_terms")
    assert len(terms) == catalogue(published_sample, "SELECT count(*) FROM catalogue.taxonomy_term")[0][0]
    for term in terms:
        doc = get(f"{served}/taxonomy_terms/{term['id']}").json()
        assert schemas.errors(schemas.response_schema("/taxonomy_terms/{id}"), doc) == []
    for taxonomy in all_pages(served + "/taxonomies")[0]:
        doc = get(f"{served}/taxonomies/{taxonomy['id']}").json()
        assert schemas.errors(schemas.response_schema("/taxonomies/{id}"), doc) == []


def test_openapi_document_is_served(served):
    doc = get(served + "/openapi.json").json()
    for path in ("/services", "/services/{service_id}", "/service_at_locations", "/taxonomies",
                 "/taxonomy_terms", "/changes", "/v1/services"):
        assert path in doc["paths"]


# -- paging -----------------------------------------------------------------------------------------
def test_paging_envelope_walks_every_golden_record_once(served, published_sample):
    ids = {r[0] for r in catalogue(published_sample, "SELECT id FROM catalogue.service")}
    items, last = all_pages(served + "/services", per_page=5)
    assert [i["id"] for i in items] and len(items) == len(ids) and {i["id"] for i in items} == ids
    assert last["total_items"] == len(ids) and last["total_pages"] == math.ceil(len(ids) / 5)
    assert last["page_number"] == last["total_pages"] and not last["first_page"]
    beyond = get(f"{served}/services?page={last['total_pages'] + 1}&per_page=5").json()
    assert beyond["empty"] and beyond["contents"] == [] and beyond["size"] == 0
    big = get(f"{served}/services?per_page=100000").json()
    assert big["size"] == len(ids)  # clamped to the limit, not refused
    assert get(f"{served}/services?page=0").status_code == 400
    bad = get(f"{served}/services?per_page=abc")
    assert bad.status_code == 400 and set(bad.json()) == {"error", "status"}  # the documented form, not FastAPI's 422


# -- filters ----------------------------------------------------------------------------------------
def test_search_and_taxonomy_filters_match_the_catalogue(served, published_sample):
    expected = {r[0] for r in catalogue(published_sample, """
        SELECT s.id FROM catalogue.service s LEFT JOIN catalogue.organization o ON o.id = s.organization_id
        WHERE lower(s.name || ' ' || coalesce(s.description, '') || ' ' || coalesce(o.name, '')) LIKE '%food%'""")}
    got = {i["id"] for i in all_pages(served + "/services?search=Food")[0]}
    assert expected and got == expected
    term_id, n = catalogue(published_sample, """
        SELECT taxonomy_term_id, count(DISTINCT link_id) FROM catalogue.attribute GROUP BY 1 ORDER BY 2 DESC LIMIT 1""")[0]
    with_term = {r[0] for r in catalogue(published_sample,
                                         "SELECT link_id FROM catalogue.attribute WHERE taxonomy_term_id = ?", [term_id])}
    got = {i["id"] for i in all_pages(f"{served}/services?taxonomy_term_id={term_id}")[0]}
    assert got == with_term and len(got) == n > 1


def test_day_and_time_filters_match_the_schedules(served, published_sample):
    rows = catalogue(published_sample, "SELECT service_id, byday, opens_at, closes_at FROM catalogue.schedule")
    expected = {sid for sid, byday, opens, closes in rows
                if "TU" in (byday or "").split(",") and opens and opens.isoformat() >= "09:00:00"
                and closes and closes.isoformat() <= "16:30:00"}
    got = {i["id"] for i in all_pages(f"{served}/services?day=Tuesday&start_time=09:00&end_time=16:30")[0]}
    assert expected and got == expected
    assert get(f"{served}/services?start_time=25:99").status_code == 400


def test_age_filters(published_sample, tmp_path):
    db = tmp_path / "ages.duckdb"
    shutil.copyfile(published_sample, db)
    with duckdb.connect(str(db)) as con:
        ids = [r[0] for r in con.execute("SELECT id FROM catalogue.service ORDER BY id LIMIT 3").fetchall()]
        for sid, lo, hi in zip(ids, (0, 11, 18), (5, 19, 99)):
            con.execute("UPDATE catalogue.service SET minimum_age = ?, maximum_age = ? WHERE id = ?", [lo, hi, sid])
    holder = SnapshotHolder(db, DEFAULT_PROFILE, reload_interval=0)
    with RunningServer(create_app(holder)) as srv:
        # ORUK: minimum_age "of at least" the value; maximum_age "equal to or below" it.
        assert {i["id"] for i in get(f"{srv.url}/services?minimum_age=11").json()["contents"]} == {ids[1], ids[2]}
        assert {i["id"] for i in get(f"{srv.url}/services?maximum_age=19").json()["contents"]} == {ids[0], ids[1]}
        assert {i["id"] for i in get(f"{srv.url}/services?minimum_age=10&maximum_age=20").json()["contents"]} == {ids[1]}


def test_a_monthly_day_is_found_by_its_day(published_sample, tmp_path):
    """'2TU' (the second Tuesday of each month, freq MONTHLY) is a Tuesday to someone asking for Tuesdays."""
    db = tmp_path / "monthly.duckdb"
    shutil.copyfile(published_sample, db)
    with duckdb.connect(str(db)) as con:
        sid = con.execute("""SELECT service_id FROM catalogue.schedule WHERE byday NOT LIKE '%TU%'
                             AND service_id NOT IN (SELECT service_id FROM catalogue.schedule WHERE byday LIKE '%TU%')
                             ORDER BY service_id LIMIT 1""").fetchone()[0]
        con.execute("UPDATE catalogue.schedule SET byday = '2TU', freq = 'MONTHLY' WHERE service_id = ?", [sid])
    holder = SnapshotHolder(db, DEFAULT_PROFILE, reload_interval=0)
    with RunningServer(create_app(holder)) as srv:
        assert sid in {i["id"] for i in all_pages(f"{srv.url}/services?day=Tuesday")[0]}
        assert sid not in {i["id"] for i in all_pages(f"{srv.url}/services?day=Wednesday")[0]}


def _metres(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371008.8 * math.asin(math.sqrt(a))


def test_postcode_proximity_uses_location_coordinates(served, published_sample):
    rows = catalogue(published_sample, """
        SELECT sal.id, l.latitude, l.longitude, a.postal_code FROM catalogue.service_at_location sal
        JOIN catalogue.location l ON l.id = sal.location_id LEFT JOIN catalogue.address a ON a.location_id = l.id""")
    # Without reference centroids, the postcode's centre is where the catalogue's own locations there are.
    located = sorted({pc for _, lat, _, pc in rows if lat is not None and pc})
    postcode = max(located, key=lambda pc: sum(1 for r in rows if r[3] == pc and r[1] is not None))
    at = [(lat, lon) for _, lat, lon, pc in rows if pc == postcode and lat is not None]
    centre = (sum(p[0] for p in at) / len(at), sum(p[1] for p in at) / len(at))
    expected = {sid for sid, lat, lon, _ in rows if lat is not None and _metres(*centre, lat, lon) <= 1500}
    doc = get(f"{served}/service_at_locations", params={"postcode": postcode.lower().replace(" ", ""),
                                                        "proximity": 1500, "per_page": 100}).json()
    got = [i["id"] for i in doc["contents"]]
    assert set(got) == expected and 0 < len(expected) < len(rows)
    dists = [_metres(*centre, i["location"]["latitude"], i["location"]["longitude"]) for i in doc["contents"]]
    assert dists == sorted(dists)  # nearest first
    assert get(f"{served}/service_at_locations", params={"postcode": "not a postcode"}).status_code == 400
    unknown = get(f"{served}/service_at_locations", params={"postcode": "TR1 1AA", "proximity": 10})
    assert unknown.status_code == 400 and "TR1 1AA" in unknown.json()["error"]


# -- HTTP behaviour ---------------------------------------------------------------------------------
def test_cors_etag_304_last_modified_and_gzip(served):
    res = get(served + "/services?per_page=20", headers={"Accept-Encoding": "identity"})
    assert res.headers["access-control-allow-origin"] == "*"
    etag, last_modified = res.headers["etag"], res.headers["last-modified"]
    again = get(served + "/services?per_page=20", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert get(served + "/services?per_page=20", headers={"If-None-Match": '"other"'}).status_code == 200
    assert get(served + "/services?per_page=20", headers={"If-Modified-Since": last_modified}).status_code == 304
    assert get(served + "/services?per_page=21").headers["etag"] != etag
    raw = requests.get(served + "/services?per_page=20", headers={"Accept-Encoding": "gzip"}, stream=True, timeout=30)
    assert raw.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw.raw.read()) == res.content
    missing = get(served + "/services/no-such-id")
    assert missing.status_code == 404 and missing.headers["access-control-allow-origin"] == "*"


# -- golden records, trust register, provenance --------------------------------------------------------
def test_each_service_says_what_it_replaces_and_where_its_fields_came_from(served, published_sample):
    register = catalogue(published_sample, "SELECT replaced_by_id, source_id, source_record_id FROM catalogue.replaced_by "
                                           "WHERE entity = 'service'")
    provenance = catalogue(published_sample, "SELECT service_id, field, source_id, source_record_id "
                                             "FROM catalogue.field_provenance")
    merged = [sid for sid, n in catalogue(published_sample, "SELECT replaced_by_id, count(*) FROM catalogue.replaced_by "
                                                            "WHERE entity = 'service' GROUP BY 1 HAVING count(*) > 1")]
    assert merged
    single = [r[0] for r in catalogue(published_sample, "SELECT replaced_by_id FROM catalogue.replaced_by "
                                                         "WHERE entity = 'service' GROUP BY 1 HAVING count(*) = 1 LIMIT 1")]
    for sid in merged + single:
        ext = get(f"{served}/services/{sid}").json()["placecat"]
        assert ext["record"] == "golden"
        assert sorted((r["source_id"], r["source_record_id"]) for r in ext["replaces"]) == \
            sorted((s, r) for g, s, r in register if g == sid)
        assert {f: (p["source_id"], p["source_record_id"]) for f, p in ext["provenance"].items()} == \
            {f: (s, r) for g, f, s, r in provenance if g == sid}


# -- personal data and HTML ---------------------------------------------------------------------------
def test_no_personal_data_or_script_in_any_response(served, published_sample):
    bodies = [get(served + "/").text]
    for path in ("/services", "/service_at_locations", "/taxonomies", "/taxonomy_terms"):
        bodies.append(get(f"{served}{path}?per_page=500").text)
    ids = [r[0] for r in catalogue(published_sample, "SELECT id FROM catalogue.service")]
    bodies += [get(f"{served}/services/{i}").text for i in ids]
    bodies += [get(f"{served}/v1/services/{i}").text for i in ids]
    bodies.append(get(f"{served}/changes?limit=1000").text)
    bodies.append(get(f"{served}/services?full=true&per_page=500").text)
    hostile = [r[0] for r in catalogue(published_sample, "SELECT service_id FROM catalogue.service_source "
                                                         "WHERE source_id = 'hostile-directory'")]
    assert len(hostile) == 2
    for body in bodies:
        for bad in FORBIDDEN_STRINGS:
            assert bad not in body
    docs = [get(f"{served}/services/{i}").json() for i in hostile]
    advice = next(d for d in docs if d["name"] == "Hostile Advice Drop-in")
    assert "<b>advice</b>" in advice["description"] and "<script" not in advice["description"]
    assert "assurer_email" not in advice
    assert all("name" not in c for c in advice["contacts"])
    assert any(d["name"] == FORMULA_NAME for d in docs)  # JSON is not a spreadsheet: names stay as written


# -- /v1 --------------------------------------------------------------------------------------------
def test_v1_compatibility_shape(served, published_sample):
    n = catalogue(published_sample, "SELECT count(*) FROM catalogue.service")[0][0]
    page = get(f"{served}/v1/services?per_page=4&page=2").json()
    assert page["totalElements"] == n and page["number"] == 2 and len(page["content"]) == 4
    assert page["totalPages"] == math.ceil(n / 4) and page["first"] is False
    item = page["content"][0]
    v3 = get(f"{served}/services/{item['id']}").json()
    assert item["name"] == v3["name"] and item["organization"]["id"] == v3["organization"]["id"]
    # v1 weekdays are integers, 1 = Monday (one regular_schedule per day of a v3 schedule).
    days = {"MO": 1, "TU": 2, "WE": 3, "TH": 4, "FR": 5, "SA": 6, "SU": 7}
    assert [s["weekday"] for s in item["regular_schedules"]] == [
        days[d] for s in v3["schedules"] for d in (s.get("byday") or "").split(",") if d in days]
    assert {t["taxonomy"]["id"] for t in item["service_taxonomys"]} == \
        {a["taxonomy_term"]["id"] for a in v3["attributes"] if "taxonomy_term" in a}


# -- profiles -----------------------------------------------------------------------------------------
def test_profile_limits_what_is_served(published_sample):
    profile = parse_profile("council-only", {"sources": ["leeds-council"], "areas": ["LS11"]}, "test")
    expected = {r[0] for r in catalogue(published_sample, """
        SELECT DISTINCT ss.service_id FROM catalogue.service_source ss
        JOIN catalogue.service_at_location sal ON sal.service_id = ss.service_id
        JOIN catalogue.address a ON a.location_id = sal.location_id
        WHERE ss.source_id = 'leeds-council' AND a.postal_code LIKE 'LS11 %'""")}
    holder = SnapshotHolder(published_sample, profile, reload_interval=0)
    with RunningServer(create_app(holder)) as srv:
        got = {i["id"] for i in get(f"{srv.url}/services?per_page=500").json()["contents"]}
        assert expected and got == expected
        assert get(f"{srv.url}/").json()["placecat"]["publishing_profile"] == "council-only"
        outside = next(r[0] for r in catalogue(published_sample, "SELECT id FROM catalogue.service") if r[0] not in expected)
        assert get(f"{srv.url}/services/{outside}").status_code == 404


# -- the nightly file is replaced under a running server ------------------------------------------------
def test_server_picks_up_an_atomically_replaced_catalogue(published_sample, tmp_path):
    db = tmp_path / "live.duckdb"
    shutil.copyfile(published_sample, db)
    sid = catalogue(db, "SELECT id FROM catalogue.service ORDER BY id LIMIT 1")[0][0]
    holder = SnapshotHolder(db, DEFAULT_PROFILE, reload_interval=0.1)
    holder.start_watching()
    try:
        with RunningServer(create_app(holder)) as srv:
            before = get(f"{srv.url}/services/{sid}")
            new = tmp_path / "next.duckdb"
            shutil.copyfile(published_sample, new)
            with duckdb.connect(str(new)) as con:
                con.execute("UPDATE catalogue.service SET name = 'Renamed tonight' WHERE id = ?", [sid])
            os.replace(new, db)  # what publish_build does
            deadline, seen = time.time() + 30, []
            while time.time() < deadline:
                res = get(f"{srv.url}/services/{sid}")
                assert res.status_code == 200  # never an error while the swap happens
                seen.append(res.json()["name"])
                if seen[-1] == "Renamed tonight":
                    break
                time.sleep(0.05)
            assert seen[-1] == "Renamed tonight" and set(seen) <= {before.json()["name"], "Renamed tonight"}
            assert res.headers["etag"] != before.headers["etag"]
            # A file that is not a catalogue is refused; the last good one stays in service.
            junk = tmp_path / "junk.duckdb"
            junk.write_bytes(b"not a database")
            os.replace(junk, db)
            # Wait for the holder to look at the new file (a loaded machine may take a while).
            deadline = time.monotonic() + 60
            while holder.last_error is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert get(f"{srv.url}/services/{sid}").json()["name"] == "Renamed tonight"
            assert holder.last_error and "live.duckdb" in holder.last_error
    finally:
        holder.stop()


def test_serve_cli_reports_a_missing_catalogue_in_one_line(tmp_path, capsys):
    from pipelines.cli import main
    assert main(["serve", "--db", str(tmp_path / "missing.duckdb")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing.duckdb" in err and "not found" in err
    assert main(["serve", "--db", str(tmp_path / "missing.duckdb"), "--profile", "x"]) == 2
    assert "--profiles" in capsys.readouterr().err


# -- dogfooding: our own validator and our own ORUK connector -------------------------------------------
def test_placecat_validate_passes_against_serve(served, capsys):
    from pipelines.cli import main
    assert main(["validate", served, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is True and report["version"] == "3"


@pytest.mark.slow
def test_oruk_connector_harvests_back_exactly_the_published_catalogue(served, published_sample, tmp_path):
    from tests.support.roundtrip import assert_staging_equals_published, harvest_to_staging
    sources = tmp_path / "sources.yaml"
    sources.write_text(f"sources:\n  - id: from-serve\n    kind: oruk\n    url: {served}\n"
                       f"    publisher: placecat serve\n    role: none\n")
    snapshot = harvest_to_staging(sources, tmp_path / "state", "from-serve")
    assert_staging_equals_published(snapshot, "from-serve", published_sample)
