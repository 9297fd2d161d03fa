"""A national test bed: 150 council ORUK feeds (v1 and v3) and 50 OpenActive RPDE feeds.

Nothing is written to disk: every page is computed from (seed, scale, feed, page) when asked for,
so a 1,000,000-record bed costs no storage and every run of the server serves the same bytes.

Shape, chosen to look like England's directories:
- feed sizes are skewed (a few big county directories, many small ones);
- 85% of the records are in the ORUK feeds, a third of those feeds still on v1;
- 18% of the records of each council feed but the first are copies of a record its neighbour
  (the previous council feed) lists (cross-border services, county/district overlap), and 25% of
  OpenActive sessions copy a sport service that a council feed lists; each copy is written its
  own way (name case, postcode spacing, phone format);
- the rest are distinct services.

Every copy points at a record that really is in the other feed (a copy of a copy leads back to
the same real-world service), so the bed's true duplicate share, (records - distinct services) /
records, is exactly the share of copies: `duplicate_share()` counts it, about 19% overall
(0.85 x 18% for the councils, the first council having no neighbour, + 0.15 x 25%).

`generation` changes a small share of records (a "night with changes"); generation 0 is night 1.
"""
from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import dataclass
from functools import lru_cache

N_ORUK = 150
N_OPENACTIVE = 50
ORUK_SHARE = 0.85
NEIGHBOUR_SHARE = 18    # % of a council's records that copy its neighbour's
OA_SHARED_SHARE = 25    # % of OpenActive items that copy a council's service
V1_EVERY = 3            # every third council still publishes ORUK v1
SPORT_EVERY = 11        # a council's records at multiples of 11 are its leisure centre's classes
# Sport records are never copies (OpenActive copies point at them), so the other records copy at
# 18% x 11/10 per mille, which makes 18% of all of a council's records.
_COPY_PER_MILLE = round(NEIGHBOUR_SHARE * 10 * SPORT_EVERY / (SPORT_EVERY - 1))
RPDE_PAGE = 500
BASE_MODIFIED = 1_700_000_000_000
NS = uuid.UUID("6f1c2a4e-3b5d-4e7f-8a9b-0c1d2e3f4a5b")

TOWNS = ["Ashby", "Barton", "Castleford", "Dunmore", "Eastwick", "Fairley", "Greenham", "Hartwell",
         "Ingleby", "Kingsbury", "Langley", "Marston", "Newbold", "Oakley", "Preston", "Quinton",
         "Redhill", "Stanton", "Thornbury", "Upton", "Westbury", "Yardley", "Allerton", "Bramley"]
KINDS = [("Food Bank", "1427", "Food banks"), ("Carers Support Group", "1120", "Carers support"),
         ("Debt Advice", "1452", "Debt advice"), ("Memory Cafe", "1093", "Dementia support"),
         ("Youth Club", "1277", "Youth clubs"), ("Walking Group", "1535", "Walking groups"),
         ("Stop Smoking Clinic", "1512", "Stop smoking"), ("Talking Therapies", "1089", "Mental health support"),
         ("Lunch Club", "1002", "Befriending"), ("Baby Bank", "1427", "Food banks"),
         ("Men's Shed", "1002", "Befriending"), ("Parent and Toddler Group", "1277", "Youth clubs")]
SPORTS = [("Aquafit", "swimming"), ("Badminton", "badminton"), ("Chair Yoga", "yoga"),
          ("Walking Football", "walking-football"), ("Junior Gym", "gym"), ("Netball", "netball"),
          ("Spin Class", "indoor-cycling"), ("Pilates", "pilates"), ("Swimming Lessons", "swimming")]
ORGS = ["Age UK", "Citizens Advice", "Mind", "Carers Trust", "The Trussell Trust", "YMCA", "Home-Start",
        "Barnardo's", "Scope", "Active Communities", "Leisure Trust", "Community Action"]
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
SCHEMA_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def uid(*parts) -> str:
    return str(uuid.uuid5(NS, "/".join(str(p) for p in parts)))


def h(*parts) -> int:
    return int.from_bytes(hashlib.blake2b("/".join(str(p) for p in parts).encode(), digest_size=8).digest(), "big")


@dataclass(frozen=True)
class FeedSpec:
    id: str
    kind: str          # oruk | openactive
    version: int       # ORUK 1 or 3; 0 for OpenActive
    size: int
    index: int         # position among feeds of its kind
    area: int          # the council area it is in (OpenActive: the council it shares with)
    total: int = 0     # the bed it belongs to: feeds(total, seed)
    seed: int = 1


@lru_cache(maxsize=8)
def feeds(total: int, seed: int = 1) -> tuple[FeedSpec, ...]:
    """The 200 feeds of a bed of about `total` records, with skewed sizes that add up to it."""
    rng = random.Random(seed)
    out: list[FeedSpec] = []
    for kind, count, share in (("oruk", N_ORUK, ORUK_SHARE), ("openactive", N_OPENACTIVE, 1 - ORUK_SHARE)):
        weights = [rng.lognormvariate(0, 0.8) for _ in range(count)]
        budget = round(total * share)
        sizes = [max(1, int(budget * w / sum(weights))) for w in weights]
        sizes[0] += budget - sum(sizes)
        for i, n in enumerate(sizes):
            if kind == "oruk":
                out.append(FeedSpec(f"council-{i:03d}", kind, 1 if i % V1_EVERY == 2 else 3, n, i, i, total, seed))
            else:
                out.append(FeedSpec(f"active-{i:03d}", kind, 0, n, i, (i * 3) % N_ORUK, total, seed))
    return tuple(out)


def feed_by_id(total: int, seed: int, feed_id: str) -> FeedSpec | None:
    for f in feeds(total, seed):
        if f.id == feed_id:
            return f
    return None


# -- the real-world services behind the records ---------------------------------------------------
def canonical(area: int, n: int, sport: bool = False) -> dict:
    """Service n of council area `area`, as it is in the world (before any directory writes it)."""
    town = TOWNS[area % len(TOWNS)] + (f" {area // len(TOWNS) + 1}" if area >= len(TOWNS) else "")
    r = h("svc", area, n)
    if sport:
        name, activity = SPORTS[r % len(SPORTS)]
        term = ("1531", "Sport and leisure")
        org = f"{town} Leisure Trust"
    else:
        name, *term = KINDS[r % len(KINDS)]
        activity = None
        org = f"{ORGS[(r >> 8) % len(ORGS)]} {town}"
    street_no = 1 + (r >> 16) % 180
    outward = f"Z{area % 90 + 10}"
    postcode = f"{outward} {(r >> 24) % 9 + 1}{chr(65 + (r >> 28) % 26)}{chr(65 + (r >> 33) % 26)}"
    lat = 50.5 + (area % 30) * 0.12 + ((r >> 40) % 1000) / 20000
    lon = -4.5 + (area // 30) * 0.9 + ((r >> 50) % 1000) / 20000
    phone = f"0{1200 + area:04d} {(r >> 12) % 900 + 100:03d} {(r >> 22) % 9000 + 1000:04d}"
    return {
        "key": f"{area}:{n}", "name": f"{town} {name}" + ("" if (r >> 5) % 3 else f" ({n})"),
        "org": org, "description": f"{name} run by {org} for people in and around {town}.",
        "street": f"{street_no} {['High Street', 'Church Road', 'Station Road', 'Park Lane'][(r >> 3) % 4]}",
        "town": town, "postcode": postcode, "lat": round(lat, 5), "lon": round(lon, 5), "phone": phone,
        "email": f"info@{org.lower().replace(' ', '').replace(chr(39), '')}.org.uk",
        "url": f"https://{org.lower().replace(' ', '-').replace(chr(39), '')}.org.uk/{n}",
        "term": term, "activity": activity, "day": (r >> 7) % 7, "hour": 9 + (r >> 9) % 10,
    }


def is_neighbour_copy(f: FeedSpec, i: int) -> bool:
    """Whether council record i copies a record of the previous council feed."""
    return f.index > 0 and i % SPORT_EVERY != 0 and h("share", f.id, i) % 1000 < _COPY_PER_MILLE


def is_council_copy(f: FeedSpec, i: int) -> bool:
    """Whether OpenActive item i copies a sport service of its council's feed."""
    return h("share", f.id, i) % 100 < OA_SHARED_SHARE


def oruk_service_of(f: FeedSpec, i: int) -> tuple[dict, bool]:
    """The world service behind record i of council feed f, and whether it is a neighbour's copy."""
    copy = False
    while is_neighbour_copy(f, i):  # a copy of a copy leads back to the service it copies
        neighbour = feeds(f.total, f.seed)[f.index - 1]
        f, i, copy = neighbour, h("pick", f.id, i) % neighbour.size, True
    return canonical(f.area, i, sport=i % SPORT_EVERY == 0), copy


def oa_service_of(f: FeedSpec, i: int) -> tuple[dict, bool]:
    if is_council_copy(f, i):
        # The council lists its leisure centre's classes too: one of its sport records, which are never copies.
        council = feeds(f.total, f.seed)[f.area]
        j = SPORT_EVERY * (h("pick", f.id, i) % -(-council.size // SPORT_EVERY))
        return canonical(council.area, j, sport=True), True
    return canonical(1000 + f.index, i, sport=True), False


def duplicate_share(total: int, seed: int = 1) -> tuple[int, int]:
    """(records, copies) of the bed: copies / records is its true duplicate share."""
    records = copies = 0
    for f in feeds(total, seed):
        is_copy = is_neighbour_copy if f.kind == "oruk" else is_council_copy
        records += f.size
        copies += sum(1 for i in range(f.size) if is_copy(f, i))
    return records, copies


def changed(f: FeedSpec, i: int, generation: int) -> bool:
    """Whether record i has changed by `generation` (about 1% of records per generation)."""
    return any(h("chg", f.id, i, g) % 100 == 0 for g in range(1, generation + 1))


# -- ORUK -------------------------------------------------------------------------------------------
def written_by(f: FeedSpec, s: dict, copy: bool) -> dict:
    """The same service as this directory writes it: its own spelling and formats."""
    s = dict(s)
    style = h("style", f.id) % 4
    if copy and style == 1:
        s["name"] = s["name"].upper()
    if copy and style == 2:
        s["postcode"] = s["postcode"].replace(" ", "").lower()
    if style == 3:
        digits = s["phone"].replace(" ", "")
        s["phone"] = "+44 " + digits[1:5] + " " + digits[5:]
    return s


def oruk_v3_service(f: FeedSpec, i: int, generation: int = 0) -> dict:
    base, copy = oruk_service_of(f, i)
    s = written_by(f, base, copy)
    sid = uid(f.id, "service", i)
    loc = uid(f.id, "location", s["key"])
    desc = s["description"] + (" Now also on Saturdays." if changed(f, i, generation) else "")
    return {
        "id": sid, "name": s["name"], "description": desc, "url": s["url"], "email": s["email"],
        "status": "active", "assured_date": f"2026-{1 + h('m', f.id, i) % 10:02d}-15",
        "organization": {"id": uid(f.id, "org", s["org"]), "name": s["org"], "description": s["org"],
                         "website": s["url"].rsplit("/", 1)[0]},
        "contacts": [{"id": uid(f.id, "contact", i), "title": "Enquiries",
                      "phones": [{"id": uid(f.id, "phone", i), "number": s["phone"]}]}],
        "schedules": [{"id": uid(f.id, "schedule", i), "freq": "WEEKLY", "interval": 1, "byday": DAYS[s["day"]],
                       "opens_at": f"{s['hour']:02d}:00:00", "closes_at": f"{s['hour'] + 2:02d}:00:00"}],
        "service_at_locations": [{"id": uid(f.id, "sal", i), "location": {
            "id": loc, "location_type": "physical", "name": s["street"], "latitude": s["lat"], "longitude": s["lon"],
            "addresses": [{"id": uid(f.id, "address", s["key"]), "address_1": s["street"], "city": s["town"],
                           "postal_code": s["postcode"], "country": "GB", "address_type": "physical"}]}}],
        "attributes": [{"id": uid(f.id, "attr", i), "taxonomy_term": {
            "id": uid("esd", s["term"][0]), "name": s["term"][1], "description": s["term"][1],
            "taxonomy": "esdServiceTypes", "term_uri": f"http://id.esd.org.uk/service/{s['term'][0]}"}}],
    }


def oruk_v1_service(f: FeedSpec, i: int, generation: int = 0) -> dict:
    base, copy = oruk_service_of(f, i)
    s = written_by(f, base, copy)
    desc = s["description"] + (" Now also on Saturdays." if changed(f, i, generation) else "")
    return {
        "id": uid(f.id, "service", i), "name": s["name"], "description": desc, "url": s["url"], "email": s["email"],
        "status": "active", "fees": "", "accreditations": "", "deliverable_type": "Advice", "attending_type": "Venue",
        "attending_access": "drop-in", "assured_date": f"2026-{1 + h('m', f.id, i) % 10:02d}-15",
        "organization": {"id": uid(f.id, "org", s["org"]), "name": s["org"], "description": s["org"],
                         "url": s["url"].rsplit("/", 1)[0], "logo": "", "uri": ""},
        "contacts": [{"id": uid(f.id, "contact", i), "name": "", "title": "Enquiries",
                      "phones": [{"id": uid(f.id, "phone", i), "number": s["phone"]}]}],
        "regular_schedules": [{"id": uid(f.id, "schedule", i), "weekday": SCHEMA_DAYS[s["day"]],
                               "opens_at": f"{s['hour']:02d}:00", "closes_at": f"{s['hour'] + 2:02d}:00"}],
        "service_at_locations": [{"id": uid(f.id, "sal", i), "location": {
            "id": uid(f.id, "location", s["key"]), "name": s["street"], "latitude": s["lat"], "longitude": s["lon"],
            "physical_addresses": [{"id": uid(f.id, "address", s["key"]), "address_1": s["street"],
                                    "city": s["town"], "postal_code": s["postcode"], "country": "GB"}]}}],
        "service_taxonomys": [{"id": uid(f.id, "st", i), "taxonomy": {
            "id": f"esdServiceTypes:{s['term'][0]}", "name": s["term"][1], "vocabulary": "esdServiceTypes"}}],
        "eligibilitys": [], "languages": [], "service_areas": [], "cost_options": [], "fundings": [],
    }


def oruk_page(f: FeedSpec, page: int, per_page: int, generation: int = 0) -> dict:
    per_page = max(1, min(per_page, 1000))
    pages = max(1, -(-f.size // per_page))
    lo, hi = (page - 1) * per_page, min(page * per_page, f.size)
    make = oruk_v1_service if f.version == 1 else oruk_v3_service
    items = [make(f, i, generation) for i in range(lo, hi)] if page >= 1 else []
    if f.version == 1:
        return {"totalElements": f.size, "totalPages": pages, "number": page, "size": len(items),
                "first": page == 1, "last": page >= pages, "empty": not items, "content": items}
    return {"total_items": f.size, "total_pages": pages, "page_number": page, "size": len(items),
            "first_page": page == 1, "last_page": page >= pages, "empty": not items, "contents": items}


# -- OpenActive (RPDE) -------------------------------------------------------------------------------
def oa_item(f: FeedSpec, i: int, generation: int, base_url: str) -> dict:
    s, copy = oa_service_of(f, i)
    s = written_by(f, s, copy)
    modified = BASE_MODIFIED + i
    item_id = f"{f.id}-{i:07d}"
    desc = s["description"] + (" Now also on Saturdays." if changed(f, i, generation) else "")
    return {"state": "updated", "kind": "SessionSeries", "id": item_id, "modified": modified, "data": {
        "@context": ["https://openactive.io/", "https://openactive.io/ns-beta"], "type": "SessionSeries",
        "id": f"{base_url}/session-series/{item_id}", "identifier": item_id, "name": s["name"], "description": desc,
        "activity": [{"type": "Concept", "id": f"https://openactive.io/activity-list#{s['activity']}",
                      "prefLabel": s["activity"].replace("-", " ").title(), "inScheme": "https://openactive.io/activity-list"}],
        "organizer": {"type": "Organization", "name": s["org"], "url": s["url"].rsplit("/", 1)[0], "telephone": s["phone"]},
        "location": {"type": "Place", "identifier": uid(f.id, "place", s["key"]), "name": s["street"],
                     "telephone": s["phone"],
                     "address": {"type": "PostalAddress", "streetAddress": s["street"], "addressLocality": s["town"],
                                 "postalCode": s["postcode"], "addressCountry": "GB"},
                     "geo": {"type": "GeoCoordinates", "latitude": s["lat"], "longitude": s["lon"]}},
        "eventSchedule": [{"type": "PartialSchedule", "byDay": [f"https://schema.org/{SCHEMA_DAYS[s['day']]}"],
                           "startTime": f"{s['hour']:02d}:00", "endTime": f"{s['hour'] + 1:02d}:00", "duration": "PT1H"}],
        "offers": [{"type": "Offer", "name": "Pay as you go", "price": 5.5, "priceCurrency": "GBP"}],
        "url": s["url"],
    }}


def rpde_page(f: FeedSpec, after_timestamp: int | None, generation: int, base_url: str) -> tuple[list, int | None]:
    """Items after `after_timestamp` (modified = BASE_MODIFIED + i, so the position is direct)."""
    start = 0 if after_timestamp is None else max(0, after_timestamp - BASE_MODIFIED + 1)
    stop = min(start + RPDE_PAGE, f.size)
    items = [oa_item(f, i, generation, base_url) for i in range(start, stop)]
    return items, (BASE_MODIFIED + stop - 1) if items else None


def page_etag(*parts) -> str:
    return '"' + hashlib.blake2b(json.dumps(parts).encode(), digest_size=12).hexdigest() + '"'
