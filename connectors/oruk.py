"""ORUK connector: Open Referral UK feeds into staging.

This module reads ORUK v3 services from local files (a folder of paged ``/services`` responses,
one full JSON dump, or JSON Lines) and normalises v3 service objects to the model. HTTP
harvesting and v1 feeds plug in here too: ``harvest`` picks the reader, ``normalise`` the
version-specific mapping.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from connectors.base import HarvestError, HarvestOutcome, iter_json_records
from connectors.staging import StagingRows, child_record_id, staging_id

INCREMENTAL = False


# -- harvest ---------------------------------------------------------------------------------
def _local_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in (".json", ".jsonl") and p.is_file())
        if not files:
            raise HarvestError(f"{path}: folder holds no .json or .jsonl files")
        return files
    if not path.exists():
        raise HarvestError(f"{path}: file not found")
    return [path]


def _items_in_file(path: Path) -> Iterator[tuple[dict, str]]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix == ".jsonl":
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                yield json.loads(line, strict=False), f"{path}:{n}"
        return
    try:
        doc = json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        raise HarvestError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); check the file") from None
    if isinstance(doc, dict) and isinstance(doc.get("contents"), list):
        items = doc["contents"]
    elif isinstance(doc, dict) and isinstance(doc.get("content"), list):
        items = doc["content"]
    elif isinstance(doc, list):
        items = doc
    elif isinstance(doc, dict) and "id" in doc and "name" in doc:
        items = [doc]
    else:
        raise HarvestError(f"{path}: expected a /services page (contents), a list of services or one service")
    for n, item in enumerate(items):
        yield item, f"{path}#{n}"


def harvest_local(source, writer, state: dict) -> HarvestOutcome:
    files = _local_files(source.path)
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode())
        digest.update(f.read_bytes())
    files_hash = digest.hexdigest()
    if state.get("files_hash") == files_hash:
        return HarvestOutcome("unchanged", "files unchanged since the last harvest", state=state)
    n = 0
    for f in files:
        for item, where in _items_in_file(f):
            if not isinstance(item, dict):
                continue
            record_id = str(item.get("id") or f"{f.name}#{n}")
            writer.put_raw(record_id, "service", item, where)
            n += 1
    return HarvestOutcome("complete", f"{n} services from {len(files)} file(s)", records=n,
                          pages=len(files), state={"files_hash": files_hash})


def harvest(source, writer, state: dict, ctx) -> HarvestOutcome:
    if source.path is not None:
        return harvest_local(source, writer, state)
    raise HarvestError(f"{source.url}: harvesting ORUK feeds over HTTP is not available in this version")


# -- normalise -------------------------------------------------------------------------------
SERVICE_FIELDS = ("name", "description", "url", "email", "status", "fees", "accreditations",
                  "minimum_age", "maximum_age", "assured_date", "assurer_email", "alert", "last_modified")
NESTED_SERVICE_KEYS = {"id", "organization", "organization_id", "schedules", "service_areas",
                       "service_at_locations", "languages", "funding", "cost_options", "contacts",
                       "attributes", "phones", "metadata"}


def _pick(obj: dict, fields: Iterable[str]) -> dict:
    return {f: obj.get(f) for f in fields if f in obj}


def _list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    if isinstance(value, dict):
        return [value]
    return []


def _rid(obj: dict, parent: str, table: str, n: int) -> str:
    v = obj.get("id")
    return str(v) if v not in (None, "") else child_record_id(parent, table, n)


def add_organization(rows: StagingRows, org: dict, root: str) -> str:
    org_rid = _rid(org, root, "organization", 0)
    org_id = rows.add("organization", org_rid, {
        **_pick(org, ("name", "description", "email", "website", "logo", "uri")),
        "parent_organization_id": staging_id(rows.source_id, "organization", str(org["parent_organization_id"]))
        if org.get("parent_organization_id") else None,
    }, extras={k: v for k, v in org.items() if k not in {
        "id", "name", "description", "email", "website", "logo", "uri", "parent_organization_id",
        "organization_identifiers", "attributes"}} or None, root_record_id=root)
    for n, ident in enumerate(_list(org.get("organization_identifiers"))):
        rows.add("organization_identifier", _rid(ident, org_rid, "organization_identifier", n), {
            "organization_id": org_id,
            **_pick(ident, ("identifier_scheme", "identifier_type", "identifier")),
        }, root_record_id=root)
    add_attributes(rows, org.get("attributes"), org_id, "organization", org_rid, root)
    return org_id


def add_attributes(rows: StagingRows, attributes: Any, link_id: str, link_entity: str,
                   parent_rid: str, root: str) -> None:
    for n, attr in enumerate(_list(attributes)):
        term = attr.get("taxonomy_term") if isinstance(attr.get("taxonomy_term"), dict) else None
        term_id = None
        if term:
            term_id = add_taxonomy_term(rows, term, root)
        elif attr.get("taxonomy_term_id"):
            term_id = staging_id(rows.source_id, "taxonomy_term", str(attr["taxonomy_term_id"]))
        rows.add("attribute", _rid(attr, parent_rid, "attribute", n), {
            "link_id": link_id, "taxonomy_term_id": term_id, "link_type": attr.get("link_type"),
            "link_entity": attr.get("link_entity") or link_entity, "value": attr.get("value"),
        }, root_record_id=root)


def add_taxonomy_term(rows: StagingRows, term: dict, root: str) -> str:
    term_rid = _rid(term, root, "taxonomy_term", 0)
    taxonomy_id = None
    tax = term.get("taxonomy_detail") if isinstance(term.get("taxonomy_detail"), dict) else None
    if tax:
        taxonomy_id = rows.add("taxonomy", _rid(tax, term_rid, "taxonomy", 0),
                               _pick(tax, ("name", "description", "uri", "version")), root_record_id=root)
    elif term.get("taxonomy_id"):
        taxonomy_id = staging_id(rows.source_id, "taxonomy", str(term["taxonomy_id"]))
    return rows.add("taxonomy_term", term_rid, {
        **_pick(term, ("name", "description", "taxonomy", "term_uri", "term")),
        "parent_id": staging_id(rows.source_id, "taxonomy_term", str(term["parent_id"])) if term.get("parent_id") else None,
        "taxonomy_id": taxonomy_id,
    }, root_record_id=root)


def add_location(rows: StagingRows, loc: dict, root: str) -> str:
    loc_rid = _rid(loc, root, "location", 0)
    loc_id = rows.add("location", loc_rid, {
        **_pick(loc, ("name", "description", "latitude", "longitude", "external_identifier",
                      "external_identifier_type")),
        "location_type": loc.get("location_type") or "physical",
    }, root_record_id=root)
    for n, addr in enumerate(_list(loc.get("addresses"))):
        rows.add("address", _rid(addr, loc_rid, "address", n), {
            "location_id": loc_id,
            **_pick(addr, ("attention", "address_1", "city", "region", "state_province",
                           "postal_code", "country")),
            "address_type": addr.get("address_type") or "physical",
        }, root_record_id=root)
    for n, acc in enumerate(_list(loc.get("accessibility"))):
        rows.add("accessibility", _rid(acc, loc_rid, "accessibility", n), {
            "location_id": loc_id, **_pick(acc, ("description", "details", "url", "accessibility")),
        }, root_record_id=root)
    for n, phone in enumerate(_list(loc.get("phones"))):
        rows.add("phone", _rid(phone, loc_rid, "phone", n), {
            "location_id": loc_id, **_pick(phone, ("number", "description")),
        }, root_record_id=root)
    add_attributes(rows, loc.get("attributes"), loc_id, "location", loc_rid, root)
    return loc_id


def normalise_v3_service(rows: StagingRows, svc: dict, record_id: str) -> str | None:
    """Map one v3 service object (as in a /services/{id} response) to staging rows."""
    sid = rows.source_id
    if not isinstance(svc, dict):
        rows.issue(record_id, "service", None, "shape", "record is not a JSON object", "blocking")
        return None
    org_id = None
    if isinstance(svc.get("organization"), dict):
        org_id = add_organization(rows, svc["organization"], record_id)
    elif svc.get("organization_id"):
        org_id = staging_id(sid, "organization", str(svc["organization_id"]))
    values = _pick(svc, SERVICE_FIELDS)
    values["status"] = (values.get("status") or "active")
    values["organization_id"] = org_id
    extras = {k: v for k, v in svc.items() if k not in NESTED_SERVICE_KEYS and k not in SERVICE_FIELDS}
    service_id = rows.add("service", record_id, values, extras=extras or None)

    for n, sched in enumerate(_list(svc.get("schedules"))):
        rows.add("schedule", _rid(sched, record_id, "schedule", n), {
            "service_id": service_id,
            **_pick(sched, ("valid_from", "valid_to", "dtstart", "freq", "interval", "byday",
                            "bymonthday", "description", "opens_at", "closes_at", "schedule_link",
                            "attending_type", "notes")),
        }, root_record_id=record_id)
    for n, area in enumerate(_list(svc.get("service_areas"))):
        rows.add("service_area", _rid(area, record_id, "service_area", n), {
            "service_id": service_id,
            **_pick(area, ("name", "extent", "extent_type", "uri", "service_area")),
        }, root_record_id=record_id)
    for n, sal in enumerate(_list(svc.get("service_at_locations"))):
        loc = sal.get("location") if isinstance(sal.get("location"), dict) else None
        if loc:
            loc_id = add_location(rows, loc, record_id)
        elif sal.get("location_id"):
            loc_id = staging_id(sid, "location", str(sal["location_id"]))
        else:
            rows.issue(record_id, "service_at_location", "location", "required",
                       "service_at_location has no location; skipped")
            continue
        rows.add("service_at_location", _rid(sal, record_id, "service_at_location", n),
                 {"service_id": service_id, "location_id": loc_id}, root_record_id=record_id)
    for n, lang in enumerate(_list(svc.get("languages"))):
        rows.add("language", _rid(lang, record_id, "language", n), {
            "service_id": service_id, **_pick(lang, ("name", "code", "note")),
        }, root_record_id=record_id)
    for n, fund in enumerate(_list(svc.get("funding"))):
        rows.add("funding", _rid(fund, record_id, "funding", n),
                 {"service_id": service_id, "source": fund.get("source")}, root_record_id=record_id)
    for n, cost in enumerate(_list(svc.get("cost_options"))):
        rows.add("cost_option", _rid(cost, record_id, "cost_option", n), {
            "service_id": service_id,
            **_pick(cost, ("valid_from", "valid_to", "option", "amount", "amount_description", "currency")),
        }, root_record_id=record_id)
    for n, contact in enumerate(_list(svc.get("contacts"))):
        c_rid = _rid(contact, record_id, "contact", n)
        contact_id = rows.add("contact", c_rid, {
            "service_id": service_id, **_pick(contact, ("name", "title", "department", "email")),
        }, root_record_id=record_id)
        for m, phone in enumerate(_list(contact.get("phones"))):
            rows.add("phone", _rid(phone, c_rid, "phone", m), {
                "contact_id": contact_id, "service_id": service_id,
                **_pick(phone, ("number", "description")),
            }, root_record_id=record_id)
    for n, phone in enumerate(_list(svc.get("phones"))):
        rows.add("phone", _rid(phone, record_id, "phone", n), {
            "service_id": service_id, **_pick(phone, ("number", "description")),
        }, root_record_id=record_id)
    add_attributes(rows, svc.get("attributes"), service_id, "service", record_id, record_id)
    return service_id


def normalise(source, records, rows: StagingRows) -> None:
    for record_id, record_type, payload, _where in iter_json_records(records):
        try:
            normalise_v3_service(rows, payload, record_id)
        except Exception as exc:  # one malformed record must not sink the page
            rows.issue(record_id, "service", None, "normalise",
                       f"could not normalise: {type(exc).__name__}: {exc}", "blocking")
