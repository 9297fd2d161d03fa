"""The personal-data guard: detectors (on the real Bristol v1 page and on made-up cases) and the
scrubbing of catalogue.* that holds personal data back from what is published."""
from __future__ import annotations

import json

import duckdb
import pytest

from quality.personal_data import (EMAIL_WITHHELD, PHONE_WITHHELD, detect_in_staging, email_finding, find_in_text,
                                   is_named_individual, mask, record_residue, scrub_catalogue, scrub_text)
from quality.stage import finish_catalogue
from warehouse import bulk
from warehouse.schema import create_all

BRISTOL = "oruk/v1/bristol_openplace_v1_services_page1.json"


@pytest.fixture(scope="module")
def bristol(fixtures_dir):
    return json.loads((fixtures_dir / BRISTOL).read_text(encoding="utf-8"), strict=False)["content"]


@pytest.mark.parametrize("address,reason", [
    ("our2wayst@hotmail.com", "consumer_domain"), ("Bristol.Def@GMAIL.com", "consumer_domain"),
    ("someone@btinternet.com", "consumer_domain"), ("x@yahoo.co.uk", "consumer_domain"), ("y@outlook.com", "consumer_domain"),
    ("oliviaplenty@thecareforum.org.uk", "name_shaped"), ("jo@samaritans.org", "name_shaped"),
    ("jane.smith@leeds.gov.uk", "name_shaped"), ("j.smith@smallcharity.org.uk", "name_shaped"),
])
def test_personal_email_addresses_are_found(address, reason):
    f = email_finding(address)
    assert f is not None and f.kind == "personal_email" and f.reason == reason


@pytest.mark.parametrize("address", [
    "info@bristolmind.org.uk", "adult.care@bristol.gov.uk", "helpline@chinesecws.org.uk", "marketing@leeds.gov.uk",
    "community.meals@bristol.gov.uk", "awp.bass@nhs.net", "enquiries@ncim.org.uk", "test@bristol.openplace.directory",
    "not an email",
])
def test_role_addresses_are_not_personal(address):
    assert email_finding(address) is None


@pytest.mark.parametrize("text,found", [
    ("call 07597922718 today", ["07597922718"]), ("Tel: 07709 295 661.", ["07709 295 661"]),
    ("mobile +44 7813 016911 or", ["+44 7813 016911"]), ("+44 (0)7775-646-671", ["+44 (0)7775-646-671"]),
    ("office 0117 922 2000", []), ("ref 170775646671234", []), ("0800 111 999", []),
])
def test_uk_mobile_numbers_in_text(text, found):
    assert [f.value for f in find_in_text(text) if f.kind == "mobile_number"] == found


@pytest.mark.parametrize("name,expected", [
    ("Mrs Jane Smith", True), ("Jane Smith", True), ("Dr Patel", True), ("Sarah Wilson", True),
    ("Reception", False), ("Duty Team", False), ("Helpline", False), ("Jane Support Team", False), ("", False), (None, False),
])
def test_named_individuals_in_contacts(name, expected):
    assert is_named_individual(name) is expected


def test_mask_never_shows_the_whole_value():
    assert mask("jo@samaritans.org") == "j*@samaritans.org"
    assert mask("oliviaplenty@thecareforum.org.uk") == "o**********y@thecareforum.org.uk"
    assert "597922" not in mask("07597922718")


def test_bristol_page_raw_json_holds_the_known_cases(bristol):
    """The detectors on the raw page: the hotmail address, the mobile in a description, the assurers."""
    emails, mobiles, assurers = set(), set(), set()
    for svc in bristol:
        for f in find_in_text(svc.get("email")):
            emails.add(f.value)
        for f in find_in_text(svc.get("description")):
            (mobiles if f.kind == "mobile_number" else emails).add(f.value)
        for f in find_in_text((svc.get("pc_metadata") or {}).get("assured_by")):
            assurers.add(f.value)
    assert "our2wayst@hotmail.com" in emails
    # Five mobiles, however grouped: 07597922718, 07709 295 661, 07775 646 671, 07813 016 911, 0797 243 7586.
    assert "07597922718" in mobiles and "0797 243 7586" in mobiles and len(mobiles) == 5
    assert "oliviaplenty@thecareforum.org.uk" in assurers and len(assurers) == 5
    assert "test@bristol.openplace.directory" not in assurers


def test_scrub_text_withholds_and_never_substitutes_another_address():
    text = "Email our2wayst@hotmail.com or call 07597922718; office info@leeds.gov.uk"
    assert scrub_text(text) == f"Email {EMAIL_WITHHELD} or call {PHONE_WITHHELD}; office info@leeds.gov.uk"


@pytest.fixture
def catalogue_con():
    con = duckdb.connect()
    _personal_catalogue(con)
    yield con
    con.close()


def _personal_catalogue(con):
    create_all(con)
    con.execute("INSERT INTO catalogue.organization (id, name, email) VALUES ('o1', 'Two Way St', 'hello@2wayst.org.uk'), ('o2', 'Solo', NULL)")
    con.execute("""INSERT INTO catalogue.service (id, organization_id, name, description, email, assurer_email) VALUES
        ('s1', 'o1', 'Two Way St', '<p>Call 07597922718 or email our2wayst@hotmail.com</p>', 'our2wayst@hotmail.com',
         'oliviaplenty@thecareforum.org.uk'),
        ('s2', 'o2', 'Solo group', 'Ask jo@samaritans.org', 'bristoldef@gmail.com', 'danhull@thecareforum.org.uk')""")
    con.execute("INSERT INTO catalogue.contact (id, service_id, name, title, email) VALUES "
                "('c1', 's1', 'Mrs Jane Smith', 'Coordinator', 'jane.smith@2wayst.org.uk'), ('c2', 's2', 'Reception', NULL, 'info@solo.org')")
    con.execute("INSERT INTO catalogue.phone (id, service_id, number) VALUES ('p1', 's1', '07813 016 911'), ('p2', 's1', '0117 922 2000')")
    con.execute("INSERT INTO catalogue.conflict VALUES ('s1', 'email', 'src', 'r1', 'our2wayst@hotmail.com', false)")
    # A table another stage adds to catalogue.* (e.g. match explanations quoting descriptions).
    con.execute("CREATE TABLE catalogue.match_record (service_id VARCHAR, descr VARCHAR)")
    con.execute("INSERT INTO catalogue.match_record VALUES ('s1', 'Call 07597922718 or our2wayst@hotmail.com'), ('s2', 'plain')")
    # An assurer role address at the same domain exists in staging: it must NOT replace the personal one.
    con.execute("INSERT INTO staging.service (id, name, assurer_email, source_id, source_record_id) "
                "VALUES ('x', 'x', 'directory@thecareforum.org.uk', 'src', 'r9')")


def test_scrub_catalogue_holds_back_every_finding(catalogue_con):
    con = catalogue_con
    assert record_residue(con, "r") > 0  # before: the catalogue holds personal data
    out = scrub_catalogue(con, "r")
    assert out["phones_left_out"] == 1 and out["contact_names_left_out"] == 1
    # Personal addresses are left out, never replaced by another address (a guess can name someone else).
    s1 = con.execute("SELECT description, email, assurer_email FROM catalogue.service WHERE id = 's1'").fetchone()
    assert s1 == (f"<p>Call {PHONE_WITHHELD} or email {EMAIL_WITHHELD}</p>", None, None)
    s2 = con.execute("SELECT description, email, assurer_email FROM catalogue.service WHERE id = 's2'").fetchone()
    assert s2 == (f"Ask {EMAIL_WITHHELD}", None, None)
    assert con.execute("SELECT name, title, email FROM catalogue.contact ORDER BY id").fetchall() == [
        (None, "Coordinator", None), ("Reception", None, "info@solo.org")]
    assert con.execute("SELECT number FROM catalogue.phone").fetchall() == [("0117 922 2000",)]
    assert con.execute("SELECT value FROM catalogue.conflict").fetchall() == [(None,)]
    assert con.execute("SELECT descr FROM catalogue.match_record ORDER BY service_id").fetchall() == [
        (f"Call {PHONE_WITHHELD} or {EMAIL_WITHHELD}",), ("plain",)]
    assert record_residue(con, "r") == 0


def test_detect_in_staging_reports_masked_findings_per_source_and_record(catalogue_con):
    con = catalogue_con
    con.execute("""INSERT INTO staging.service (id, name, description, email, source_id, source_record_id, extras) VALUES
        ('a', 'A', 'Text me on 07597922718', 'our2wayst@hotmail.com', 'bristol', 'rec-a',
         '{"description_text": "Text me on 07597922718", "pc_metadata": {"assured_by": "sarahwilson@thecareforum.org.uk"}}')""")
    con.execute("INSERT INTO staging.contact (id, service_id, name, source_id, source_record_id) VALUES ('k', 'a', 'Jane Smith', 'bristol', 'k1')")
    con.execute("INSERT INTO quality.issue (run_id, source_id, record_id, table_name, field, rule, severity, message) "
                "VALUES ('r', 'oa', 'session-1', 'service', 'organizer', 'personal_data', 'info', 'organiser is a Person')")
    detect_in_staging(con, "r")
    rows = con.execute("SELECT source_id, record_id, field, kind, masked FROM quality.personal_data WHERE source_id IN ('bristol', 'oa') "
                       "ORDER BY kind, field").fetchall()
    assert rows == [
        ("bristol", "rec-a", "description", "mobile_number", "075******18"),
        ("bristol", "rec-a", "name", "named_individual", "J. ***"),
        ("oa", "session-1", "organizer", "person_organiser", None),
        ("bristol", "rec-a", "email", "personal_email", "o*******t@hotmail.com"),
        ("bristol", "rec-a", "extras", "personal_email", "s*********n@thecareforum.org.uk"),
    ]
    assert "07597922718" not in json.dumps(con.execute("SELECT * FROM quality.personal_data").fetchall())


def test_identifiers_that_read_like_mobile_numbers_survive_the_scrub(catalogue_con):
    """About one UUID in 10,000 starts '07nnnnnn-nnn': the scrub must leave keys alone (it once masked
    golden ids, and the catalogue's checks refused to publish)."""
    con = catalogue_con
    odd = "07392238-152c-47b6-9617-81b7609c4a01"
    assert scrub_text(odd) != odd                     # as free text it does read like a mobile number
    con.execute("INSERT INTO catalogue.service (id, organization_id, name) VALUES (?, 'o2', 'Chess club')", [odd])
    con.execute("INSERT INTO catalogue.service_source (service_id, source_id, source_record_id, staging_id) "
                "VALUES (?, 'src', '07392238-152c', 'x')", [odd])
    scrub_catalogue(con, "r")
    assert con.execute("SELECT count(*) FROM catalogue.service WHERE id = ?", [odd]).fetchone()[0] == 1
    assert con.execute("SELECT service_id, source_record_id FROM catalogue.service_source").fetchall() == [(odd, "07392238-152c")]
    assert record_residue(con, "r") == 0


def test_the_catalogue_stage_in_batches_of_two_rows_gives_what_one_batch_gives(monkeypatch):
    def finished(batch_rows):
        monkeypatch.setattr(bulk, "BATCH_ROWS", batch_rows)
        con = duckdb.connect()
        _personal_catalogue(con)
        # Seven copies of each service and its records, so that every step reads several batches.
        for table, key in (("service", "id"), ("contact", "service_id"), ("phone", "service_id"), ("conflict", "service_id")):
            cols = [r[0] for r in con.execute(f"DESCRIBE catalogue.{table}").fetchall()]
            picked = ", ".join(f"{c} || '-' || i" if c in ("id", key) else c for c in cols)
            con.execute(f"INSERT INTO catalogue.{table} SELECT {picked} FROM catalogue.{table}, range(6) r(i)")
        con.execute("UPDATE catalogue.service SET fees = 'Â£2 <b>a session</b>' WHERE id LIKE 's1-%'")
        con.execute("INSERT INTO staging.service (id, name, description, email, source_id, source_record_id) "
                    "SELECT 'st' || i, 'A', 'Text me on 07597922718', 'our2wayst@hotmail.com', 'bristol', 'rec-' || i "
                    "FROM range(9) r(i)")
        out = finish_catalogue(con, "r", with_gx=False)
        out.pop("timings")
        tables = [f"{schema}.{name}" for schema, name in con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE schema_name IN ('catalogue', 'quality') "
            "AND table_name <> 'source_health' ORDER BY 1, 2").fetchall()]
        return out, {t: sorted(map(repr, con.execute(f"SELECT * EXCLUDE (detected_at) FROM {t}" if t == "quality.issue"
                                                     else f"SELECT * FROM {t}").fetchall())) for t in tables}

    one_batch, batches_of_two = finished(1_000_000), finished(2)
    assert batches_of_two == one_batch
    out, tables = one_batch
    assert (out["personal_data_phones_left_out"], out["personal_data_contact_names_left_out"]) == (7, 7)
    assert out["sanitised"] == 6 and out["plain_texts"] == 14 and out["personal_data_residue"] == 0
    assert len(tables["quality.personal_data"]) == 9 * 2
