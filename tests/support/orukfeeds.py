"""ORUK feeds served by the faulty loopback server: paged v3 and v1 ``/services``, details, ``/``.

A feed is built from a list of service objects (the shared fixtures, or ones generated here) and
switches that make the server misbehave the way real ORUK servers do::

    feed = OrukFeed(services, version="3", ignore_per_page=True, served_page_size=20)
    with FaultyServer() as srv:
        feed.install(srv)
        srv.fault("/services", "status", code=500, times=2)   # transport faults: faultyserver
        ...

Switches (all off by default):
- ``ignore_per_page`` + ``served_page_size``: the server pages by its own size;
- ``total_pages_offset``: the envelope's total_pages is this much off (a lie either way);
- ``empty_pages``: these page numbers come back empty part-way;
- ``page_one_always``: every page number gets page 1;
- ``repeat_pages``: {n: m} page n serves page m's items (a ``next`` loop);
- ``strip_nested``: list items lack nested objects; ``/services/{id}`` has the full object;
- ``raw_pages``: {n: bytes} served byte for byte (e.g. the real Bristol page, not strict JSON);
- ``etag``: ETag/Last-Modified validators and 304s on conditional GETs (on by default).
"""
from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from tests.support.faultyserver import FaultyServer, Reply

V3_NESTED = ("service_at_locations", "schedules", "attributes", "contacts", "service_areas", "languages",
             "cost_options", "funding")
V1_NESTED = ("service_at_locations", "regular_schedules", "service_taxonomys", "service_taxonomies",
             "link_taxonomy", "contacts", "eligibilitys", "eligibilities", "service_areas", "languages",
             "cost_options", "fundings")
GEN_NS = uuid.UUID("0b7f8a3e-0a8e-4a43-9d47-5f1ad3c0e111")
LAST_MODIFIED = "Sat, 21 Nov 2026 02:00:00 GMT"


def gen_uuid(*parts: Any) -> str:
    return str(uuid.uuid5(GEN_NS, "/".join(str(p) for p in parts)))


@dataclass
class OrukFeed:
    services: list[dict]
    version: str = "3"
    default_per_page: int = 50
    ignore_per_page: bool = False
    served_page_size: int | None = None
    total_pages_offset: int = 0
    empty_pages: set[int] = field(default_factory=set)
    page_one_always: bool = False
    repeat_pages: dict[int, int] = field(default_factory=dict)
    strip_nested: bool = False
    raw_pages: dict[int, bytes] = field(default_factory=dict)
    raw_total_pages: int | None = None
    etag: bool = True
    root: Any = "default"

    # -- what the server says -----------------------------------------------------------
    def root_doc(self) -> Any:
        if self.root != "default":
            return self.root
        if self.version == "3":
            return {"version": "HSDS-UK-3.0", "profile": "https://github.com/OpenReferralUK/uk-profile",
                    "openapi_url": "https://openreferraluk.org/specifications/3.0/openapi.json"}
        return None  # v1 APIs have no /: 404

    def page_size(self, query: dict) -> int:
        if self.ignore_per_page:
            return self.served_page_size or self.default_per_page
        try:
            return max(1, int(query.get("per_page") or query.get("size") or self.default_per_page))
        except ValueError:
            return self.default_per_page

    def list_item(self, svc: dict) -> dict:
        if not self.strip_nested:
            return svc
        nested = V1_NESTED if self.version == "1" else V3_NESTED
        return {k: v for k, v in svc.items() if k not in nested}

    def page_doc(self, number: int, size: int) -> dict:
        total = len(self.services)
        total_pages = max(1, -(-total // size))
        served = 1 if self.page_one_always else self.repeat_pages.get(number, number)
        items = [] if number in self.empty_pages else [
            self.list_item(s) for s in self.services[(served - 1) * size: served * size]]
        claimed_pages = max(0, total_pages + self.total_pages_offset)
        last = number >= claimed_pages
        if self.version == "1":
            return {"totalElements": total, "totalPages": claimed_pages, "number": number, "size": size,
                    "first": number == 1, "last": last, "empty": not items, "content": items}
        return {"total_items": total, "total_pages": claimed_pages, "page_number": number, "size": size,
                "first_page": number == 1, "last_page": last, "empty": not items, "contents": items}

    def _reply(self, body: bytes, headers: dict) -> Reply:
        if not self.etag:
            return Reply(200, body, {"Content-Type": "application/json"})
        tag = '"' + hashlib.md5(body).hexdigest() + '"'
        if headers.get("If-None-Match") == tag:
            return Reply(304, b"", {"ETag": tag})
        return Reply(200, body, {"Content-Type": "application/json", "ETag": tag, "Last-Modified": LAST_MODIFIED})

    def serve_services(self, query: dict, headers: dict) -> Reply:
        try:
            number = max(1, int(query.get("page") or 1))
        except ValueError:
            number = 1
        if number in self.raw_pages:
            return self._reply(self.raw_pages[number], headers)
        if self.raw_pages and number > 1:  # pages after a raw page: empty, as far as the claim goes
            doc = ({"totalElements": 0, "totalPages": self.raw_total_pages or 1, "number": number, "size": 0,
                    "first": False, "last": True, "empty": True, "content": []} if self.version == "1" else
                   {"total_items": 0, "total_pages": self.raw_total_pages or 1, "page_number": number, "size": 0,
                    "first_page": False, "last_page": True, "empty": True, "contents": []})
            return self._reply(json.dumps(doc).encode(), headers)
        body = json.dumps(self.page_doc(number, self.page_size(query)), ensure_ascii=False).encode("utf-8")
        return self._reply(body, headers)

    def serve_detail(self, path_id: str) -> Reply:
        index = getattr(self, "_index", None)
        if index is None or index[0] is not self.services:  # rebuilt when the feed's list is replaced
            index = (self.services, {str(s.get("id")): s for s in self.services})
            self._index = index
        svc = index[1].get(unquote(path_id))
        return Reply.json(svc) if svc is not None else Reply.raw("not found", 404, "text/plain")

    def install(self, srv: FaultyServer, prefix: str = "") -> None:
        srv.route(prefix + "/services", self.serve_services)
        srv.route(prefix + "/services/*", _DetailRoute(self, srv, prefix))
        doc = self.root_doc()
        if doc is not None:
            srv.route(prefix + "/", lambda q, h: Reply.json(doc))


class _DetailRoute:
    """/services/{id}: the id is the last segment of the request path."""

    def __init__(self, feed: OrukFeed, srv: FaultyServer, prefix: str):
        self.feed, self.srv, self.prefix = feed, srv, prefix

    def __call__(self, query: dict, headers: dict) -> Reply:
        path = headers.get(":path") or ""
        return self.feed.serve_detail(path.rsplit("/", 1)[-1])


# -- the shared fixtures -------------------------------------------------------------------------
def bristol_page_bytes(fixtures_dir: Path) -> bytes:
    return (fixtures_dir / "oruk" / "v1" / "bristol_openplace_v1_services_page1.json").read_bytes()


def bristol_services(fixtures_dir: Path) -> list[dict]:
    doc = json.loads(bristol_page_bytes(fixtures_dir).decode("utf-8"), strict=False)
    return doc["content"]


ESD_SPELLINGS = ("esdServiceTypes:{n}", "esdServiceType:{n}", "http://id.esd.org.uk/service/{n}", "{n}")
ESD_CODES = (242, 1149, 392, 827, 504, 1013, 343, 75)


def v1_detail(item: dict, i: int) -> dict:
    """A v1 /services/{id} object: the list item plus generated nested objects in v1's shapes, with
    esd service types written in every spelling feeds use, and both eligibility spellings."""
    n = ESD_CODES[i % len(ESD_CODES)]
    spelling = ESD_SPELLINGS[i % len(ESD_SPELLINGS)]
    sid = str(item["id"])
    loc_id = gen_uuid(sid, "location")
    detail = dict(item)
    detail["service_taxonomys" if i % 2 == 0 else "service_taxonomies"] = [{
        "id": gen_uuid(sid, "st"),
        "taxonomy": {"id": spelling.format(n=n), "name": f"Service type {n}",
                     "vocabulary": "esdServiceTypes", "parent": None}}]
    detail["eligibilitys" if i % 2 == 0 else "eligibilities"] = [
        {"id": gen_uuid(sid, "el"), "eligibility": "adult", "minimum_age": 18, "maximum_age": None}]
    detail["regular_schedules"] = [
        {"id": gen_uuid(sid, "rs", d), "weekday": d, "opens_at": "09:00", "closes_at": "17:00",
         "valid_from": "2024-01-01", "dtstart": None, "freq": None, "interval": None, "byday": None,
         "bymonthday": None, "description": ""} for d in (1, 3)]
    detail["service_at_locations"] = [{"id": gen_uuid(sid, "sal"), "location": {
        "id": loc_id, "name": f"{item.get('name', 'Venue')} venue", "description": "",
        "latitude": 51.45 + (i % 10) / 1000, "longitude": -2.58 - (i % 7) / 1000,
        "physical_addresses": [{"id": gen_uuid(sid, "pa"), "address_1": f"{i + 1} Example Street",
                                "city": "Bristol", "state_province": "Bristol", "postal_code": "BS1 5TR",
                                "country": "GB", "uprn": str(100000000 + i)}],
        "accessibility_for_disabilities": [{"id": gen_uuid(sid, "acc"), "accessibility": "Step-free access"}],
    }}]
    detail["contacts"] = [{"id": gen_uuid(sid, "c"), "name": "Reception", "title": None,
                           "phones": [{"id": gen_uuid(sid, "ph"), "number": f"0117 496 {i:04d}"}]}]
    detail["fundings"] = [{"id": gen_uuid(sid, "f"), "source": "Bristol City Council"}]
    detail["languages"] = [{"id": gen_uuid(sid, "lang"), "language": "English"}]
    detail["service_areas"] = [{"id": gen_uuid(sid, "area"), "service_area": "Bristol", "extent": None,
                                "uri": "http://statistics.data.gov.uk/id/statistical-geography/E06000023"}]
    return detail


def bristol_feed(fixtures_dir: Path, **switches) -> OrukFeed:
    """The real Bristol v1 page 1, byte for byte (claiming 5 pages of 243), details generated."""
    items = bristol_services(fixtures_dir)
    details = [v1_detail(item, i) for i, item in enumerate(items)]
    return OrukFeed(details, version="1", strip_nested=True,
                    raw_pages={1: bristol_page_bytes(fixtures_dir)}, raw_total_pages=5, **switches)


def serve_validator_mock(srv: FaultyServer, folder: Path, prefix: str = "") -> None:
    """A validator mock folder (``V3.0-UK-Default`` etc.) as a live v3 API."""
    def doc(name: str) -> Any:
        p = folder / name
        return json.loads(p.read_text(encoding="utf-8-sig")) if p.exists() else None

    routes = {"/": "api_details.json", "/services": "service_list.json",
              "/service_at_locations": "service_at_location_list.json", "/taxonomies": "taxonomy_list.json",
              "/taxonomy_terms": "taxonomy_term_list.json", "/organizations": "organization_list.json"}
    for path, name in routes.items():
        d = doc(name)
        if d is not None:
            srv.route(prefix + path, Reply.json(d))
    full = doc("service_full.json")
    if full is not None:
        srv.route(prefix + "/services/*", Reply.json(full))
    sal = doc("service_at_location_full.json")
    if sal is not None:
        srv.route(prefix + "/service_at_locations/*", Reply.json(sal))


# -- generated v3 services ------------------------------------------------------------------------
TOWNS = ("Leeds", "Bradford", "Wakefield", "Harrogate", "York", "Halifax", "Huddersfield", "Keighley")
KINDS = ("Food bank", "Carers group", "Walking football", "Debt advice", "Baby clinic", "Men's shed",
         "Youth club", "Lunch club", "Repair café", "Job club")


def generated_v3_service(i: int, seed: int = 0) -> dict:
    """A complete, schema-valid ORUK v3 service object (deterministic in ``i`` and ``seed``)."""
    rng = random.Random(seed * 1_000_003 + i)
    sid = gen_uuid(seed, "service", i)
    org = gen_uuid(seed, "org", i // 5)
    loc = gen_uuid(seed, "loc", i)
    town = TOWNS[i % len(TOWNS)]
    kind = KINDS[rng.randrange(len(KINDS))]
    term = ESD_CODES[i % len(ESD_CODES)]
    return {
        "id": sid, "name": f"{town} {kind} {i}",
        "description": f"<p>A friendly <b>{kind.lower()}</b> in {town}. Costs &pound;{rng.randrange(0, 9)} a session.</p>",
        "url": f"https://example.org/services/{i}", "email": f"hello{i}@example.org", "status": "active",
        "fees": "Free", "minimum_age": 16, "maximum_age": 99, "assured_date": "2026-10-01",
        "last_modified": "2026-11-01T10:00:00Z",
        "organization": {"id": org, "name": f"{town} Community Trust {i // 5}",
                         "description": "A local charity.", "website": "https://example.org",
                         "email": "info@example.org"},
        "service_at_locations": [{"id": gen_uuid(seed, "sal", i), "location": {
            "id": loc, "location_type": "physical", "name": f"{town} Hall {i % 97}",
            "latitude": 53.8 + rng.random() / 10, "longitude": -1.55 - rng.random() / 10,
            "addresses": [{"id": gen_uuid(seed, "addr", i), "address_1": f"{i % 300 + 1} High Street",
                           "city": town, "state_province": "West Yorkshire", "postal_code": "LS1 4AP",
                           "country": "GB", "address_type": "physical"}],
            "accessibility": [{"id": gen_uuid(seed, "acc", i), "location_id": loc,
                               "description": "Step-free entrance"}]}}],
        "schedules": [{"id": gen_uuid(seed, "sch", i), "service_id": sid, "freq": "WEEKLY",
                       "byday": ("MO", "TU", "WE", "TH", "FR")[i % 5], "opens_at": "10:00",
                       "closes_at": "12:00", "description": "Weekly session"}],
        "contacts": [{"id": gen_uuid(seed, "con", i), "service_id": sid, "name": "Coordinator",
                      "phones": [{"id": gen_uuid(seed, "ph", i), "number": f"0113 496 {i % 10000:04d}"}]}],
        "service_areas": [{"id": gen_uuid(seed, "area", i), "service_id": sid, "name": town}],
        "languages": [{"id": gen_uuid(seed, "lang", i), "service_id": sid, "name": "English", "code": "en"}],
        "cost_options": [{"id": gen_uuid(seed, "cost", i), "service_id": sid, "amount": rng.randrange(0, 9),
                          "option": "Per session"}],
        "funding": [{"id": gen_uuid(seed, "fund", i), "service_id": sid, "source": "Council grant"}],
        "attributes": [{"id": gen_uuid(seed, "attr", i), "link_id": sid, "link_type": "service",
                        "link_entity": "service", "taxonomy_term_id": gen_uuid("esd", term),
                        "taxonomy_term": {"id": gen_uuid("esd", term), "name": f"Service type {term}",
                                          "description": "An LGA service type",
                                          "taxonomy": "esdServiceTypes",
                                          "term_uri": f"http://id.esd.org.uk/service/{term}"}}],
    }


def generated_v3_services(n: int, seed: int = 0) -> list[dict]:
    return [generated_v3_service(i, seed) for i in range(n)]
