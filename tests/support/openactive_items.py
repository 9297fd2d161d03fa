"""Generated OpenActive items (SessionSeries and ScheduledSession, as RPDE items) and a sources
file with one OpenActive source, for the OpenActive connector tests."""
import json

from connectors.config import load_sources

SID = "oa"


def write_sources(tmp_path, fixtures_dir, sid=SID, **fields):
    fields.setdefault("activity_list", str(fixtures_dir / "openactive" / "vocabularies" / "activity-list.jsonld"))
    fields.setdefault("as_of", "2019-01-01")
    body = "\n".join(f"    {k}: {json.dumps(v)}" for k, v in fields.items())
    path = tmp_path / "sources.yaml"
    path.write_text(f"sources:\n  - id: {sid}\n    kind: openactive\n    publisher: Test publisher\n{body}\n")
    return load_sources(path).get(sid)


def series_item(n, modified=None, **overrides):
    day = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"][n % 5]
    data = {
        "@context": "https://openactive.io/", "@type": "SessionSeries", "@id": f"https://example.org/series/{n}",
        "name": f"Class {n}", "description": f"Generated class number {n}",
        "activity": [{"@type": "Concept", "prefLabel": ["Yoga", "Badminton", "Swimming"][n % 3]}],
        "location": {"@type": "Place", "name": f"Centre {n % 4}", "geo": {"latitude": 53.8, "longitude": -1.55},
                     "address": {"@type": "PostalAddress", "streetAddress": f"{n} Park Lane",
                                 "addressLocality": "Leeds", "postalCode": "LS1 1AA"}},
        "eventSchedule": [{"@type": "Schedule", "byDay": [f"https://schema.org/{day}"], "startTime": "18:00",
                           "endTime": "19:00", "repeatFrequency": "P7D", "startDate": "2020-01-01"}],
        "offers": [{"@type": "Offer", "name": "Adult", "price": 5 + n % 3, "priceCurrency": "GBP"}],
        **overrides,
    }
    return {"state": "updated", "kind": "SessionSeries", "id": str(n), "modified": modified or n + 1, "data": data}


def session_item(n, series_n, start="2024-03-01T10:00:00Z", modified=None):
    return {"state": "updated", "kind": "ScheduledSession", "id": f"s{n}", "modified": modified or n + 1,
            "data": {"@type": "ScheduledSession", "@id": f"https://example.org/sessions/{n}",
                     "superEvent": f"https://example.org/series/{series_n}", "startDate": start, "duration": "PT1H"}}
