"""OpenActive items → ORUK v3 staging rows, on the real items and pages in ../shared."""
import datetime as dt
import json

import pytest

from connectors.openactive.activities import ActivityList, load_activity_list
from connectors.openactive.jsonld import parse_duration
from connectors.openactive.parts import split_text_address
from connectors.openactive.services import normalise_items
from connectors.staging import StagingRows
from tests.support.openactive_checks import service_documents, v3_validator

UTC = dt.timezone.utc
LEEDS_SERIES = "https://activeleeds-oa.leisurecloud.net/OpenActive/api/session-series/WE5CLKM10000723"


@pytest.fixture(scope="module")
def oa(fixtures_dir):
    return fixtures_dir / "openactive"


@pytest.fixture(scope="module")
def activities(oa):
    return load_activity_list(oa / "vocabularies" / "activity-list.jsonld")


@pytest.fixture(scope="module")
def validator(fixtures_dir):
    return v3_validator(fixtures_dir)


def load_items(path):
    doc = json.loads(path.read_text())
    if isinstance(doc, dict) and "items" in doc:
        doc = doc["items"]
    return [(f"{path.name}#{n}", it) for n, it in enumerate(doc if isinstance(doc, list) else [doc])]


def map_all(items, activities, as_of=dt.datetime(2019, 1, 1, tzinfo=UTC)):
    rows = StagingRows("oa-test")
    normalise_items(items, rows, activities, as_of)
    return rows


def live_record_ids(items):
    return [rid for rid, it in items if (it.get("state") or "updated") != "deleted"]


def assert_every_item_accounted(items, rows, validator):
    """Each live item is a valid v3 service, or joined to one (a session/slot), or has an issue."""
    docs = service_documents(rows)
    for rid, doc in docs.items():
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, f"{rid}: {errors[0].message} at {list(errors[0].path)}"
    issue_records = {i.record_id for i in rows.issues}
    service_ids = set(docs)
    for rid, item in items:
        if (item.get("state") or "updated") == "deleted":
            continue
        data = item.get("data", item)
        own = data.get("@id") or data.get("id") or rid
        parent = data.get("superEvent") or data.get("facilityUse")
        parent_id = parent if isinstance(parent, str) else (parent or {}).get("@id") or (parent or {}).get("id")
        assert own in service_ids or rid in issue_records or parent_id in service_ids, \
            f"{rid} ({data.get('@type') or data.get('type')}) is neither a service, part of one, nor an issue"


def test_every_real_single_item_is_a_valid_service_or_an_issue(oa, activities, validator):
    items = [it for p in sorted((oa / "items").glob("*.json")) for it in load_items(p)]
    rows = map_all(items, activities)
    assert_every_item_accounted(items, rows, validator)
    names = {s["name"] for s in rows.rows["service"]}
    # Series and facility uses become services; their sessions and slots do not.
    assert {"Shadow Box Fit", "No Strings Badminton - Thursday daytime", "Squash Activities ST",
            "Creche 3-5yrs 2hrs", "S4K TV - Dance", "WOD Class"} <= names
    assert len(rows.rows["service"]) == len(names)
    rules = {(i.rule, i.record_id.split("#")[0]) for i in rows.issues}
    assert ("one_off_event", "headlineevent-britishtriathlon.json") in rules
    assert ("orphan_slot", "slot-jubileehall-legend.json") in rules


@pytest.mark.parametrize("page", ["everyoneactive-sessions-afterChangeNumber-2020-01-06.json",
                                  "activenewham-sessions-afterTimestamp-2020-01-02.json",
                                  "rpde-1.0-spec-example-page.json"])
def test_every_item_of_the_real_pages_is_a_valid_service_or_an_issue(oa, activities, validator, page):
    items = load_items(oa / "rpde-pages" / page)
    rows = map_all(items, activities)
    assert_every_item_accounted(items, rows, validator)
    live = [it for _, it in items if it["state"] == "updated"]
    named = [it for it in live if it["data"].get("name")]
    assert len(rows.rows["service"]) == len(named)


def test_everyone_active_legacy_event_maps_schedule_offers_and_activity(oa, activities):
    items = load_items(oa / "rpde-pages" / "everyoneactive-sessions-afterChangeNumber-2020-01-06.json")
    rows = map_all(items, activities)
    rid = "http://everyoneactivelive-openactive.azurewebsites.net/api/sessions/0791K3220020319"
    svc = next(s for s in rows.rows["service"] if s["source_record_id"] == rid)
    assert svc["name"] == "Bowls Leagues" and svc["minimum_age"] == 0
    # eventSchedule is an object with only byDay (no times): the weekly row comes from the
    # sessions, 2020-01-06T20:00Z is a Monday 20:00 in London (GMT), ending 21:59:59, so 22:00.
    sched = [r for r in rows.rows["schedule"] if r["service_id"] == svc["id"]]
    assert [(r["byday"], r["opens_at"], r["closes_at"]) for r in sched][0] == ("MO", dt.time(20), dt.time(22))
    costs = {(c["option"], c["amount"]) for c in rows.rows["cost_option"] if c["service_id"] == svc["id"]}
    assert ("Oxygen - Junior", 2.6) in costs
    terms = [t for t in rows.rows["taxonomy_term"] if t["name"] == "Bowls"]
    assert terms and terms[0]["term_uri"].startswith("https://openactive.io/activity-list#")
    assert terms[0]["taxonomy"] == "OpenActive Activity List"
    bowls = activities.lookup("Bowls")
    assert terms[0]["term_uri"] == bowls.id


def test_active_newham_text_address_string_price_plain_activity(oa, activities):
    items = load_items(oa / "rpde-pages" / "activenewham-sessions-afterTimestamp-2020-01-02.json")
    rows = map_all(items, activities)
    svc = next(s for s in rows.rows["service"] if s["source_record_id"].endswith("N1CLXFT17000819")
               or s["name"] == "Crossfit Open Box")
    sal = next(r for r in rows.rows["service_at_location"] if r["service_id"] == svc["id"])
    addr = next(a for a in rows.rows["address"] if a["location_id"] == sal["location_id"])
    assert addr["postal_code"] == "E13 8SD" and addr["city"] == "London" and addr["country"] == "GB"
    assert addr["address_1"] == "Newham Leisure Centre, 281, Prince Regent Lane"
    cost = next(c for c in rows.rows["cost_option"] if c["service_id"] == svc["id"])
    assert cost["amount"] == 0.0 and cost["option"] == "Adult non-member"
    crossfit = activities.lookup("Crossfit")
    attrs = {a["taxonomy_term_id"] for a in rows.rows["attribute"] if a["link_id"] == svc["id"]}
    term_ids = {t["id"] for t in rows.rows["taxonomy_term"] if t["term_uri"] == crossfit.id}
    assert attrs & term_ids
    org = next(o for o in rows.rows["organization"] if o["id"] == svc["organization_id"])
    assert org["name"] == "Active Newham" and org["website"] == "http://www.activenewham.org.uk"


def test_active_leeds_derived_schedule_matches_its_real_weekly_pattern(oa, activities):
    sessions = load_items(oa / "items" / "scheduledsessions-activeleeds-leisurecloud-2024.json")
    # The capture holds only the sessions; their series (as Active Leeds publishes it, a
    # SessionSeries with no eventSchedule) is written here so that they have one to join.
    series = ("series", {"state": "updated", "kind": "SessionSeries", "id": "WE5CLKM10000723", "modified": 1,
                         "data": {"@type": "SessionSeries", "@id": LEEDS_SERIES, "name": "Circuits",
                                  "location": {"@type": "Place", "name": "Active Leeds - Armley",
                                               "address": {"@type": "PostalAddress", "streetAddress": "Carr Crofts",
                                                           "addressLocality": "Leeds", "postalCode": "LS12 3HB"}}}})
    rows = map_all([series, *sessions], activities, as_of=dt.datetime(2024, 2, 20, tzinfo=UTC))
    [svc] = rows.rows["service"]
    sched = [r for r in rows.rows["schedule"] if r["service_id"] == svc["id"]]
    # 2024-02-23 and 2024-03-01 are Fridays, 10:00-11:00 GMT: one weekly Friday row.
    assert [(r["freq"], r["interval"], r["byday"], r["opens_at"], r["closes_at"]) for r in sched] == [
        ("WEEKLY", 1, "FR", dt.time(10), dt.time(11))]
    assert sched[0]["valid_from"] == dt.date(2024, 2, 23) and sched[0]["valid_to"] == dt.date(2024, 3, 1)
    # Only upcoming sessions count: from 2024-02-25 one session is left and the row says so.
    rows2 = map_all([series, *sessions], activities, as_of=dt.datetime(2024, 2, 25, tzinfo=UTC))
    [r2] = rows2.rows["schedule"]
    assert r2["valid_from"] == dt.date(2024, 3, 1) and "1 session" in r2["notes"]


def test_orphan_sessions_are_an_issue_not_a_crash(oa, activities):
    sessions = load_items(oa / "items" / "scheduledsessions-activeleeds-leisurecloud-2024.json")
    rows = map_all(sessions, activities)
    assert rows.rows["service"] == []
    issues = [i for i in rows.issues if i.rule == "orphan_session"]
    assert [i.record_id for i in issues] == [rid for rid, _ in sessions]
    assert all(LEEDS_SERIES in i.message and "2 item(s)" in i.message for i in issues)


def test_sessions_inherit_from_series_and_bst_is_local_time(oa, activities):
    series = load_items(oa / "items" / "sessionseries-nottingham-leisurecloud-partialschedule.json")
    session = load_items(oa / "items" / "scheduledsession-nottingham-leisurecloud.json")
    rows = map_all(series + session, activities)
    [svc] = rows.rows["service"]
    [sched] = [r for r in rows.rows["schedule"] if r["service_id"] == svc["id"]]
    # 2020-07-27T08:15Z is 09:15 BST on a Monday; 45 minutes long (the PartialSchedule agrees).
    assert (sched["byday"], sched["opens_at"], sched["closes_at"]) == ("MO", dt.time(9, 15), dt.time(10, 0))
    assert "derived from 1 session" in sched["notes"]
    # A PartialSchedule alone (no sessions) still gives its stated pattern, marked as such.
    alone = map_all(series, activities)
    [p] = alone.rows["schedule"]
    assert (p["byday"], p["opens_at"]) == ("MO", dt.time(9, 15)) and "partial schedule" in p["notes"]


def test_full_schedule_maps_directly_without_expanding(oa, activities):
    items = load_items(oa / "items" / "sessionseries-playwaze-schedule-exceptdate.json")
    rows = map_all(items, activities)
    [r] = rows.rows["schedule"]
    assert (r["freq"], r["interval"], r["byday"], r["opens_at"], r["closes_at"]) == (
        "WEEKLY", 1, "TH", dt.time(11), dt.time(14))
    assert (r["valid_from"], r["valid_to"]) == (dt.date(2020, 1, 2), dt.date(2020, 12, 4))
    assert "2020-07-23" in r["notes"]


def test_facility_use_hours_available_and_slots_inform_only(oa, activities):
    fu = load_items(oa / "items" / "facilityuse-fusion-lifestyle.json")
    rows = map_all(fu, activities)
    [svc] = rows.rows["service"]
    days = {r["byday"]: (r["opens_at"], r["closes_at"]) for r in rows.rows["schedule"]}
    assert days["MO,WE,TH"] == (dt.time(9), dt.time(12, 59))
    lincs = load_items(oa / "items" / "facilityuse-lincsinspire-legend.json") + \
        load_items(oa / "items" / "slot-lincsinspire-legend.json")
    rows = map_all(lincs, activities, as_of=dt.datetime(2020, 6, 1, tzinfo=UTC))
    [svc] = rows.rows["service"]
    assert json.loads(svc["extras"])["openactive"]["availability"]["slots"] == {
        "known": 1, "upcoming": 1, "upcoming_with_space": 1}
    # The activity label is not in the list: an info issue, no invented term.
    assert any(i.rule == "unknown_activity" and "Squash Activities ST" in i.message for i in rows.issues)
    assert rows.rows["taxonomy_term"] == []


def test_person_organizer_never_reaches_staging(activities):
    item = {"state": "updated", "kind": "SessionSeries", "id": "p1", "modified": 5, "data": {
        "@type": "SessionSeries", "@id": "https://example.org/series/p1", "name": "Park Run Club",
        "organizer": {"@type": "Person", "name": "Jane Runner", "email": "jane@example.org", "telephone": "07700 900123"},
        "leader": [{"@type": "Person", "name": "Sam Coach", "email": "sam@example.org"}],
        "ageRange": {"@type": "QuantitativeValue", "minValue": 16},
        "genderRestriction": "https://openactive.io/FemaleOnly",
        "activity": [{"@id": "https://openactive.io/activity-list#72ddb2dc-7d75-424e-880a-d90eabe91381", "prefLabel": "Running"}],
    }}
    rows = map_all([("p1", item)], activities)
    dumped = json.dumps(rows.rows, default=str)
    for secret in ("Jane", "jane@example.org", "07700 900123", "Sam Coach", "sam@example.org"):
        assert secret not in dumped
    pd = [i for i in rows.issues if i.rule == "personal_data"]
    assert {i.field for i in pd} == {"organizer", "leader"} and all(i.severity == "info" for i in pd)
    [svc] = rows.rows["service"]
    assert svc["organization_id"] is None and svc["minimum_age"] == 16
    assert {t["name"] for t in rows.rows["taxonomy_term"]} >= {"Female only"}


def test_missing_age_range_means_adults_only(oa, activities):
    rows = map_all(load_items(oa / "items" / "sessionseries-playwaze-badmintonengland.json"), activities)
    [svc] = rows.rows["service"]
    assert svc["minimum_age"] == 18 and svc["maximum_age"] is None
    assert "adults only" in json.loads(svc["extras"])["openactive"]["age_range"]


def test_activity_lookup_by_id_label_and_plain_string(activities, oa):
    doc = json.loads((oa / "vocabularies" / "activity-list.jsonld").read_text())
    yoga = next(c for c in doc["concept"] if c["prefLabel"] == "Yoga")
    assert activities.lookup({"@id": yoga["id"]}).label == "Yoga"
    assert activities.lookup({"id": yoga["id"].replace("https:", "http:")}).label == "Yoga"
    assert activities.lookup("yoga").id == yoga["id"]
    assert activities.lookup({"prefLabel": "YOGA"}).id == yoga["id"]
    assert activities.lookup("Underwater knitting") is None
    assert len(activities) == len(doc["concept"])


def test_parsers_for_sloppy_values():
    assert parse_duration("PT1H0M") == dt.timedelta(hours=1)
    assert parse_duration("P1D") == dt.timedelta(days=1)
    assert parse_duration("soon") is None
    assert split_text_address("1 High St, Leeds, ls1 1aa")["postalCode"] == "LS1 1AA"
    assert "postalCode" not in split_text_address("somewhere in Leeds")


def test_activity_list_bad_json_in_bundled_sample_is_valid(activities):
    from tests.support.environment import SAMPLE
    sample = SAMPLE / "openactive" / "activity-list-sample.jsonld"
    al = ActivityList.from_jsonld(json.loads(sample.read_text()))
    assert len(al) >= 5
    for concept in al.concepts.values():
        # The sample is written by the project, but its ids must be the canonical ones.
        assert activities.concepts[ActivityList.fragment(concept.id)].label == concept.label


def test_person_leading_sessions_is_counted_and_dropped(activities):
    series = ("s", {"state": "updated", "kind": "SessionSeries", "id": "s", "modified": 1, "data": {
        "@type": "SessionSeries", "@id": "https://example.org/series/s", "name": "Buggy Fit",
        "organizer": {"@type": "Organization", "name": "Parks Trust",
                      "member": [{"@type": "Person", "name": "Pat Secret"}]}}})
    session = ("x", {"state": "updated", "kind": "ScheduledSession", "id": "x", "modified": 2, "data": {
        "@type": "ScheduledSession", "@id": "https://example.org/sessions/x", "superEvent": "https://example.org/series/s",
        "startDate": "2024-05-01T09:00:00Z", "duration": "PT45M",
        "leader": {"@type": "Person", "name": "Lee Leader", "telephone": "07700 900999"}}})
    rows = map_all([series, session], activities)
    dumped = json.dumps(rows.rows, default=str)
    assert "Pat Secret" not in dumped and "Lee Leader" not in dumped and "07700 900999" not in dumped
    assert [(i.field, i.rule) for i in rows.issues if i.rule == "personal_data"] == [("leader", "personal_data")]
    assert rows.rows["organization"][0]["name"] == "Parks Trust"
