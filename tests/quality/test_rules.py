"""Every staging rule: one change that makes it fail, and one that makes it pass.

The data is a well-formed staging build (``quality.synthetic``: every rule passes on it); each
case changes one value with an UPDATE and checks the issue appears (or not) for that record.
"""
from __future__ import annotations

import shutil

import duckdb
import pytest

from quality.quarantine import flag_warnings, quarantine_blocking
from quality.rules import STAGING_RULES, apply_rules
from quality.synthetic import make_staging

RUN = "run-1"
SVC0 = "(SELECT id FROM staging.service WHERE source_record_id = (SELECT min(source_record_id) FROM staging.service))"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = tmp_path_factory.mktemp("quality-rules") / "template.duckdb"
    with duckdb.connect(str(path)) as c:
        make_staging(c, services=2, sources=("src-a", "src-b"))
    return path


@pytest.fixture
def con(template, tmp_path):
    # A copy of one well-formed build per test: making the schema is the slow part.
    path = tmp_path / "build.duckdb"
    shutil.copyfile(template, path)
    c = duckdb.connect(str(path))
    yield c
    c.close()


def issues(con, rule, table, field):
    return con.execute("SELECT source_id, record_id, severity, message FROM quality.issue WHERE run_id = ? AND rule = ? "
                        "AND table_name = ? AND field IS NOT DISTINCT FROM ?", [RUN, rule, table, field]).fetchall()


# (rule, table, field, failing UPDATE, passing UPDATE): both change the same value.
CASES = [
    ("required", "service", "name", "UPDATE staging.service SET name = '  ' WHERE id = {svc}",
     "UPDATE staging.service SET name = 'Food bank' WHERE id = {svc}"),
    ("required", "service", "status", "UPDATE staging.service SET status = NULL WHERE id = {svc}",
     "UPDATE staging.service SET status = 'inactive' WHERE id = {svc}"),
    ("required", "organization", "name", "UPDATE staging.organization SET name = NULL WHERE source_record_id = 'org-0'",
     "UPDATE staging.organization SET name = 'Leeds Mind' WHERE source_record_id = 'org-0'"),
    ("required", "location", "location_type", "UPDATE staging.location SET location_type = NULL WHERE source_record_id = 'loc-0'",
     "UPDATE staging.location SET location_type = 'virtual' WHERE source_record_id = 'loc-0'"),
    ("required", "address", "address_1", "UPDATE staging.address SET address_1 = '' WHERE source_record_id = 'addr-0'",
     "UPDATE staging.address SET address_1 = '1 Main St' WHERE source_record_id = 'addr-0'"),
    ("required", "address", "postal_code", "UPDATE staging.address SET postal_code = NULL WHERE source_record_id = 'addr-0'",
     "UPDATE staging.address SET postal_code = 'LS2 8BH' WHERE source_record_id = 'addr-0'"),
    ("required", "phone", "number", "UPDATE staging.phone SET number = NULL WHERE source_record_id = 'phone-0'",
     "UPDATE staging.phone SET number = '0113 378 5000' WHERE source_record_id = 'phone-0'"),
    ("required", "taxonomy_term", "name", "UPDATE staging.taxonomy_term SET name = NULL WHERE source_record_id = 'term-0'",
     "UPDATE staging.taxonomy_term SET name = 'Food banks' WHERE source_record_id = 'term-0'"),
    ("unique_id", "service", "id", "UPDATE staging.service SET source_record_id = 'dup' WHERE source_id = 'src-a'",
     # one of the two gets its own id again; the same id in another source is fine
     "UPDATE staging.service SET source_record_id = 'dup-' || id WHERE source_id = 'src-a' AND id = "
     "(SELECT min(id) FROM staging.service WHERE source_id = 'src-a'); "
     "UPDATE staging.service SET source_record_id = 'dup' WHERE id = (SELECT min(id) FROM staging.service WHERE source_id = 'src-b')"),
    ("uuid", "service", "id", "UPDATE staging.service SET id = 'svc-1' WHERE id = {svc}",
     "UPDATE staging.service SET id = '0b7f8a3e-0a8e-4a43-9d47-5f1ad3c0e111' WHERE id = {svc}"),
    ("email_format", "service", "email", "UPDATE staging.service SET email = 'info at leeds.gov.uk' WHERE id = {svc}",
     "UPDATE staging.service SET email = 'info@leeds.gov.uk' WHERE id = {svc}"),
    ("email_format", "service", "assurer_email", "UPDATE staging.service SET assurer_email = 'assurer@' WHERE id = {svc}",
     "UPDATE staging.service SET assurer_email = 'directory@leeds.gov.uk' WHERE id = {svc}"),
    ("email_format", "organization", "email", "UPDATE staging.organization SET email = 'a@b' WHERE source_record_id = 'org-0'",
     "UPDATE staging.organization SET email = 'a@b.org' WHERE source_record_id = 'org-0'"),
    ("email_format", "contact", "email", "UPDATE staging.contact SET email = 'x@@y.org' WHERE source_record_id = 'contact-0'",
     "UPDATE staging.contact SET email = 'x@y.org' WHERE source_record_id = 'contact-0'"),
    ("url_format", "service", "url", "UPDATE staging.service SET url = 'www.leeds.gov.uk' WHERE id = {svc}",
     "UPDATE staging.service SET url = 'https://www.leeds.gov.uk/' WHERE id = {svc}"),
    ("url_format", "organization", "website", "UPDATE staging.organization SET website = 'javascript:alert(1)' WHERE source_record_id = 'org-0'",
     "UPDATE staging.organization SET website = 'http://example.org' WHERE source_record_id = 'org-0'"),
    ("url_format", "schedule", "schedule_link", "UPDATE staging.schedule SET schedule_link = 'ring us' WHERE source_record_id = 'sched-0'",
     "UPDATE staging.schedule SET schedule_link = 'https://example.org/times?a=1' WHERE source_record_id = 'sched-0'"),
    ("postcode_format", "address", "postal_code", "UPDATE staging.address SET postal_code = 'LS99' WHERE source_record_id = 'addr-0'",
     "UPDATE staging.address SET postal_code = 'ls11 5ha' WHERE source_record_id = 'addr-0'"),
    ("phone_format", "phone", "number", "UPDATE staging.phone SET number = '12345' WHERE source_record_id = 'phone-0'",
     "UPDATE staging.phone SET number = '+44 (113) 378-5000 ext 12' WHERE source_record_id = 'phone-0'"),
    ("in_uk", "location", "latitude", "UPDATE staging.location SET latitude = 48.85, longitude = 2.35 WHERE source_record_id = 'loc-0'",
     "UPDATE staging.location SET latitude = 51.45, longitude = -2.58 WHERE source_record_id = 'loc-0'"),
    ("enum", "service", "status", "UPDATE staging.service SET status = 'open' WHERE id = {svc}",
     "UPDATE staging.service SET status = 'temporarily closed' WHERE id = {svc}"),
    ("enum", "address", "address_type", "UPDATE staging.address SET address_type = 'Venue' WHERE source_record_id = 'addr-0'",
     "UPDATE staging.address SET address_type = 'postal' WHERE source_record_id = 'addr-0'"),
    ("enum", "location", "location_type", "UPDATE staging.location SET location_type = 'building' WHERE source_record_id = 'loc-0'",
     "UPDATE staging.location SET location_type = 'postal' WHERE source_record_id = 'loc-0'"),
    ("enum", "schedule", "freq", "UPDATE staging.schedule SET freq = 'FORTNIGHTLY' WHERE source_record_id = 'sched-0'",
     "UPDATE staging.schedule SET freq = 'monthly' WHERE source_record_id = 'sched-0'"),
    ("enum", "schedule", "byday", "UPDATE staging.schedule SET byday = 'Monday' WHERE source_record_id = 'sched-0'",
     "UPDATE staging.schedule SET byday = '1MO, -1FR,SU' WHERE source_record_id = 'sched-0'"),
    ("age_range", "service", "minimum_age", "UPDATE staging.service SET minimum_age = 18, maximum_age = 5 WHERE id = {svc}",
     "UPDATE staging.service SET minimum_age = 0, maximum_age = 120 WHERE id = {svc}"),
    ("future_date", "service", "assured_date", "UPDATE staging.service SET assured_date = current_date + 40 WHERE id = {svc}",
     "UPDATE staging.service SET assured_date = current_date WHERE id = {svc}"),
    ("future_date", "service", "last_modified", "UPDATE staging.service SET last_modified = now()::TIMESTAMP + INTERVAL 3 DAY WHERE id = {svc}",
     "UPDATE staging.service SET last_modified = now()::TIMESTAMP WHERE id = {svc}"),
    ("date_order", "schedule", "valid_from", "UPDATE staging.schedule SET valid_from = DATE '2027-01-01' WHERE source_record_id = 'sched-0'",
     "UPDATE staging.schedule SET valid_from = DATE '2026-12-31' WHERE source_record_id = 'sched-0'"),
]


@pytest.mark.parametrize("rule,table,field,fail_sql,pass_sql", CASES, ids=[f"{c[1]}.{c[2]}:{c[0]}" for c in CASES])
def test_rule_fails_then_passes(con, rule, table, field, fail_sql, pass_sql):
    under_test = [r for r in STAGING_RULES if (r.name, r.table, r.field) == (rule, table, field)]
    con.execute(fail_sql.format(svc=SVC0))
    apply_rules(con, RUN, under_test)
    assert issues(con, rule, table, field), fail_sql
    # A re-run replaces the stage's findings, so after the fix the issue is gone.
    con.execute(pass_sql.format(svc=SVC0))
    apply_rules(con, RUN, under_test)
    assert not issues(con, rule, table, field), pass_sql


def test_well_formed_data_raises_no_issue(con):
    counts = apply_rules(con, RUN)
    assert len(counts) >= len(STAGING_RULES) - 1 and not any(counts.values())


def test_every_rule_has_a_case():
    covered = {(r, t, f) for r, t, f, _, _ in CASES} | {("uuid", "service", "id"), ("near_postcode", "location", "latitude")}
    assert {(r.name, r.table, r.field) for r in STAGING_RULES} <= covered


def test_source_ids_must_be_uuids_only_for_oruk_sources(con):
    con.execute("UPDATE staging.service SET source_record_id = 'row-' || source_id || id")
    con.execute("UPDATE ops.source SET kind = 'spreadsheet' WHERE source_id = 'src-b'")
    apply_rules(con, RUN, [r for r in STAGING_RULES if r.name == "uuid"])
    found = [i for i in issues(con, "uuid", "service", "id") if i[2] == "warning"]
    assert len(found) == 2 and {f[0] for f in found} == {"src-a"} and all(f[1].startswith("row-") for f in found)


def test_child_issue_is_recorded_against_its_service(con):
    con.execute("UPDATE staging.address SET postal_code = 'NOT A POSTCODE' WHERE source_record_id = 'addr-1' AND source_id = 'src-b'")
    apply_rules(con, RUN)
    owner = con.execute("""SELECT s.source_record_id FROM staging.service s JOIN staging.service_at_location sal ON sal.service_id = s.id
                           JOIN staging.address a ON a.location_id = sal.location_id
                           WHERE a.source_record_id = 'addr-1' AND a.source_id = 'src-b'""").fetchone()[0]
    assert issues(con, "postcode_format", "address", "postal_code") == [
        ("src-b", owner, "warning", "address.postal_code \"NOT A POSTCODE\" is not a UK postcode")]


def test_swapped_coordinates_are_named(con):
    con.execute("UPDATE staging.location SET latitude = -1.5492, longitude = 53.7997 WHERE source_record_id = 'loc-0' AND source_id = 'src-a'")
    apply_rules(con, RUN)
    assert "look swapped" in issues(con, "in_uk", "location", "latitude")[0][3]


def test_near_postcode_runs_only_with_reference_centroids(con):
    con.execute("UPDATE staging.location SET latitude = 51.45, longitude = -2.58 WHERE source_record_id = 'loc-0' AND source_id = 'src-a'")
    counts = apply_rules(con, RUN)  # no ref.postcode: skipped, the other rules still ran
    assert not any(k.startswith("location.latitude:near_postcode") for k in counts)
    assert "location.latitude:in_uk:warning" in counts
    con.execute("CREATE TABLE ref.postcode (pcds VARCHAR, lat DOUBLE, long DOUBLE)")
    con.execute("INSERT INTO ref.postcode VALUES ('LS1 5HD', 53.7997, -1.5492)")
    apply_rules(con, RUN)
    found = issues(con, "near_postcode", "location", "latitude")
    assert len(found) == 1 and found[0][0] == "src-a" and "km from the centroid of its postcode LS1 5HD" in found[0][3]


def test_rerunning_the_rules_does_not_double_the_issues(con):
    con.execute("UPDATE staging.service SET status = 'open'")
    apply_rules(con, RUN)
    apply_rules(con, RUN)
    assert len(issues(con, "enum", "service", "status")) == 4


def test_blocking_quarantines_only_that_record_and_warnings_flag(con):
    bad = con.execute("SELECT source_id, source_record_id FROM staging.service WHERE source_id = 'src-a' LIMIT 1").fetchone()
    con.execute("UPDATE staging.service SET name = NULL WHERE source_id = ? AND source_record_id = ?", list(bad))
    con.execute("UPDATE staging.service SET status = 'open' WHERE source_id = 'src-b'")
    apply_rules(con, RUN)
    assert quarantine_blocking(con, RUN) == 1
    assert con.execute("SELECT source_id, record_id, rules FROM quality.quarantine").fetchall() == [(bad[0], bad[1], ["required"])]
    assert flag_warnings(con, RUN) == 2
    flags = con.execute("SELECT source_id, flags FROM quality.record_flag ORDER BY record_id").fetchall()
    assert flags == [("src-b", ["service.status:enum"]), ("src-b", ["service.status:enum"])]
