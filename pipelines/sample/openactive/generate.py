"""Writes the OpenActive demo: two RPDE pages of invented sessions at a Leeds leisure centre.

The data is invented for placecat, shaped like real feeds of the 2020s and their quirks: split
SessionSeries/ScheduledSession items joined by ``superEvent``, a series with a full ``Schedule``
and one whose weekly pattern must be derived from its sessions, a FacilityUse with
``hoursAvailable`` and a Slot, a ``Person`` as leader (never carried into the catalogue),
``http://schema.org`` day URIs, a string price, a plain-string activity, a ``beta:`` field, a
later update and a tombstone. The activities use ``activity-list-sample.jsonld`` (a hand-written
excerpt of the OpenActive activity list with its canonical ids).

    python pipelines/sample/openactive/generate.py
    placecat run --sources pipelines/sample/openactive/sources.yaml --db demo/openactive.duckdb
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

HERE = Path(__file__).parent
BASE = "https://openactive.example.org/leeds"
AL = "https://openactive.io/activity-list#"
SITE = {"@type": "Place", "@id": f"{BASE}/places/jccs", "identifier": "JCCS", "name": "John Charles Centre for Sport",
        "address": {"@type": "PostalAddress", "streetAddress": "Middleton Grove", "addressLocality": "Leeds",
                    "addressRegion": "West Yorkshire", "postalCode": "LS11 5DJ", "addressCountry": "GB"},
        "geo": {"@type": "GeoCoordinates", "latitude": 53.7717, "longitude": -1.5466}, "telephone": "0113 395 0000"}
ORG = {"@type": "Organization", "@id": f"{BASE}/organisation", "name": "Active Leeds (demo)",
       "url": "https://www.example.org/active-leeds", "description": "Leisure centres run by the council (invented for the demo)."}
FIRST_WEEK = dt.date(2027, 1, 4)  # a Monday


def concept(uuid: str, label: str) -> dict:
    return {"@type": "Concept", "@id": AL + uuid, "prefLabel": label, "inScheme": "https://openactive.io/activity-list"}


def series(key: str, name: str, activity, modified: int, **more) -> dict:
    data = {"@context": ["https://openactive.io/", "https://openactive.io/ns-beta"], "@type": "SessionSeries",
            "@id": f"{BASE}/session-series/{key}", "identifier": key, "name": name, "organizer": ORG,
            "location": SITE, "activity": activity, "url": f"https://www.example.org/active-leeds/classes/{key}", **more}
    return {"state": "updated", "kind": "SessionSeries", "id": key, "modified": modified, "data": data}


def sessions(key: str, weekday: int, start_utc: str, minutes: int, weeks: int, first_mod: int) -> list[dict]:
    out = []
    for w in range(weeks):
        day = FIRST_WEEK + dt.timedelta(days=weekday + 7 * w)
        sid = f"{key}-{day:%Y%m%d}"
        out.append({"state": "updated", "kind": "ScheduledSession", "id": sid, "modified": first_mod + w, "data": {
            "@context": "https://openactive.io/", "@type": "ScheduledSession", "@id": f"{BASE}/scheduled-sessions/{sid}",
            "superEvent": f"{BASE}/session-series/{key}", "startDate": f"{day}T{start_utc}:00Z",
            "duration": f"PT{minutes}M", "remainingAttendeeCapacity": 6 - w % 3, "maximumAttendeeCapacity": 20}})
    return out


def page_one() -> list[dict]:
    items = [
        series("aquafit", "Aquafit", [concept("6e31262b-ce37-4fc7-b3e3-d827ac5e8b42", "Aqua Aerobics")], 100,
               description="Low-impact water exercise class.", ageRange={"@type": "QuantitativeValue", "minValue": 16},
               offers=[{"@type": "Offer", "name": "Adult", "price": 5.6, "priceCurrency": "GBP"},
                       {"@type": "Offer", "name": "Concession", "price": "3.90", "priceCurrency": "GBP"}],
               eventSchedule={"@type": "Schedule", "byDay": ["http://schema.org/Monday"], "startTime": "10:00",
                              "endTime": "11:00", "repeatFrequency": "P7D", "startDate": "2027-01-04",
                              "scheduleTimezone": "Europe/London"}),
        series("chair-yoga", "Chair Yoga", [concept("ee3cf3ee-082e-4f53-9cb2-3ef0589497ed", "Chair Based Exercise")], 101,
               description="Seated yoga for people with limited mobility.",
               ageRange={"@type": "QuantitativeValue", "minValue": 50},
               leader=[{"@type": "Person", "name": "A. Instructor", "email": "instructor@example.org"}],
               accessibilitySupport=[{"@type": "Concept", "prefLabel": "Visual impairment"}],
               offers=[{"@type": "Offer", "name": "Drop-in", "price": 3, "priceCurrency": "GBP"}],
               eventSchedule=[{"@type": "PartialSchedule", "byDay": ["https://schema.org/Wednesday"]}]),
        series("walking-football", "Walking Football", ["Walking Football"], 102,
               description="Football at walking pace for over-50s.", genderRestriction="https://openactive.io/NoRestriction",
               ageRange={"@type": "QuantitativeValue", "minValue": 50}, isAccessibleForFree=True,
               **{"beta:formattedDescription": "<p>Football at <b>walking</b> pace.</p>"}),
        {"state": "updated", "kind": "FacilityUse", "id": "badminton-courts", "modified": 103, "data": {
            "@context": "https://openactive.io/", "type": "FacilityUse", "id": f"{BASE}/facility-uses/badminton-courts",
            "name": "Badminton court hire", "provider": ORG, "location": SITE,
            "activity": [concept("c0360db0-a817-4bae-9167-40f89b49fc9e", "Badminton")],
            "offers": [{"type": "Offer", "name": "Court, peak", "price": 12.5, "priceCurrency": "GBP"}],
            "hoursAvailable": [{"type": "OpeningHoursSpecification", "dayOfWeek": f"http://schema.org/{d}",
                                "opens": "07:00", "closes": "22:00"} for d in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")]
            + [{"type": "OpeningHoursSpecification", "dayOfWeek": "http://schema.org/Saturday", "opens": "08:00", "closes": "18:00"}]}},
        {"state": "updated", "kind": "FacilityUse.Slot", "id": "badminton-courts-20270105-1800", "modified": 104, "data": {
            "@context": "https://openactive.io/", "type": "Slot", "id": f"{BASE}/facility-uses/badminton-courts/slots/20270105-1800",
            "facilityUse": f"{BASE}/facility-uses/badminton-courts", "startDate": "2027-01-05T18:00:00Z",
            "duration": "PT1H", "remainingUses": 2, "maximumUses": 4}},
        series("junior-gym", "Junior Gym", [concept("08d9368c-6c6c-44a3-84ef-a42ed00d529a", "Gym Workout")], 105,
               description="Supervised gym sessions for 11-15 year olds.",
               ageRange={"@type": "QuantitativeValue", "minValue": 11, "maxValue": 15}),
    ]
    # Chair Yoga gives only a partial schedule: its weekly pattern comes from these sessions
    # (Wednesdays 11:00-12:00 London time).
    items += sessions("chair-yoga", 2, "11:00", 60, 6, 200)
    items += sessions("walking-football", 4, "14:00", 60, 4, 300)
    return items


def page_two() -> list[dict]:
    later = series("walking-football", "Walking Football (over 50s)", ["Walking Football"], 400,
                   description="Football at walking pace for over-50s. New: Friday afternoons.",
                   ageRange={"@type": "QuantitativeValue", "minValue": 50}, isAccessibleForFree=True)
    return [later, {"state": "deleted", "kind": "SessionSeries", "id": "junior-gym", "modified": 401}]


def write() -> None:
    feed = HERE / "feed"
    feed.mkdir(exist_ok=True)
    one, two = page_one(), page_two()
    last = max(i["modified"] for i in two)
    docs = {
        "page-001.json": {"next": f"{BASE}/feed?afterTimestamp=399&afterId=zz", "items": one},
        "page-002.json": {"next": f"{BASE}/feed?afterTimestamp={last}&afterId=junior-gym", "items": two},
        "page-003.json": {"next": f"{BASE}/feed?afterTimestamp={last}&afterId=junior-gym", "items": []},
    }
    for name, doc in docs.items():
        doc["license"] = "https://creativecommons.org/licenses/by/4.0/"
        (feed / name).write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write()
