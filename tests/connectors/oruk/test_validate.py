"""`placecat validate` against live feeds on the loopback server, and its rules against the official schemas."""
from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from connectors.oruk.richness import MAX_POINTS, richness_score, service_points
from connectors.oruk.validate import check_envelope, check_record, validate_feed
from tests.support.environment import REPO
from tests.support.faultyserver import FaultyServer, Reply
from tests.support.orukfeeds import OrukFeed, bristol_feed, generated_v3_services, serve_validator_mock

PLACECAT = str(REPO / ".venv" / "bin" / "placecat")


def mocks(fixtures_dir: Path, variant: str) -> Path:
    return fixtures_dir / "oruk" / "v3" / "validator-mocks" / f"V3.0-UK-{variant}"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """The real `placecat` executable (slow to start: used once)."""
    return subprocess.run([PLACECAT, "validate", *args], capture_output=True, text=True, timeout=120)


def run_inprocess(capsys, *args: str) -> subprocess.CompletedProcess:
    """The same command through `pipelines.cli.main`, in this process."""
    from pipelines.cli import main

    capsys.readouterr()
    code = main(["validate", *args])
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


@pytest.fixture(autouse=True)
def own_rules_unless_given_schemas(monkeypatch):
    """These tests check placecat's own rules (no network here to fetch the official schemas);
    the official-schema checks give the folder explicitly."""
    monkeypatch.setenv("PLACECAT_ORUK_SCHEMAS", "none")


def schema_folder(fixtures_dir: Path) -> Path:
    return fixtures_dir / "oruk" / "schema" / "v3-uk"


# -- the command ------------------------------------------------------------------------------
@pytest.mark.slow
def test_conforming_v3_feed_passes(fixtures_dir):
    with FaultyServer() as srv:
        serve_validator_mock(srv, mocks(fixtures_dir, "Default"))
        proc = run_cli(srv.url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "result: PASS" in proc.stdout
    assert re.search(r"richness: \d+% over 1 services", proc.stdout)


def test_broken_v3_feed_fails_naming_endpoint_record_and_field(fixtures_dir, capsys):
    with FaultyServer() as srv:
        serve_validator_mock(srv, mocks(fixtures_dir, "Fail"))
        proc = run_inprocess(capsys, srv.url)
        as_json = run_inprocess(capsys, srv.url, "--json")
    assert proc.returncode == 1
    assert "result: FAIL" in proc.stdout
    out = proc.stdout
    assert "/services record ac148810-d857-441c-9679-408f346de14b: service.name: required field is missing" in out
    assert re.search(r"/services record \S+: service\.url: 'example_counselling' is not an absolute URI", out)
    assert re.search(r"/services/\{id\} record \S+: service\.email: 'email-example_com' is not an e-mail", out)
    assert "/: api_details.profile: required field is missing" in out
    doc = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and doc["passed"] is False
    fields = {(e["endpoint"], e["field"]) for e in doc["errors"]}
    assert ("/", "api_details.openapi_url") in fields
    assert all(e["record"] for e in doc["errors"] if e["endpoint"].startswith("/services"))


@pytest.mark.slow  # 6 s: the client retries a refused connection with backoff, as a harvest does
def test_unreachable_feed_exits_2(capsys):
    srv = FaultyServer()
    url = srv.url
    srv.httpd.server_close()
    proc = run_inprocess(capsys, url, "--timeout", "2")
    assert proc.returncode == 2
    assert "UNREACHABLE" in proc.stdout and url in proc.stdout


def test_not_a_url_is_one_line_and_exit_2(capsys):
    proc = run_inprocess(capsys, "feeds/leeds.json")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "not an http(s) URL" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_warn_only_endpoints_do_not_fail_the_feed(fixtures_dir):
    with FaultyServer() as srv:
        serve_validator_mock(srv, mocks(fixtures_dir, "Default"))
        srv.route("/taxonomies", {"not": "an envelope"})
        rep = validate_feed(srv.url)
    assert rep.passed
    assert any(w.endpoint == "/taxonomies" for w in rep.warnings)


def test_missing_detail_endpoint_fails(fixtures_dir):
    with FaultyServer() as srv:
        OrukFeed(generated_v3_services(3)).install(srv)
        srv.route("/services/*", Reply.raw("gone", 404, "text/plain"))
        rep = validate_feed(srv.url)
    assert not rep.passed
    assert any(e.endpoint == "/services/{id}" and "HTTP 404" in e.message for e in rep.errors)


def test_generated_v3_feed_passes_and_counts_records():
    with FaultyServer() as srv:
        OrukFeed(generated_v3_services(120), default_per_page=50).install(srv)
        rep = validate_feed(srv.url)
    assert rep.passed, [e.line() for e in rep.errors]
    services = next(e for e in rep.endpoints if e.endpoint == "/services")
    assert services.records == 120 and services.checked == 50


def test_bristol_v1_feed_is_checked_as_v1(fixtures_dir):
    with FaultyServer() as srv:
        bristol_feed(fixtures_dir).install(srv)
        rep = validate_feed(srv.url)
    assert rep.version == "1"
    services = next(e for e in rep.endpoints if e.endpoint == "/services")
    assert services.records == 243 and services.checked == 50
    # Off-enum v1 values ("Venue", "1 to 1 support") are warnings: v3 dropped those enums.
    assert any("attending_type" in (w.field or "") for w in rep.warnings)
    assert rep.richness and 0 < rep.richness["percent"] <= 100


# -- the rules against the official schemas ---------------------------------------------------------
def official(fixtures_dir: Path, name: str) -> Draft202012Validator:
    schema = json.loads((fixtures_dir / "oruk" / "schema" / name).read_text())
    return Draft202012Validator(schema, format_checker=FormatChecker())


def schema_error_paths(validator: Draft202012Validator, doc, root: str) -> set[str]:
    out = set()
    for err in validator.iter_errors(doc):
        path = root
        for part in err.absolute_path:
            path += f"[{part}]" if isinstance(part, int) else f".{part}"
        if err.validator == "required":
            path += "." + re.match(r"'([^']+)'", err.message).group(1)
        out.add(path)
    return out


def our_error_paths(doc, kind: str, root: str) -> set[str]:
    return {p for level, p, _ in check_record(doc, kind, "3", root) if level == "error"}


@pytest.mark.parametrize("variant", ["Default", "Fail", "Warn", "Test"])
def test_rules_catch_every_schema_error_on_the_validator_mocks(fixtures_dir, variant):
    folder = mocks(fixtures_dir, variant)
    service = official(fixtures_dir, "v3-uk/compiled/service.json")
    api = official(fixtures_dir, "v3-uk-validator/api_details.json")
    checked = 0
    for name in ("service_full.json", "service_list.json"):
        doc = json.loads((folder / name).read_text())
        records = doc["contents"] if "contents" in doc else [doc]
        for rec in records:
            theirs = schema_error_paths(service, rec, "service")
            ours = our_error_paths(rec, "service", "service")
            assert theirs <= ours, f"{variant}/{name} {rec.get('id')}: schema found {theirs - ours} we missed"
            if variant == "Default":
                assert not theirs and not ours
            checked += 1
    root = json.loads((folder / "api_details.json").read_text())
    assert schema_error_paths(api, root, "api_details") <= our_error_paths(root, "api_details", "api_details")
    assert checked >= 2


def test_fail_mock_errors_are_found_by_both(fixtures_dir):
    rec = json.loads((mocks(fixtures_dir, "Fail") / "service_list.json").read_text())["contents"][0]
    theirs = schema_error_paths(official(fixtures_dir, "v3-uk/compiled/service.json"), rec, "service")
    ours = our_error_paths(rec, "service", "service")
    assert "service.name" in theirs and "service.name" in ours
    assert "service.url" in ours  # jsonschema has no 'uri' checker installed; ours does


def test_envelope_rules():
    good = {"total_items": 1, "total_pages": 1, "page_number": 1, "size": 1, "first_page": True,
            "last_page": True, "empty": False, "contents": []}
    assert check_envelope(good, "3") == []
    bad = {**good, "total_pages": "1"}
    del bad["empty"]
    assert {p for _, p, _ in check_envelope(bad, "3")} == {"page.total_pages", "page.empty"}
    assert {p for _, p, _ in check_envelope(good, "1")} >= {"page.totalElements", "page.content"}


# -- richness ------------------------------------------------------------------------------------
def test_richness_uses_porism_weights():
    today = dt.date(2026, 11, 1)
    bare = {"id": "1", "name": "Lunch club", "description": "Hot meals", "url": "https://example.org"}
    assert service_points(bare, today) == 10 + 5 + 2
    full = {**bare, "email": "a@example.org", "attending_type": "venue", "attending_access": "drop-in",
            "service_areas": [{"id": "a"}], "eligibilitys": [{"id": "e"}], "contacts": [{"id": "c"}],
            "assured_date": "2026-10-01", "regular_schedules": [{"id": "s"}],
            "service_at_locations": [{"id": "l"}]}
    assert service_points(full, today) == MAX_POINTS == 45
    stale = {**full, "assured_date": "2026-01-01"}
    assert service_points(stale, today) == 43
    result = richness_score([bare, full], today)
    assert result.percent == pytest.approx(100 * (17 + 45) / 90)
    assert result.per_field["email"] == 0.5
    # v3 shapes count for their v1 ancestors.
    v3 = {**bare, "schedules": [{"id": "s", "attending_type": "in person"}], "minimum_age": 18}
    assert service_points(v3, today) == 17 + 2 + 2 + 2


# -- the official schemas ---------------------------------------------------------------------
def serve_mock_with_item_routes(srv: FaultyServer, folder: Path) -> None:
    """A validator mock as a live API, with its single taxonomy and term served at /{id} too."""
    serve_validator_mock(srv, folder)
    for path, name in (("/taxonomies/*", "taxonomy.json"), ("/taxonomy_terms/*", "taxonomy_term.json")):
        srv.route(path, Reply.json(json.loads((folder / name).read_text(encoding="utf-8-sig"))))


def test_warn_example_gives_the_two_errors_the_official_schemas_find(fixtures_dir):
    with FaultyServer() as srv:
        serve_mock_with_item_routes(srv, mocks(fixtures_dir, "Warn"))
        rep = validate_feed(srv.url, schemas=schema_folder(fixtures_dir))
    assert not rep.passed and rep.checked_with.startswith("the official ORUK OpenAPI")
    schema_errors = {(e.endpoint, e.field, e.message) for e in rep.errors if "detail answers with id" not in e.message}
    assert schema_errors == {("/taxonomy_terms/{id}", "term_uri", "'example_com' is not a 'uri'"),
                             ("/taxonomy_terms/{id}", "(document)", "'description' is a required property")}
    # Every endpoint of the OpenAPI was requested, the /{id} ones with ids from their lists.
    assert {e.endpoint for e in rep.endpoints} == {"/", "/services", "/services/{id}", "/taxonomies", "/taxonomies/{id}",
                                                   "/taxonomy_terms", "/taxonomy_terms/{id}", "/service_at_locations",
                                                   "/service_at_locations/{id}"}
    assert any("/service_at_locations/{id}" in n and "declares this endpoint as a service" in n for n in rep.notes)


@pytest.mark.slow
def test_conforming_feed_with_transient_429_and_500_passes_and_reads_first_middle_last_pages(fixtures_dir):
    services = generated_v3_services(260)
    with FaultyServer() as srv:
        OrukFeed(services, default_per_page=50).install(srv)
        srv.route("/taxonomies", Reply.json({"total_items": 0, "total_pages": 1, "page_number": 1, "size": 0,
                                             "first_page": True, "last_page": True, "empty": True, "contents": []}))
        srv.route("/taxonomy_terms", Reply.json({"total_items": 0, "total_pages": 1, "page_number": 1, "size": 0,
                                                 "first_page": True, "last_page": True, "empty": True, "contents": []}))
        srv.route("/service_at_locations", Reply.json({"total_items": 0, "total_pages": 1, "page_number": 1, "size": 0,
                                                       "first_page": True, "last_page": True, "empty": True,
                                                       "contents": []}))
        srv.fault("/services", "status", code=429, times=2)
        srv.fault("/services", "retry_after", seconds=0, times=1, after=2)
        srv.fault("/services/*", "status", code=500, times=2)
        srv.fault("/", "status", code=503, times=1)
        rep = validate_feed(srv.url, schemas=schema_folder(fixtures_dir))
        pages = sorted({int(q.get("page", 1)) for path, q, _h in srv.log if path == "/services"})
    assert rep.passed, [e.line() for e in rep.errors][:10]
    assert pages == [1, 3, 6]  # first, middle and last of 6 pages
