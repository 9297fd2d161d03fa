"""Catalogue rows -> ORUK v3 JSON objects (and the v1 shape), built in batches.

Everything here reads the published copy that ``warehouse.profiles.load_published`` makes
(``catalogue.*`` already filtered to the profile and cleaned), with one query per table for a
whole batch of services and the rows grouped in dicts, never one query per service, so that a
100,000-service export builds in seconds.

Shapes follow the compiled UK-profile schemas (``schema/v3-uk/compiled``): ``/services/{id}``
is fully nested (organisation, contacts, schedules, service areas, languages, funding, costs,
attributes with their taxonomy terms, service_at_locations with location, addresses and
accessibility); list items carry one-to-one fields only. Nulls are left out (the schemas type
every field, and ``null`` is not a string). A required string the catalogue doesn't hold (an
organisation's description, an address's county) is published as ``""``. HSDS core fields the
UK profile drops but consumers need (phones of services and contacts, a language's name and
code) are kept: the schemas allow additional properties.

Each full service carries one extension object, ``placecat`` (ORUK consumers ignore unknown
fields): ``record`` ("golden"), ``replaces`` (the trust register: each source record this golden
record stands for, with its source, publisher and why) and ``provenance`` (field -> the source
record whose value won).
"""
from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict
from typing import Any, Iterator

import duckdb

from warehouse import publishable
from warehouse.model import ORUK_TABLES, oruk_columns

EXTENSION = "placecat"
BATCH = 20_000

# -- cleaning for publishing ----------------------------------------------------------------------
# The catalogue build made catalogue.* publishable already (quality.personal_data); the same policy
# is applied again here, so that a catalogue file written by an older placecat is served no
# differently (``warehouse.publishable``: one policy for the build, the API and the exports).
# Columns the policy rewrites on the way out (ids, numbers and dates are published as they are).
_CLEANED_KINDS = ("html", "url", "email", "phone", "person", "free_text")


def register_cleaning_functions(con: duckdb.DuckDBPyConnection) -> None:
    # SPECIAL null handling: these may return NULL (a withheld value), which DEFAULT forbids.
    for kind in _CLEANED_KINDS:
        con.create_function(f"pc_publishable_{kind}", _cleaner(kind), ["VARCHAR"], "VARCHAR", null_handling="special")


def _cleaner(kind: str):
    def clean(value: str | None) -> str | None:
        return publishable.publishable(kind, value)[0]
    return clean


def cleaned_select(table: str, columns: list[str]) -> str:
    """SELECT list that publishes ``table``'s columns cleaned (uses register_cleaning_functions)."""
    out = []
    for c in columns:
        kind = publishable.field_kind(table, c)
        out.append(f'pc_publishable_{kind}("{c}") AS "{c}"' if kind in _CLEANED_KINDS else f'"{c}"')
    return ", ".join(out)


# -- rows -> dicts ---------------------------------------------------------------------------------
REQUIRED_STRINGS = {
    "organization": ("name", "description"),
    "address": ("address_1", "city", "state_province", "postal_code", "country", "address_type"),
    "taxonomy_term": ("name", "description"),
    "taxonomy": ("name", "description"),
    "organization_identifier": ("identifier_type", "identifier"),
    "service": ("name", "status"),
    "location": ("location_type",),
}


def json_value(v: Any) -> Any:
    if isinstance(v, float):
        return int(v) if v.is_integer() and abs(v) < 2 ** 53 else v
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return v.isoformat(timespec="seconds" if not v.microsecond else "milliseconds") + "Z"
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, dt.time):
        return v.isoformat(timespec="seconds")
    return v


def select_list(table: str, columns: list[str], alias: str = "") -> str:
    """Columns as JSON-ready values: dates, times and timestamps formatted by DuckDB, not Python."""
    types = {c: t for c, t, _ in ORUK_TABLES[table]}
    out = []
    for c in columns:
        q = f'{alias}"{c}"'
        t = types.get(c, "VARCHAR")
        if t == "TIMESTAMP":
            out.append(f"strftime({q}, '%Y-%m-%dT%H:%M:%S.%fZ')")
        elif t in ("DATE", "TIME"):
            out.append(f"CAST({q} AS VARCHAR)")
        else:
            out.append(q)
    return ", ".join(out)


def make_object(table: str, columns: list[str], row: tuple) -> dict:
    """A row (from ``select_list``) as an ORUK object: nulls left out, required strings filled."""
    obj = {c: v for c, v in zip(columns, row) if v is not None}
    for c in REQUIRED_STRINGS.get(table, ()):
        if c not in obj:
            obj[c] = ""
    return obj


class Rows:
    """All rows of one catalogue table for a batch, grouped by a key column."""

    def __init__(self, con: duckdb.DuckDBPyConnection, table: str, key: str, where: str,
                 columns: list[str] | None = None, order: str = "id"):
        self.columns = columns or oruk_columns(table)
        self.table = table
        rows = con.execute(f'SELECT "{key}", {select_list(table, self.columns)} FROM catalogue.{table} '
                           f'WHERE {where} ORDER BY "{key}", {order}').fetchall()
        self.by_key: dict[Any, list[dict]] = defaultdict(list)
        cols = self.columns
        required = REQUIRED_STRINGS.get(table, ())
        for r in rows:
            obj = {c: v for c, v in zip(cols, r[1:]) if v is not None}
            for c in required:
                if c not in obj:
                    obj[c] = ""
            self.by_key[r[0]].append(obj)

    def get(self, key: Any) -> list[dict]:
        return self.by_key.get(key, [])


def _in(ids_sql: str) -> str:
    return f"IN ({ids_sql})"


def _terms(con: duckdb.DuckDBPyConnection, where: str) -> dict[str, dict]:
    cols = oruk_columns("taxonomy_term")
    rows = con.execute(f"SELECT {select_list('taxonomy_term', cols)} FROM catalogue.taxonomy_term WHERE {where}").fetchall()
    return {r[0]: make_object("taxonomy_term", cols, r) for r in rows}


def _attributes(con: duckdb.DuckDBPyConnection, link_ids_sql: str) -> dict[str, list[dict]]:
    """attributes by link_id, each with its nested taxonomy_term."""
    attrs = Rows(con, "attribute", "link_id", f"link_id {_in(link_ids_sql)}")
    terms = _terms(con, f"id IN (SELECT taxonomy_term_id FROM catalogue.attribute WHERE link_id {_in(link_ids_sql)})")
    for items in attrs.by_key.values():
        for a in items:
            term = terms.get(a.get("taxonomy_term_id"))
            if term:
                a["taxonomy_term"] = term
    return attrs.by_key


def _drop(obj: dict, *keys: str) -> dict:
    for k in keys:
        obj.pop(k, None)
    return obj


class ServiceBatch:
    """Nested service documents for the services selected by ``ids_sql`` (a SELECT of ids)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, ids_sql: str):
        self.con = con
        ids = _in(ids_sql)
        sal_ids = f"(SELECT id FROM catalogue.service_at_location WHERE service_id {ids})"
        loc_ids = f"(SELECT location_id FROM catalogue.service_at_location WHERE service_id {ids})"
        org_ids = f"(SELECT organization_id FROM catalogue.service WHERE id {ids})"
        contact_ids = f"(SELECT id FROM catalogue.contact WHERE service_id {ids})"
        self.service_cols = oruk_columns("service")
        self.services = con.execute(
            f"SELECT {select_list('service', self.service_cols)} FROM catalogue.service WHERE id {ids} "
            f"ORDER BY name, id").fetchall()
        self.orgs = {r["id"]: r for r in (make_object("organization", oruk_columns("organization"), row) for row in
                     con.execute(f"SELECT {select_list('organization', oruk_columns('organization'))} FROM catalogue.organization "
                                 f"WHERE id IN {org_ids}").fetchall())}
        self.org_identifiers = Rows(con, "organization_identifier", "organization_id", f"organization_id IN {org_ids}")
        self.schedules = Rows(con, "schedule", "service_id", f"service_id {ids}")
        self.sal_schedules = Rows(con, "schedule", "service_at_location_id",
                                  f"service_at_location_id IN {sal_ids}")
        self.areas = Rows(con, "service_area", "service_id", f"service_id {ids}")
        self.languages = Rows(con, "language", "service_id", f"service_id {ids}")
        self.funding = Rows(con, "funding", "service_id", f"service_id {ids}")
        self.costs = Rows(con, "cost_option", "service_id", f"service_id {ids}")
        self.contacts = Rows(con, "contact", "service_id", f"service_id {ids}")
        self.contact_phones = Rows(con, "phone", "contact_id", f"contact_id IN {contact_ids}")
        self.service_phones = Rows(con, "phone", "service_id", f"service_id {ids} AND contact_id IS NULL")
        self.sals = Rows(con, "service_at_location", "service_id", f"service_id {ids}")
        self.locations = {r["id"]: r for r in (make_object("location", oruk_columns("location"), row) for row in
                          con.execute(f"SELECT {select_list('location', oruk_columns('location'))} FROM catalogue.location "
                                      f"WHERE id IN {loc_ids}").fetchall())}
        self.addresses = Rows(con, "address", "location_id", f"location_id IN {loc_ids}")
        self.accessibility = Rows(con, "accessibility", "location_id", f"location_id IN {loc_ids}")
        self.attributes = _attributes(con, f"SELECT id FROM catalogue.service WHERE id {ids} UNION ALL "
                                           f"SELECT * FROM {loc_ids} UNION ALL SELECT * FROM {org_ids}")
        self.replaces, self.provenance = self._trust_register(ids)

    def _trust_register(self, ids: str) -> tuple[dict[str, list[dict]], dict[str, dict]]:
        replaces: dict[str, list[dict]] = defaultdict(list)
        # A record served from a source that is not up to date says so, with when it was harvested.
        unwell = {s["source_id"]: s for s in source_statuses(self.con) if s["status"] not in HEALTHY}
        # No match scores here: they drift a little night to night and would make every merged service
        # look changed to a hub (``placecat explain`` gives the reasons).
        for sid, src, rec, reason, publisher, licence, attribution in self.con.execute(f"""
                SELECT r.replaced_by_id, r.source_id, r.source_record_id, r.reason, s.publisher, s.licence, s.attribution
                FROM catalogue.replaced_by r
                LEFT JOIN ops.source s ON s.source_id = r.source_id
                WHERE r.entity = 'service' AND r.replaced_by_id {ids}
                ORDER BY 1, 2, 3""").fetchall():
            item = {"source_id": src, "source_record_id": rec}
            if publisher is not None:
                item["publisher"] = publisher
            if reason is not None:
                item["reason"] = reason
            # Each record's own terms of reuse: the merged feed grants no licence of its own.
            if licence is not None:
                item["licence"] = licence
            if attribution is not None:
                item["attribution"] = attribution
            if src in unwell:
                item["source_status"] = unwell[src]["status"]
                if unwell[src].get("harvested_at"):
                    item["source_harvested_at"] = unwell[src]["harvested_at"]
            replaces[sid].append(item)
        provenance: dict[str, dict] = defaultdict(dict)
        for sid, field, src, rec in self.con.execute(f"""
                SELECT service_id, field, source_id, source_record_id FROM catalogue.field_provenance
                WHERE service_id {ids} ORDER BY 1, 2""").fetchall():
            provenance[sid][field] = {"source_id": src, "source_record_id": rec}
        return replaces, provenance

    # -- pieces
    def organization(self, org_id: str | None, nested: bool) -> dict | None:
        return self._object(self.orgs, org_id, nested, {"organization_identifiers": self.org_identifiers})

    def location(self, loc_id: str, nested: bool) -> dict | None:
        return self._object(self.locations, loc_id, nested,
                            {"addresses": self.addresses, "accessibility": self.accessibility})

    def _object(self, rows: dict, key: str | None, nested: bool, children: dict) -> dict | None:
        """A copy of ``rows[key]``; nested, with its child rows by field and its attributes."""
        row = rows.get(key)
        if row is None:
            return None
        row = dict(row)
        if nested:
            row.update({field: child_rows.get(key) for field, child_rows in children.items()})
            row["attributes"] = self.attributes.get(key, [])
        return row

    def service_flat(self, row: tuple) -> dict:
        return make_object("service", self.service_cols, row)

    def documents(self) -> Iterator["ServiceDocument"]:
        for row in self.services:
            flat = self.service_flat(row)
            sid = flat["id"]
            org = self.organization(flat.get("organization_id"), nested=True)
            contacts = []
            for c in self.contacts.get(sid):
                c["phones"] = self.contact_phones.get(c["id"])
                contacts.append(c)
            full = dict(flat)
            if org:
                full["organization"] = org
            full.update({
                "contacts": contacts,
                "phones": self.service_phones.get(sid),
                "schedules": self.schedules.get(sid),
                "service_areas": self.areas.get(sid),
                "languages": self.languages.get(sid),
                "funding": self.funding.get(sid),
                "cost_options": self.costs.get(sid),
                "attributes": self.attributes.get(sid, []),
            })
            sals = []
            for sal in self.sals.get(sid):
                loc = self.location(sal.get("location_id"), nested=True)
                if loc:
                    sal["location"] = loc
                sal["schedules"] = self.sal_schedules.get(sal["id"])
                sals.append(sal)
            full["service_at_locations"] = sals
            full[EXTENSION] = {"record": "golden", "replaces": self.replaces.get(sid, []),
                               "provenance": self.provenance.get(sid, {})}
            item = dict(flat)
            org_flat = self.organization(flat.get("organization_id"), nested=False)
            if org_flat:
                item["organization"] = org_flat
            yield ServiceDocument(sid, full, item)


class ServiceDocument:
    __slots__ = ("id", "full", "item")

    def __init__(self, sid: str, full: dict, item: dict):
        self.id, self.full, self.item = sid, full, item

    def service_at_location_item_bytes(self, item_bytes: bytes) -> list[tuple[str, bytes]]:
        """(id, serialised list item) per service_at_location, reusing the service item's bytes."""
        out = []
        for sal in self.full["service_at_locations"]:
            loc = {k: v for k, v in sal.get("location", {}).items() if not isinstance(v, list)}
            head = {"id": sal["id"], "service_id": sal.get("service_id"), "location_id": sal.get("location_id"),
                    **({"location": loc} if loc else {})}
            out.append((sal["id"], dumps(head)[:-1] + b',"service":' + item_bytes + b"}"))
        return out

    def service_at_location_full(self, sal_id: str) -> dict | None:
        for sal in self.full["service_at_locations"]:
            if sal["id"] == sal_id:
                service = {k: v for k, v in self.full.items() if k != "service_at_locations"}
                return {**sal, "service": service}
        return None


# Source statuses a hub need not be told about per record (see source_statuses).
HEALTHY = ("ok", "unchanged")


def source_statuses(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Each source's status at the catalogue's latest run, for `/`, the export and each record's
    trust register: a hub must be able to see that a source is stale (served from an old
    snapshot), dropped (no longer served), held (a shrink waiting for a person) or failing."""
    tables = {r[0] for r in con.execute("SELECT schema_name || '.' || table_name FROM duckdb_tables()").fetchall()}
    if "ops.source_status" not in tables or "ops.run" not in tables:
        return []
    rows = con.execute("""
        SELECT st.source_id, st.status, st.message, st.snapshot_harvested_at, src.publisher
        FROM ops.source_status st LEFT JOIN ops.source src ON src.source_id = st.source_id
        WHERE st.run_id = (SELECT max_by(run_id, started_at) FROM ops.run WHERE run_id IN
                           (SELECT run_id FROM ops.source_status))
        ORDER BY st.source_id""").fetchall()
    out = []
    for source_id, status, message, harvested_at, publisher in rows:
        entry = {"source_id": source_id, "status": status,
                 "served": status not in ("dropped", "failed", "no-data")}
        if publisher is not None:
            entry["publisher"] = publisher
        if harvested_at is not None:
            entry["harvested_at"] = harvested_at.isoformat(timespec="seconds")
        if status not in HEALTHY and message:
            entry["note"] = message
        out.append(entry)
    return out


def iter_service_documents(con: duckdb.DuckDBPyConnection, ids_sql: str = "SELECT id FROM catalogue.service",
                           batch: int = BATCH) -> Iterator[ServiceDocument]:
    """Every selected service, name order, built ``batch`` services at a time."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _doc_ids AS SELECT id, row_number() OVER (ORDER BY name, id) AS n "
                f"FROM catalogue.service WHERE id IN ({ids_sql})")
    total = con.execute("SELECT count(*) FROM _doc_ids").fetchall()[0][0]
    for start in range(0, total, batch):
        yield from ServiceBatch(con, f"SELECT id FROM _doc_ids WHERE n > {start} AND n <= {start + batch}").documents()


def taxonomies(con: duckdb.DuckDBPyConnection) -> list[dict]:
    cols = oruk_columns("taxonomy")
    return [make_object("taxonomy", cols, r) for r in
            con.execute(f"SELECT {select_list('taxonomy', cols)} FROM catalogue.taxonomy ORDER BY name, id").fetchall()]


def taxonomy_terms(con: duckdb.DuckDBPyConnection) -> list[dict]:
    cols = oruk_columns("taxonomy_term")
    taxa = {t["id"]: t for t in taxonomies(con)}
    out = []
    for r in con.execute(f"SELECT {select_list('taxonomy_term', cols)} FROM catalogue.taxonomy_term ORDER BY name, id").fetchall():
        term = make_object("taxonomy_term", cols, r)
        if term.get("taxonomy_id") in taxa:
            term["taxonomy_detail"] = taxa[term["taxonomy_id"]]
        out.append(term)
    return out


# -- paging ---------------------------------------------------------------------------------------
def page_envelope(total: int, page: int, per_page: int, contents: list) -> dict:
    total_pages = max(1, -(-total // per_page)) if per_page else 1
    return {"total_items": total, "total_pages": total_pages, "page_number": page, "size": len(contents),
            "first_page": page == 1, "last_page": page >= total_pages, "empty": len(contents) == 0,
            "contents": contents}


def page_bytes(total: int, page: int, per_page: int, items: list[bytes]) -> bytes:
    """The v3 paging envelope around already-serialised items (no re-encoding)."""
    head = page_envelope(total, page, per_page, [])
    head["size"] = len(items)
    head["empty"] = not items
    head.pop("contents")
    return dumps(head)[:-1] + b',"contents":[' + b",".join(items) + b"]}"


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=json_value).encode("utf-8")


# -- ORUK v1 shape ---------------------------------------------------------------------------------
def v1_service(full: dict) -> dict:
    """A v3 service in the ORUK v1 (LGA/Porism) shape that v1 consumers read."""
    org = full.get("organization") or {}
    out = {k: full[k] for k in ("id", "name", "description", "url", "email", "status", "fees",
                                "accreditations", "assured_date", "attending_type") if k in full}
    out["organization"] = {k: org[k] for k in ("id", "name", "description", "email", "url", "website", "logo")
                           if k in org}
    out["contacts"] = [{"id": c["id"], "name": c.get("name"), "title": c.get("title"),
                        "phones": [{"id": p["id"], "number": p.get("number")} for p in c.get("phones", [])]}
                       for c in full.get("contacts", [])]
    out["eligibilitys"] = []
    if "minimum_age" in full or "maximum_age" in full:
        out["eligibilitys"].append({"id": full["id"], "eligibility": "age", "minimum_age": full.get("minimum_age"),
                                    "maximum_age": full.get("maximum_age")})
    out["regular_schedules"] = v1_regular_schedules(full.get("schedules", []))
    out["service_areas"] = [{"id": a["id"], "service_area": a.get("service_area") or a.get("name"),
                             "extent": a.get("extent"), "uri": a.get("uri")} for a in full.get("service_areas", [])]
    out["languages"] = [{"id": lang["id"], "language": lang.get("name") or lang.get("code")}
                        for lang in full.get("languages", [])]
    out["cost_options"] = [{"id": c["id"], "amount": c.get("amount"), "option": c.get("option"),
                            "amount_description": c.get("amount_description"), "valid_from": c.get("valid_from"),
                            "valid_to": c.get("valid_to")} for c in full.get("cost_options", [])]
    out["fundings"] = [{"id": f["id"], "source": f.get("source")} for f in full.get("funding", [])]
    out["service_at_locations"] = []
    for sal in full.get("service_at_locations", []):
        loc = sal.get("location", {})
        out["service_at_locations"].append({"id": sal["id"], "location": {
            "id": loc.get("id"), "name": loc.get("name"), "description": loc.get("description"),
            "latitude": loc.get("latitude"), "longitude": loc.get("longitude"),
            "physical_addresses": [{"id": a["id"], "address_1": a.get("address_1"), "city": a.get("city"),
                                    "state_province": a.get("state_province"), "postal_code": a.get("postal_code"),
                                    "country": a.get("country")} for a in loc.get("addresses", [])],
            "accessibility_for_disabilities": [{"id": a["id"], "accessibility": a.get("description")}
                                               for a in loc.get("accessibility", [])]}})
    out["service_taxonomys"] = [
        {"id": a["id"], "taxonomy": {"id": a["taxonomy_term"]["id"], "name": a["taxonomy_term"].get("name"),
                                     "vocabulary": a["taxonomy_term"].get("taxonomy"),
                                     "parent": a["taxonomy_term"].get("parent_id")}}
        for a in full.get("attributes", []) if "taxonomy_term" in a]
    out[EXTENSION] = full.get(EXTENSION)
    return _strip_none(out)


V1_WEEKDAYS = {"MO": 1, "TU": 2, "WE": 3, "TH": 4, "FR": 5, "SA": 6, "SU": 7}


def v1_regular_schedules(schedules: list[dict]) -> list[dict]:
    """v3 schedules as v1 regular_schedules: one per weekday, ``weekday`` an integer 1 (Monday) to 7,
    as the v1 schema requires ("MO,WE" is two rows). Schedules with no weekly day are left out of v1."""
    out = []
    for s in schedules:
        days = [d for d in re.findall(r"(?:^|,)\s*[+-]?\d*([A-Z]{2})", (s.get("byday") or "").upper()) if d in V1_WEEKDAYS]
        for day in days:
            out.append({"id": s["id"] if len(days) == 1 else f"{s['id']}-{day.lower()}", "weekday": V1_WEEKDAYS[day],
                        "opens_at": s.get("opens_at"), "closes_at": s.get("closes_at"),
                        "valid_from": s.get("valid_from"), "valid_to": s.get("valid_to"), "dtstart": s.get("dtstart"),
                        "freq": s.get("freq"), "interval": s.get("interval"), "byday": day,
                        "description": s.get("description")})
    return out


def v1_organization(org: dict) -> dict:
    return _strip_none({"id": org["id"], "name": org.get("name") or "", "description": org.get("description") or "",
                        "email": org.get("email"), "url": org.get("website"), "logo": org.get("logo"),
                        "uri": org.get("uri")})


def v1_taxonomy(term: dict) -> dict:
    """A taxonomy term in the v1 shape (v1 has no separate taxonomy object: ``vocabulary`` names it)."""
    return _strip_none({"id": term["id"], "name": term.get("name") or term.get("term") or "",
                        "vocabulary": term.get("taxonomy") or (term.get("taxonomy_detail") or {}).get("name"),
                        "parent_id": term.get("parent_id")})


def v1_location(loc: dict) -> dict:
    return _strip_none({
        "id": loc["id"], "name": loc.get("name"), "description": loc.get("description"),
        "latitude": loc.get("latitude"), "longitude": loc.get("longitude"),
        "physical_addresses": [{"id": a["id"], "address_1": a.get("address_1"), "city": a.get("city") or "",
                                "state_province": a.get("state_province") or "", "postal_code": a.get("postal_code") or "",
                                "country": a.get("country") or ""} for a in loc.get("addresses", [])],
        "accessibility_for_disabilities": [{"id": a["id"], "accessibility": a.get("description")}
                                           for a in loc.get("accessibility", [])]})


def _strip_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_strip_none(v) for v in obj]
    return obj


def v1_page(total: int, page: int, per_page: int, contents: list) -> dict:
    """The Spring-style v1 envelope."""
    total_pages = max(1, -(-total // per_page))
    return {"totalElements": total, "totalPages": total_pages, "number": page, "size": per_page,
            "first": page == 1, "last": page >= total_pages, "numberOfElements": len(contents),
            "empty": not contents, "content": contents}
