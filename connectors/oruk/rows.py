"""Staging rows built from ORUK objects, shared by the v3 and the v1 mappings: organisations,
locations with their addresses, taxonomy terms, attributes, contacts, and any list of child objects.
"""
from __future__ import annotations

from typing import Any, Iterable

from connectors.staging import StagingRows, child_record_id, staging_id
from connectors.text import html_to_text, repair_text

_NO_VALUES: dict = {}


def deep_repair(value: Any, ascii_too: bool = True) -> Any:
    """Every string in a JSON value with its mojibake and control characters repaired (a copy).
    ``ascii_too=False``: leave ASCII strings alone (known to hold no control characters)."""
    if isinstance(value, str):
        return repair_text(value) if ascii_too or not value.isascii() else value
    if isinstance(value, dict):
        return {k: deep_repair(v, ascii_too) for k, v in value.items()}
    if isinstance(value, list):
        return [deep_repair(v, ascii_too) for v in value]
    return value


def description_extras(description: Any) -> dict:
    """``description_text``: the plain text of a (possibly HTML) description, for search and checks."""
    if not isinstance(description, str) or not description.strip():
        return {}
    return {"description_text": html_to_text(description)}


def pick(obj: dict, fields: Iterable[str]) -> dict:
    return {f: obj.get(f) for f in fields if f in obj}


def object_list(value: Any) -> list:
    if type(value) is list:
        return [v for v in value if type(v) is dict or isinstance(v, dict)]
    if value is None:
        return []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    if isinstance(value, dict):
        return [value]
    return []


def child_id(obj: dict, parent: str, table: str, n: int) -> str:
    v = obj.get("id")
    if type(v) is str and v:
        return v
    return str(v) if v not in (None, "") else child_record_id(parent, table, n)


def add_each(rows: StagingRows, table: str, objects: Any, parent_rid: str, fields: tuple[str, ...],
             values: dict, root: str) -> None:
    """A row for each object of ``objects`` (a list of objects, or one): the cells of ``fields``
    it has, and ``values`` (the same for every one, such as the parent's id)."""
    for n, obj in enumerate(object_list(objects)):
        rows.add(table, child_id(obj, parent_rid, table, n), values, root_record_id=root, pick_from=obj, fields=fields)


ORGANIZATION_FIELDS = ("name", "description", "email", "website", "logo", "uri")


ORGANIZATION_KEYS = {"id", "name", "description", "email", "website", "logo", "uri", "parent_organization_id",
                     "organization_identifiers", "attributes"}


def add_organization(rows: StagingRows, org: dict, root: str) -> str:
    org_rid = child_id(org, root, "organization", 0)
    org_id = rows.add("organization", org_rid, {
        "parent_organization_id": staging_id(rows.source_id, "organization", str(org["parent_organization_id"]))
        if org.get("parent_organization_id") else None,
    }, extras={k: v for k, v in org.items() if k not in ORGANIZATION_KEYS} or None, root_record_id=root,
        pick_from=org, fields=ORGANIZATION_FIELDS)
    if "organization_identifiers" in org:
        add_each(rows, "organization_identifier", org["organization_identifiers"], org_rid,
                 ("identifier_scheme", "identifier_type", "identifier"), {"organization_id": org_id}, root)
    if "attributes" in org:
        add_attributes(rows, org["attributes"], org_id, "organization", org_rid, root)
    return org_id


def add_attributes(rows: StagingRows, attributes: Any, link_id: str, link_entity: str,
                   parent_rid: str, root: str) -> None:
    for n, attr in enumerate(object_list(attributes)):
        term = attr.get("taxonomy_term") if isinstance(attr.get("taxonomy_term"), dict) else None
        term_id = None
        if term:
            term_id = add_taxonomy_term(rows, term, root)
        elif attr.get("taxonomy_term_id"):
            term_id = staging_id(rows.source_id, "taxonomy_term", str(attr["taxonomy_term_id"]))
        rows.add("attribute", child_id(attr, parent_rid, "attribute", n), {
            "link_id": link_id, "taxonomy_term_id": term_id, "link_type": attr.get("link_type"),
            "link_entity": attr.get("link_entity") or link_entity, "value": attr.get("value"),
        }, root_record_id=root)


TAXONOMY_TERM_FIELDS = ("name", "description", "taxonomy", "term_uri", "term")


def add_taxonomy_term(rows: StagingRows, term: dict, root: str) -> str:
    term_rid = child_id(term, root, "taxonomy_term", 0)
    taxonomy_id = None
    tax = term.get("taxonomy_detail") if isinstance(term.get("taxonomy_detail"), dict) else None
    if tax:
        taxonomy_id = rows.add("taxonomy", child_id(tax, term_rid, "taxonomy", 0), _NO_VALUES, root_record_id=root,
                               pick_from=tax, fields=("name", "description", "uri", "version"))
    elif term.get("taxonomy_id"):
        taxonomy_id = staging_id(rows.source_id, "taxonomy", str(term["taxonomy_id"]))
    return rows.add("taxonomy_term", term_rid, {
        "parent_id": staging_id(rows.source_id, "taxonomy_term", str(term["parent_id"])) if term.get("parent_id") else None,
        "taxonomy_id": taxonomy_id,
    }, root_record_id=root, pick_from=term, fields=TAXONOMY_TERM_FIELDS)


LOCATION_FIELDS = ("name", "description", "latitude", "longitude", "external_identifier", "external_identifier_type")


ADDRESS_FIELDS = ("attention", "address_1", "city", "region", "state_province", "postal_code", "country")


def add_location(rows: StagingRows, loc: dict, root: str) -> str:
    loc_rid = child_id(loc, root, "location", 0)
    loc_id = rows.add("location", loc_rid, {"location_type": loc.get("location_type") or "physical"},
                      root_record_id=root, pick_from=loc, fields=LOCATION_FIELDS)
    for n, addr in enumerate(object_list(loc.get("addresses"))):
        rows.add("address", child_id(addr, loc_rid, "address", n), {
            "location_id": loc_id, "address_type": addr.get("address_type") or "physical",
        }, root_record_id=root, pick_from=addr, fields=ADDRESS_FIELDS)
    if "accessibility" in loc:
        add_each(rows, "accessibility", loc["accessibility"], loc_rid, ("description", "details", "url", "accessibility"),
                 {"location_id": loc_id}, root)
    if "phones" in loc:
        add_each(rows, "phone", loc["phones"], loc_rid, ("number", "description"), {"location_id": loc_id}, root)
    if "attributes" in loc:
        add_attributes(rows, loc["attributes"], loc_id, "location", loc_rid, root)
    return loc_id


def add_contacts(rows: StagingRows, contacts: Any, service_id: str, record_id: str) -> None:
    """A service's contacts and their phones (the same in v1 and v3)."""
    for n, contact in enumerate(object_list(contacts)):
        c_rid = child_id(contact, record_id, "contact", n)
        contact_id = rows.add("contact", c_rid, {"service_id": service_id}, root_record_id=record_id,
                              pick_from=contact, fields=("name", "title", "department", "email"))
        if "phones" in contact:
            add_each(rows, "phone", contact["phones"], c_rid, ("number", "description"),
                     {"contact_id": contact_id, "service_id": service_id}, record_id)


SCHEDULE_FIELDS = ("valid_from", "valid_to", "dtstart", "freq", "interval", "byday", "bymonthday", "description",
                   "opens_at", "closes_at", "schedule_link", "attending_type", "notes")
