"""The spreadsheet connector end to end: files, URLs, presets, and the 20,000-row acceptance test."""
from __future__ import annotations

import datetime as dt
import random

import duckdb
import pytest
import yaml

from tests.support.faultyserver import FaultyServer, Reply
from tests.support.sheets import directory_rows, harvest_and_normalise, sources_yaml, write_csv, write_xlsx
from warehouse.snapshots import SourceStore

MAPPING = {
    "id": "Ref",
    "columns": {"service.name": "Service Name", "organization.name": "Organisation",
                "service.fees": "Cost", "address.address_1": "Address 1", "address.postal_code": "Postcode",
                "schedule.byday": "Day", "schedule.opens_at": "Start", "schedule.closes_at": "End"},
}


def _q(snapshot, sql):
    with duckdb.connect(str(snapshot), read_only=True) as con:
        return con.execute(sql).fetchall()


def _setup(tmp_path, data: str, mapping: dict | str = None, **extra):
    if isinstance(mapping, dict) or mapping is None:
        (tmp_path / "mapping.yaml").write_text(yaml.safe_dump(mapping or MAPPING), encoding="utf-8")
        mapping = "mapping.yaml"
    entry = {"id": "council-sheet", "kind": "spreadsheet", "mapping": mapping, "publisher": "Hounslow Council", **extra}
    entry["url" if data.startswith("http") else "path"] = data
    return sources_yaml(tmp_path, [entry])


def test_windows_1252_csv_reads_pound_and_e_acute(tmp_path):
    write_csv(tmp_path / "export.csv", ["Ref", "Service Name", "Organisation", "Cost", "Address 1", "Postcode"],
              [["1", "Café Crème lunch club", "Église St Marie", "£3.50 a session", "1 Rue Street", "TW3 1AA"]],
              encoding="cp1252")
    mapping = {"id": "Ref", "columns": {k: v for k, v in MAPPING["columns"].items() if not k.startswith("schedule.")}}
    h, n, snap = harvest_and_normalise(_setup(tmp_path, "export.csv", mapping), tmp_path / "state")
    assert h.stats["encoding"] == "cp1252"
    assert _q(snap, "SELECT s.name, s.fees, o.name FROM staging.service s JOIN staging.organization o "
                    "ON o.id = s.organization_id") == [("Café Crème lunch club", "£3.50 a session", "Église St Marie")]


def test_an_unchanged_file_is_not_reloaded(tmp_path):
    write_csv(tmp_path / "s.csv", ["Ref", "Service Name"], [["1", "A"]])
    sources = _setup(tmp_path, "s.csv", {"id": "Ref", "columns": {"service.name": "Service Name"}})
    h1, _, snap1 = harvest_and_normalise(sources, tmp_path / "state", run_id="r1")
    h2, _, snap2 = harvest_and_normalise(sources, tmp_path / "state", run_id="r2")
    assert (h1.status, h2.status) == ("ok", "unchanged") and snap1 == snap2


def test_a_bad_file_keeps_the_last_good_snapshot(tmp_path):
    write_csv(tmp_path / "s.csv", ["Ref", "Service Name"], [["1", "A"]])
    sources = _setup(tmp_path, "s.csv", {"id": "Ref", "columns": {"service.name": "Service Name"}})
    _h, _n, good = harvest_and_normalise(sources, tmp_path / "state", run_id="r1")
    (tmp_path / "s.csv").write_bytes(b"PK\x03\x04 not really a workbook")
    h, _n, snap = harvest_and_normalise(sources, tmp_path / "state", run_id="r2")
    assert h.status == "failed" and "s.csv: looks like a zip/XLSX file but is damaged" in h.message
    assert snap == good
    assert SourceStore(tmp_path / "state", "council-sheet").read_status()["status"] == "failed"


def test_a_spreadsheet_by_url_through_the_shared_http_client(tmp_path):
    p = write_xlsx(tmp_path / "served.xlsx", ["Ref", "Service Name", "Postcode"], [[1, "Food bank", "TW3 1AA"]])
    body = p.read_bytes()
    xlsx_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    with FaultyServer() as srv:
        srv.route("/exports/services.xlsx", lambda q, h: Reply.raw(body, content_type=xlsx_type, ETag='"v1"'))
        srv.fault("/exports/services.xlsx", "status", code=503, times=1)
        sources = _setup(tmp_path, f"{srv.url}/exports/services.xlsx",
                         {"id": "Ref", "columns": {"service.name": "Service Name", "address.postal_code": "Postcode"}})
        h, n, snap = harvest_and_normalise(sources, tmp_path / "state")
        assert h.status == "ok" and srv.count("/exports/services.xlsx") == 2  # retried after the 503
        assert _q(snap, "SELECT name FROM staging.service") == [("Food bank",)]
        srv.route("/exports/login", lambda q, h: Reply.raw("<!DOCTYPE html><html><body>Sign in</body></html>",
                                                            content_type="text/html"))
        sources = _setup(tmp_path, f"{srv.url}/exports/login", {"columns": {"service.name": "Service Name"}})
        h, _n, _snap = harvest_and_normalise(sources, tmp_path / "state2")
        assert h.status == "failed" and "served an HTML page instead of a spreadsheet" in h.message


# -- regulators' exports ------------------------------------------------------------------------------
CQC_HEADER = ["Name", "Also known as", "Address", "Postcode", "Phone number", "Service's website (if available)",
              "Service types", "Date of latest check", "Specialisms/services", "Provider name", "Local authority",
              "Region", "Location URL", "CQC Location ID (for office use only)", "CQC Provider ID (for office use only)"]


def test_cqc_care_directory_preset(tmp_path):
    write_csv(tmp_path / "cqc.csv", CQC_HEADER, [
        ["Cedar House", "", "12 Cedar Road, Hounslow", "TW3 1AA", "02085831234", "www.cedarhouse.example",
         "Residential homes|Nursing homes", "01/02/2024", "Dementia|Caring for adults over 65 yrs", "Cedar Care Ltd",
         "Hounslow", "London", "https://www.cqc.org.uk/location/1-101", "1-101", "1-900"],
        ["Cedar Home Care", "", "Unit 4, Bath Road, Hounslow", "TW4 7AB", "02085839999", "",
         "Homecare agencies", "15/03/2023", "", "Cedar Care Ltd", "Hounslow", "London",
         "https://www.cqc.org.uk/location/1-102", "1-102", "1-900"],
    ], title_rows=[["Care directory with filters"], ["Data as at 01 May 2024"], [], []])
    sources = _setup(tmp_path, "cqc.csv", "preset:cqc_care_directory")
    h, n, snap = harvest_and_normalise(sources, tmp_path / "state")
    assert n.status == "ok" and n.records_in == 2
    assert _q(snap, "SELECT identifier_scheme, identifier_type, identifier FROM staging.organization_identifier") == \
        [("CQC", "CQC provider ID", "1-900")]
    assert _q(snap, "SELECT name FROM staging.organization") == [("Cedar Care Ltd",)]
    locs = _q(snap, "SELECT name, external_identifier, external_identifier_type FROM staging.location ORDER BY 2")
    assert locs == [("Cedar House", "1-101", "CQC location ID"), ("Cedar Home Care", "1-102", "CQC location ID")]
    svc = _q(snap, "SELECT name, url, assured_date FROM staging.service ORDER BY name")
    assert svc == [("Cedar Home Care", None, dt.date(2023, 3, 15)),
                   ("Cedar House", "https://www.cedarhouse.example", dt.date(2024, 2, 1))]
    terms = _q(snap, """SELECT t.name, t.term_uri FROM staging.attribute a JOIN staging.service s ON s.id = a.link_id
                        JOIN staging.taxonomy_term t ON t.id = a.taxonomy_term_id WHERE s.name = 'Cedar House' ORDER BY 1""")
    assert ("Residential homes", None) in terms and ("Dementia", None) in terms
    assert ("LGA service type 292", "http://id.esd.org.uk/service/292") in terms
    from connectors.config import load_sources
    assert load_sources(sources).sources[0].role == "regulator"


OFSTED_HEADER = ["Provider URN", "Provider type", "Provider subtype", "Registration date", "Provider status",
                 "Provider name", "Provider address line 1", "Provider address line 2", "Provider town",
                 "Provider postcode", "Local authority", "Region"]


def test_ofsted_childcare_preset_with_redacted_childminders(tmp_path):
    write_xlsx(tmp_path / "ofsted.xlsx", OFSTED_HEADER, [
        ["EY123456", "Childcare on non-domestic premises", "Full day care", dt.date(2012, 4, 1), "Active",
         "Little Acorns Nursery", "St Mary's Hall", "Church Road", "Hounslow", "TW3 1AA", "Hounslow", "London"],
        ["EY654321", "Childminder", "", dt.date(2019, 9, 1), "Active",
         "REDACTED", "REDACTED", "REDACTED", "REDACTED", "REDACTED", "Hounslow", "London"],
        ["EY777777", "Childcare on non-domestic premises", "Sessional day care", dt.date(2001, 1, 1), "Resigned",
         "Old Playgroup", "The Hut", None, "Feltham", "TW13 4AA", "Hounslow", "London"],
    ], sheet="Childcare providers", title_rows=[["Childcare providers and inspections as at 31 March 2024"], []])
    sources = _setup(tmp_path, "ofsted.xlsx", "preset:ofsted_childcare")
    h, n, snap = harvest_and_normalise(sources, tmp_path / "state")
    assert n.status == "ok" and n.records_in == 2
    assert _q(snap, "SELECT name, status FROM staging.service ORDER BY name") == \
        [("Little Acorns Nursery", "active"), ("Old Playgroup", "defunct")]
    assert sorted(_q(snap, "SELECT identifier_type, identifier FROM staging.organization_identifier")) == \
        [("Ofsted URN", "EY123456"), ("Ofsted URN", "EY777777")]
    assert sorted(_q(snap, "SELECT external_identifier FROM staging.location")) == [("EY123456",), ("EY777777",)]
    assert _q(snap, "SELECT address_1, city, postal_code FROM staging.address ORDER BY city DESC") == \
        [("St Mary's Hall, Church Road", "Hounslow", "TW3 1AA"), ("The Hut", "Feltham", "TW13 4AA")]
    ((msg,),) = _q(snap, "SELECT message FROM quality.issue WHERE record_id = 'EY654321'")
    assert msg == ("ofsted.xlsx, sheet 'Childcare providers', row 5: service.name (column 'Provider name') is empty; "
                   "the row was not loaded")
    assert not _q(snap, "SELECT * FROM staging.organization WHERE name = 'REDACTED'")


# -- acceptance: 20,000 rows, 1% bad -----------------------------------------------------------------
@pytest.mark.slow
def test_20000_row_xlsx_with_1_percent_bad_rows(tmp_path):
    rows = directory_rows(20_000, seed=20)
    rnd = random.Random(7)
    bad = sorted(rnd.sample(range(20_000), 200))
    kinds = {}
    body = []
    for i, r in enumerate(rows):
        name, opens = r["service"], r["opens"]
        if i in bad:
            kind = ("no name", "bad time")[len(kinds) % 2]
            kinds[i] = kind
            if kind == "no name":
                name = None
            else:
                opens = "25:61"
        body.append([r["ref"], name, r["organisation"], r["address1"], r["postcode"], r["day"], opens, r["closes"]])
    header = ["Ref", "Service Name", "Organisation", "Address 1", "Postcode", "Day", "Start", "End"]
    write_xlsx(tmp_path / "big.xlsx", header, body, title_rows=[["Directory export"], []], write_only=True)
    mapping = {"id": "Ref", "columns": {k: v for k, v in MAPPING["columns"].items() if k != "service.fees"}}
    h, n, snap = harvest_and_normalise(_setup(tmp_path, "big.xlsx", mapping), tmp_path / "state")
    assert h.status == "ok" and h.stats["rows"] == 20_000, h.message
    no_name = [i for i, k in kinds.items() if k == "no name"]
    assert n.records_in == 20_000 - len(no_name)  # every good row (and rows with only a bad cell) loads
    issues = {rid: (sev, msg) for rid, sev, msg in _q(snap, "SELECT record_id, severity, message FROM quality.issue")}
    assert len(issues) == 200
    for i, kind in kinds.items():
        row_number = i + 4  # two title rows, the header, then data from row 4
        sev, msg = issues[rows[i]["ref"]]
        if kind == "no name":
            assert (sev, msg) == ("blocking", f"big.xlsx, sheet 'Services', row {row_number}: service.name "
                                              f"(column 'Service Name') is empty; the row was not loaded")
        else:
            assert (sev, msg) == ("warning", f"big.xlsx, sheet 'Services', row {row_number}, column 'Start': '25:61' "
                                             f"is not a valid time (e.g. 09:30) for schedule.opens_at; left empty")
    loaded = {r for (r,) in _q(snap, "SELECT source_record_id FROM staging.service")}
    assert loaded == {r["ref"] for i, r in enumerate(rows) if kinds.get(i) != "no name"}


# -- broken files: rows lost are quarantined by line, and the night says so ---------------------------
ROWS_MAPPING = {"id": "Ref", "columns": {"service.name": "Service Name", "service.description": "Notes"}}


def _issues(snapshot, rule=None):
    where = f"WHERE rule = '{rule}'" if rule else ""
    return _q(snapshot, f"SELECT record_id, rule, severity, message FROM quality.issue {where} ORDER BY record_id")


def test_an_unterminated_quote_quarantines_its_line_and_the_night_is_degraded(tmp_path):
    """The report's file: 66 services, an unterminated quote on one line; 6 loaded, status ok."""
    lines = ["Ref,Service Name,Town,Notes"] + [f"{i},Service {i},Leeds,note {i}" for i in range(1, 67)]
    lines[7] = '7,"Service 7,Leeds,note 7'
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    h, n, snap = harvest_and_normalise(_setup(tmp_path, "d.csv", ROWS_MAPPING), tmp_path / "state")
    assert h.status == "ok" and "66 rows" in h.message and "1 of them unreadable" in h.message
    assert n.status == "degraded" and n.records_in == 65 and n.records_quarantined == 1
    assert "1 row(s) of the file could not be read" in n.message
    assert _q(snap, "SELECT count(*) FROM staging.service")[0][0] == 65
    [(record_id, _rule, severity, message)] = _issues(snap, "unreadable_row")
    assert (record_id, severity) == ("@row8", "blocking")
    assert message.startswith("d.csv, line 8: a quote opened here") and message.endswith("the row was not loaded")
    status = SourceStore(tmp_path / "state", "council-sheet").read_status()
    assert status["status"] == "degraded" and status["last_good_at"]  # it answered: not counted stale
    assert _q(snap, "SELECT record_type, payload->>'text' FROM raw.record WHERE record_id = '@row8'") == [
        ("unreadable_row", '7,"Service 7,Leeds,note 7\n')]


def test_text_over_the_documented_limits_is_cut_and_reported(tmp_path):
    from connectors.staging import DESCRIPTION_LIMIT, NAME_LIMIT

    write_csv(tmp_path / "long.csv", ["Ref", "Service Name", "Notes"],
              [["1", "N" * 100_000, "fine"], ["2", "Short", "D" * 50_000], ["3", "Normal", "normal"]])
    _h, n, snap = harvest_and_normalise(_setup(tmp_path, "long.csv", ROWS_MAPPING), tmp_path / "state")
    assert n.status == "ok" and n.records_in == 3
    lengths = dict(_q(snap, "SELECT source_record_id, length(name) || '/' || length(description) FROM staging.service"))
    assert lengths == {"1": f"{NAME_LIMIT}/4", "2": f"5/{DESCRIPTION_LIMIT}", "3": "6/6"}
    assert _q(snap, "SELECT right(name, 1) FROM staging.service WHERE source_record_id = '1'") == [("…",)]
    cut = _issues(snap, "length")
    assert [(r[0], r[2]) for r in cut] == [("1", "warning"), ("2", "warning")]
    assert "service.name: 100,000 characters, over the 500-character limit; cut to 500" in cut[0][3]


def test_a_time_range_fills_both_times_whichever_field_it_was_mapped_to(tmp_path):
    write_csv(tmp_path / "t.csv", ["Ref", "Service Name", "Times", "Checked"],
              [["1", "Toddlers", "10:00-13:00", "2024-01-01"], ["2", "Lunch", "9am - 5pm", "2024-01-01 and later"],
               ["3", "Walk", "14:00", ""]])
    mapping = {"id": "Ref", "columns": {"service.name": "Service Name", "schedule.closes_at": "Times",
                                        "service.assured_date": "Checked"}}
    _h, n, snap = harvest_and_normalise(_setup(tmp_path, "t.csv", mapping), tmp_path / "state")
    assert n.status == "ok"
    got = _q(snap, "SELECT s.source_record_id, h.opens_at, h.closes_at FROM staging.schedule h "
                   "JOIN staging.service s ON s.id = h.service_id ORDER BY 1")
    assert got == [("1", dt.time(10), dt.time(13)), ("2", dt.time(9), dt.time(17)), ("3", None, dt.time(14))]
    # A value read only in part is not stored in part: reported, and left empty.
    assert _q(snap, "SELECT source_record_id, assured_date FROM staging.service ORDER BY 1") == [
        ("1", dt.date(2024, 1, 1)), ("2", None), ("3", None)]
    [(rid, _rule, _sev, message)] = _issues(snap, "type")
    assert rid == "2" and "'2024-01-01 and later' is not a valid date" in message


AGES_MAPPING = {"id": "Ref", "columns": {"service.name": "Service Name", "service.minimum_age": "Age Range",
                                         "service.maximum_age": "Age Range", "service.last_modified": "Last Updated"}}


def test_an_age_range_fills_both_ages_and_last_updated_is_read_day_first(tmp_path):
    """dev-2026's VCS spreadsheet: "Age Range" ('18+', '0-4') and "Last Updated" ('28/09/2022') were left unread."""
    write_csv(tmp_path / "vcs.csv", ["Ref", "Service Name", "Age Range", "Last Updated"], [
        ["1", "Pilates", "16+", "28/09/2022"], ["2", "Stay and play", "0-4", "01/02/2023"],
        ["3", "Juniors", "5 to 11", "03/03/2024 14:30"], ["4", "Rhyme time", "Under 5s", "2024-05-06"],
        ["5", "Lunch club", "Over 50s", ""], ["6", "Walk", "All ages", ""], ["7", "Quiz", "", ""],
        ["8", "Play", "Toddlers", "last week"], ["9", "Youth", "16", ""]])
    _h, n, snap = harvest_and_normalise(_setup(tmp_path, "vcs.csv", AGES_MAPPING), tmp_path / "state")
    assert n.status == "ok" and n.records_in == 9
    got = _q(snap, "SELECT source_record_id, minimum_age, maximum_age, last_modified FROM staging.service ORDER BY 1")
    assert got == [("1", 16, None, dt.datetime(2022, 9, 28)), ("2", 0, 4, dt.datetime(2023, 2, 1)),
                   ("3", 5, 11, dt.datetime(2024, 3, 3, 14, 30)), ("4", None, 4, dt.datetime(2024, 5, 6)),
                   ("5", 50, None, None), ("6", None, None, None), ("7", None, None, None),
                   ("8", None, None, None), ("9", None, None, None)]
    # What cannot be read is said once per cell, naming its column and value, and the row still loads;
    # a lone number in a column of ranges could be 16 only or 16 and over, so it is not guessed at.
    assert sorted((rid, sev, msg) for rid, _rule, sev, msg in _issues(snap, "type")) == [
        ("8", "warning", "vcs.csv, row 9, column 'Age Range': 'Toddlers' is not an age range (e.g. 0-4, 18+, "
                         "Under 5s, All ages) for service.minimum_age and service.maximum_age; left empty"),
        ("8", "warning", "vcs.csv, row 9, column 'Last Updated': 'last week' is not a valid date and time for "
                         "service.last_modified; left empty"),
        ("9", "warning", "vcs.csv, row 10, column 'Age Range': '16' is not an age range (e.g. 0-4, 18+, "
                         "Under 5s, All ages) for service.minimum_age and service.maximum_age; left empty"),
    ]
    assert _issues(snap, "value") == []


def test_an_age_column_that_disagrees_with_the_range_is_overruled_with_a_warning(tmp_path):
    write_csv(tmp_path / "a.csv", ["Ref", "Service Name", "Min age", "Ages"],
              [["1", "Juniors", "4", "5-11"], ["2", "Adults", "18", "18+"], ["3", "Tots", "1", ""],
               ["4", "Teens", "", "13-19"]])
    mapping = {"id": "Ref", "columns": {"service.name": "Service Name", "service.minimum_age": "Min age",
                                        "service.maximum_age": "Ages"}}
    _h, n, snap = harvest_and_normalise(_setup(tmp_path, "a.csv", mapping), tmp_path / "state")
    assert n.status == "ok"
    got = _q(snap, "SELECT source_record_id, minimum_age, maximum_age FROM staging.service ORDER BY 1")
    # A plain number in a column mapped to one age is read as before.
    assert got == [("1", 5, 11), ("2", 18, None), ("3", 1, None), ("4", 13, 19)]
    assert [(rid, sev, msg) for rid, _rule, sev, msg in _issues(snap, "value")] == [
        ("1", "warning", "a.csv, row 2: service.minimum_age is 4 but the age range in column 'Ages' says 5; "
                         "kept the range")]


def test_monthly_days_weekdays_and_plural_days_become_schedules(tmp_path):
    """dev-2026's VCS sheet: 73 rows say '2nd Tuesday of month' or 'Last Friday of month', 13 'Weekdays';
    all were unread days and no schedule. A monthly day is RRULE's '2TU' with freq MONTHLY."""
    write_csv(tmp_path / "days.csv", ["Ref", "Service Name", "Day", "Start"], [
        ["1", "Carers group", "2nd Tuesday of month", "10:00"], ["2", "Book club", "Last Friday of the month", "19:00"],
        ["3", "Advice", "Weekdays", "09:30"], ["4", "Swim", "Tuesdays", "18:00"],
        ["5", "Choir", "1st and 3rd Monday of each month", "19:30"], ["6", "Quiz", "Fortnightly", "20:00"]])
    mapping = {"id": "Ref", "columns": {"service.name": "Service Name", "schedule.byday": "Day", "schedule.opens_at": "Start"}}
    _h, n, snap = harvest_and_normalise(_setup(tmp_path, "days.csv", mapping), tmp_path / "state")
    assert n.status == "ok"
    got = _q(snap, """SELECT s.source_record_id, c.freq, c.byday FROM staging.schedule c
                      JOIN staging.service s ON s.id = c.service_id ORDER BY 1""")
    assert got == [("1", "MONTHLY", "2TU"), ("2", "MONTHLY", "-1FR"), ("3", "WEEKLY", "MO,TU,WE,TH,FR"),
                   ("4", "WEEKLY", "TU"), ("5", "MONTHLY", "1MO,3MO"), ("6", None, None)]  # 6: its time only
    [(rid, _rule, _sev, message)] = _issues(snap, "value")
    assert rid == "6" and "'Fortnightly' is not a day of the week" in message
