"""Coercion to the model's types: a bad cell becomes NULL plus an issue, never a crash."""
import datetime as dt
import uuid

from connectors.staging import PLACECAT_NS, StagingRows, parse_date, parse_time, staging_id


def test_values_are_coerced_and_bad_ones_reported():
    rows = StagingRows("src")
    rows.add("service", "r1", {"name": "A", "minimum_age": "12", "assured_date": "31/01/2024",
                               "last_modified": "2024-01-01T10:00:00Z"})
    rows.add("schedule", "r1#s", {"opens_at": "9.30am", "closes_at": "not a time"}, root_record_id="r1")
    svc = rows.rows["service"][0]
    assert svc["minimum_age"] == 12.0 and svc["assured_date"] == dt.date(2024, 1, 31)
    sched = rows.rows["schedule"][0]
    assert sched["opens_at"] == dt.time(9, 30) and sched["closes_at"] is None
    assert [(i.record_id, i.field, i.rule) for i in rows.issues] == [("r1", "closes_at", "type")]


def test_ids_are_deterministic_and_source_scoped():
    assert staging_id("a", "service", "1") == staging_id("a", "service", "1")
    # uuid5 in the placecat namespace, whatever the text (the id is computed without uuid objects).
    for rec in ("1", "é/ü", "x" * 300, ""):
        assert staging_id("src", "location", rec) == str(uuid.uuid5(PLACECAT_NS, f"src/location/{rec}"))
    assert staging_id("a", "service", "1") != staging_id("b", "service", "1")


def test_shared_objects_are_kept_once():
    rows = StagingRows("s")
    rows.add("organization", "o1", {"name": "Org"})
    rows.add("organization", "o1", {"name": "Org again"})
    assert len(rows.rows["organization"]) == 1


def test_parse_time_variants():
    assert parse_time("18:00") == dt.time(18, 0)
    assert parse_time("6:00 pm") == dt.time(18, 0)
    assert parse_time("24:00") == dt.time(23, 59, 59)
    assert parse_time("10:00:00+01:00") == dt.time(10, 0)


def test_blank_cells_become_null_and_repeated_texts_parse_alike():
    rows = StagingRows("s")
    rows.add("service", "r1", {"name": "  ", "description": [], "url": {}, "email": "\t", "minimum_age": 0})
    svc = rows.rows["service"][0]
    assert (svc["name"], svc["description"], svc["url"], svc["email"], svc["minimum_age"]) == (None, None, None, None, 0.0)
    # Parsed texts are cached; a bad one is reported every time it is met, not only the first.
    assert parse_time("09:30") == parse_time("09:30") == dt.time(9, 30)
    assert parse_date("01/02/2024") == dt.date(2024, 2, 1)
    for n in range(2):
        rows.add("schedule", f"s{n}", {"opens_at": "25:99"}, root_record_id="r1")
    assert [i.record_id for i in rows.issues if i.field == "opens_at"] == ["r1", "r1"]
