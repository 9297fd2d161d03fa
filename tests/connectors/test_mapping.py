"""Mapping files: validation, every kind of column mapping, and stable row ids."""
from __future__ import annotations

import datetime as dt
import random

import duckdb
import pytest
import yaml

from connectors.cells import parse_days
from warehouse.model import BYDAYS
from connectors.config import ConfigError, load_sources
from connectors.mapping import MappingError, load_mapping, parse_mapping
from tests.support.sheets import harvest_and_normalise, sources_yaml, write_csv, write_xlsx


def _mapping(tmp_path, doc: dict, name: str = "mapping.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return p


def _source(tmp_path, data_file: str, mapping: str = "mapping.yaml", **extra):
    return sources_yaml(tmp_path, [{"id": "council-sheet", "kind": "spreadsheet", "path": data_file,
                                    "mapping": mapping, "publisher": "Hounslow Council", **extra}])


def _q(snapshot, sql):
    with duckdb.connect(str(snapshot), read_only=True) as con:
        return con.execute(sql).fetchall()


# -- validation ---------------------------------------------------------------------------------
def test_missing_columns_are_named_before_loading_and_last_snapshot_kept(tmp_path):
    write_csv(tmp_path / "s.csv", ["Ref", "Service Name", "Tel"], [["1", "Food bank", "020 8583 2000"]])
    _mapping(tmp_path, {"id": "Ref", "columns": {"service.name": "Service Name", "phone.number": "Telephone",
                                                 "schedule.byday": "Day"}})
    h, _n, snap = harvest_and_normalise(_source(tmp_path, "s.csv"), tmp_path / "state")
    assert h.status == "failed" and snap is None
    assert "names column(s) this file does not have: 'Telephone' (for phone.number; did you mean 'Tel'?); " \
           "'Day' (for schedule.byday)" in h.message
    assert "\n" not in h.message


def test_column_names_match_whatever_the_case_and_spacing(tmp_path):
    write_csv(tmp_path / "s.csv", ["REF", "service  name "], [["1", "Food bank"]])
    _mapping(tmp_path, {"id": "Ref", "columns": {"service.name": "Service Name"}})
    h, n, snap = harvest_and_normalise(_source(tmp_path, "s.csv"), tmp_path / "state")
    assert n.status == "ok"
    assert _q(snap, "SELECT source_record_id, name FROM staging.service") == [("1", "Food bank")]


@pytest.mark.parametrize("doc,message", [
    ({"columns": {"service.nmae": "Name"}}, r"service has no field 'nmae'"),
    ({"columns": {"servise.name": "Name"}}, r"'servise' is not an ORUK object"),
    ({"columns": {"service.name": 12}}, r"columns.service.name: expected a column name"),
    ({"columns": {"organization.name": "Org"}}, r"no column is mapped to service.name"),
    ({"columns": {"service.name": {"column": "N", "splitt": ","}}}, r"unknown option 'splitt'"),
    ({"mapping": {}}, r"needs a 'columns:' section"),
])
def test_bad_mapping_files_get_one_line(tmp_path, doc, message):
    with pytest.raises(MappingError, match=message):
        parse_mapping(doc, "m.yaml")


def test_mapping_file_not_found_and_unknown_preset(tmp_path):
    with pytest.raises(MappingError, match=r"mapping file not found; .*placecat mapping suggest"):
        load_mapping("nope.yaml", tmp_path)
    with pytest.raises(MappingError, match=r"no such preset; the presets are cqc_care_directory, ofsted_childcare"):
        load_mapping("preset:cqc")


# -- what a mapping can say --------------------------------------------------------------------------
def test_constants_joins_splits_value_maps_formats_and_categories(tmp_path):
    header = ["Ref", "Service", "Org", "Addr 1", "Addr 2", "Postcode", "Phones", "Days", "Start", "End",
              "From date", "Categories", "Min age", "Notes"]
    write_xlsx(tmp_path / "s.xlsx", header, [
        ["A1", "Food bank", "St Mary's", "1 High St", "Unit 2", "tw3 1aa", "020 8583 2000 / 07700 900123",
         "Mon, Wed", "9.30", "12.00", "01/05/24", "Food bank; Advice", 18, "ring first"],
        ["A2", "Baby massage", "St Mary's", "1 High St", None, "TW3 1AA", 1132224444, "Tuesday to Thursday",
         0.625, "5pm", 45413, "Baby", "ten", None],
    ])
    _mapping(tmp_path, {
        "id": "Ref",
        "columns": {
            "service.name": "Service", "organization.name": "Org",
            "address.address_1": ["Addr 1", "Addr 2"], "address.postal_code": "Postcode",
            "phone.number": {"column": "Phones", "split": "/"},
            "schedule.byday": {"column": "Days", "split": ","},
            "schedule.opens_at": {"column": "Start", "format": "%H.%M"},
            "schedule.closes_at": "End",
            "schedule.valid_from": {"column": "From date", "format": "%d/%m/%y"},
            "taxonomy_term.name": {"column": "Categories", "split": ";"},
            "service.minimum_age": "Min age",
        },
        "constants": {"service.status": "active", "address.city": "Hounslow"},
        "values": {"taxonomy_term.name": {"Baby": "Baby and toddler"}},
        "categories": {"Food bank": "Food banks", "Baby and toddler": 1119},
    })
    h, n, snap = harvest_and_normalise(_source(tmp_path, "s.xlsx"), tmp_path / "state")
    assert h.status == "ok" and n.status == "ok"
    svc = dict(_q(snap, "SELECT source_record_id, name FROM staging.service"))
    assert svc == {"A1": "Food bank", "A2": "Baby massage"}
    # one organisation for both rows
    assert _q(snap, "SELECT name FROM staging.organization") == [("St Mary's",)]
    addr = sorted(_q(snap, "SELECT address_1, postal_code, city FROM staging.address"))
    assert addr == [("1 High St", "TW3 1AA", "Hounslow"), ("1 High St, Unit 2", "TW3 1AA", "Hounslow")]
    phones = sorted(_q(snap, """SELECT s.source_record_id, p.number FROM staging.phone p
                                JOIN staging.service s ON s.id = p.service_id"""))
    # a split cell makes two phones; a number that lost its leading zero in Excel gets it back
    assert phones == [("A1", "020 8583 2000"), ("A1", "07700 900123"), ("A2", "01132224444")]
    sched = dict((r[0], r[1:]) for r in _q(snap, """SELECT s.source_record_id, byday, freq, opens_at, closes_at, valid_from
                                                  FROM staging.schedule c JOIN staging.service s ON s.id = c.service_id"""))
    assert sched["A1"] == ("MO,WE", "WEEKLY", dt.time(9, 30), dt.time(12, 0), dt.date(2024, 5, 1))
    # an Excel time fraction (whatever the format says), "5pm", and a date serial in a General cell
    assert sched["A2"][0] == "TU,WE,TH" and sched["A2"][2:] == (dt.time(15, 0), dt.time(17, 0), dt.date(2024, 5, 1))
    terms = sorted(_q(snap, """SELECT s.source_record_id, t.name, t.taxonomy, t.term_uri FROM staging.attribute a
                               JOIN staging.service s ON s.id = a.link_id
                               JOIN staging.taxonomy_term t ON t.id = a.taxonomy_term_id"""))
    assert terms == [
        ("A1", "Advice", "local", None), ("A1", "Food bank", "local", None),
        ("A1", "Food banks", "LGA service types", None),
        ("A2", "Baby and toddler", "local", None),
        ("A2", "LGA service type 1119", "LGA service types", "http://id.esd.org.uk/service/1119"),
    ]
    # unmapped columns are kept in extras
    extras = dict(_q(snap, "SELECT source_record_id, extras->>'Notes' FROM staging.service"))
    assert extras["A1"] == "ring first"
    issues = _q(snap, "SELECT record_id, table_name, field, severity, message FROM quality.issue ORDER BY 1, 3")
    assert issues == [
        ("A2", "service", "minimum_age", "warning",
         "s.xlsx, sheet 'Services', row 3, column 'Min age': 'ten' is not a valid number for service.minimum_age; left empty"),
    ]


def test_organisation_with_several_services_on_one_row(tmp_path):
    write_csv(tmp_path / "orgs.csv", ["Organisation", "Postcode", "Service 1", "Details 1", "Service 2", "Details 2"], [
        ["Age UK Hounslow", "TW3 1AA", "Lunch club", "Hot meals", "Memory café", "For carers too"],
        ["Feltham Rotary", "TW13 4AA", "Litter pick", "Saturdays", "", ""],
    ])
    _mapping(tmp_path, {
        "key": ["Organisation"],
        "columns": {"organization.name": "Organisation", "address.postal_code": "Postcode"},
        "services": [{"service.name": "Service 1", "service.description": "Details 1"},
                     {"service.name": "Service 2", "service.description": "Details 2"}],
    })
    h, n, snap = harvest_and_normalise(_source(tmp_path, "orgs.csv"), tmp_path / "state")
    assert n.status == "ok" and n.records_in == 3
    rows = _q(snap, """SELECT o.name, s.name, s.description, a.postal_code FROM staging.service s
                       JOIN staging.organization o ON o.id = s.organization_id
                       JOIN staging.service_at_location sl ON sl.service_id = s.id
                       JOIN staging.address a ON a.location_id = sl.location_id ORDER BY 2""")
    assert rows == [("Feltham Rotary", "Litter pick", "Saturdays", "TW13 4AA"),
                    ("Age UK Hounslow", "Lunch club", "Hot meals", "TW3 1AA"),
                    ("Age UK Hounslow", "Memory café", "For carers too", "TW3 1AA")]
    assert _q(snap, "SELECT count(*) FROM quality.issue") == [(0,)]


def test_row_ids_from_a_key_survive_reordering_adding_and_removing_rows(tmp_path):
    _mapping(tmp_path, {"key": ["Service", "Postcode"],
                        "columns": {"service.name": "Service", "address.postal_code": "Postcode"}})
    rows = [[f"Service {i}", f"TW{i % 9 + 1} 1AA"] for i in range(30)]
    write_csv(tmp_path / "s.csv", ["Service", "Postcode"], rows)
    _h, _n, snap1 = harvest_and_normalise(_source(tmp_path, "s.csv"), tmp_path / "state", run_id="r1")
    first = dict(_q(snap1, "SELECT name, source_record_id FROM staging.service"))
    # next month's export: shuffled, three rows gone, two new ones, the header moved about
    later = rows[3:] + [["New service A", "TW1 2BB"], ["New service B", "TW2 3CC"]]
    random.Random(1).shuffle(later)
    write_csv(tmp_path / "s.csv", ["Postcode", "Service"], [[pc, name] for name, pc in later])
    _h, _n, snap2 = harvest_and_normalise(_source(tmp_path, "s.csv"), tmp_path / "state", run_id="r2")
    second = dict(_q(snap2, "SELECT name, source_record_id FROM staging.service"))
    assert len(second) == 29
    for name, rid in second.items():
        if name in first:
            assert rid == first[name]
    assert len(set(second.values())) == 29


def test_rows_without_id_and_duplicate_ids_are_reported_with_their_row(tmp_path):
    write_csv(tmp_path / "s.csv", ["Ref", "Service"], [["1", "A"], ["", "B"], ["1", "C"], ["2", ""]],
              title_rows=[["Export"]])
    _mapping(tmp_path, {"id": "Ref", "columns": {"service.name": "Service"}})
    _h, n, snap = harvest_and_normalise(_source(tmp_path, "s.csv"), tmp_path / "state")
    assert _q(snap, "SELECT source_record_id, name FROM staging.service") == [("1", "A")]
    msgs = sorted(m for (m,) in _q(snap, "SELECT message FROM quality.issue WHERE severity = 'blocking'"))
    assert msgs == [
        "s.csv, row 4: its id column 'Ref' is empty; give every row an id; the row was not loaded",
        "s.csv, row 5: has the same id (1) as row 3; the row was not loaded. Give each row its own id "
        "(or choose key columns that tell rows apart)",
        "s.csv, row 6: service.name (column 'Service') is empty; the row was not loaded",
    ]


def test_days_of_the_week():
    assert parse_days("Mon, Wed") == (["MO", "WE"], [])
    assert parse_days("Monday to Friday") == (["MO", "TU", "WE", "TH", "FR"], [])
    assert parse_days("Sat-Mon") == (["SA", "SU", "MO"], [])
    assert parse_days("Tues & Thurs") == (["TU", "TH"], [])
    assert parse_days("Funday") == ([], ["Funday"])


def test_presets_make_sources_regulators_unless_told_otherwise(tmp_path):
    (tmp_path / "cqc.csv").write_text("x", encoding="utf-8")
    p = sources_yaml(tmp_path, [
        {"id": "cqc", "kind": "spreadsheet", "path": "cqc.csv", "mapping": "preset:cqc_care_directory",
         "publisher": "Care Quality Commission"},
        {"id": "ofsted", "kind": "spreadsheet", "path": "o.csv", "mapping": "preset:ofsted_childcare",
         "publisher": "Ofsted", "role": "assurer"},
        {"id": "local", "kind": "spreadsheet", "path": "l.csv", "mapping": "m.yaml", "publisher": "Council"},
    ])
    cfg = load_sources(p)
    assert [s.role for s in cfg.sources] == ["regulator", "assurer", "none"]


def test_sql_url_with_a_password_in_it_is_refused_but_an_env_var_is_fine(tmp_path):
    base = {"id": "db", "kind": "sql", "table": "t", "mapping": "m.yaml", "publisher": "Supplier"}
    with pytest.raises(ConfigError, match="contains a password"):
        load_sources(sources_yaml(tmp_path, [{**base, "url": "postgresql://u:secret@h/db"}]))
    cfg = load_sources(sources_yaml(tmp_path, [{**base, "url": "postgresql://u:${DIR_PASSWORD}@h/db"}]))
    assert cfg.sources[0].url == "postgresql://u:${DIR_PASSWORD}@h/db"


def test_duplicate_ids_are_found_across_chunks(tmp_path):
    from connectors.spreadsheet import put_rows
    from warehouse.snapshots import SourceStore

    bound = parse_mapping({"id": "Ref", "columns": {"service.name": "Name"}}, "m.yaml").bind(["Ref", "Name"], "f.csv")
    writer = SourceStore(tmp_path, "s").begin()
    rows = [(n + 2, {"Ref": ref, "Name": f"S{n}"}) for n, ref in enumerate(["1", "2", "3", "1", "", "2"])]
    stats = put_rows(writer, bound, rows, "f.csv", convert=None, chunk=2)
    assert stats == {"rows": 6, "without_id": 1, "duplicates": 2, "unreadable": 0}
    kept = sorted(writer.con.execute("SELECT record_id, record_type FROM raw.record").fetchall())
    writer.abandon()
    assert kept == [("1", "row"), ("1@row5", "duplicate_row:2"), ("2", "row"), ("2@row7", "duplicate_row:3"),
                    ("3", "row"), ("@row6", "row_without_id")]


@pytest.mark.parametrize("text, days", [
    ("2nd Tuesday of month", ["2TU"]), ("Last Wednesday of the month", ["-1WE"]), ("first friday of the month", ["1FR"]),
    ("1st and 3rd Monday of each month", ["1MO", "3MO"]), ("Weekdays", ["MO", "TU", "WE", "TH", "FR"]),
    ("Weekends", ["SA", "SU"]), ("Tuesdays", ["TU"]), ("Every Monday", ["MO"]), ("Daily", BYDAYS)])
def test_days_as_sheets_write_them(text, days):
    assert parse_days(text) == (list(days), [])
