"""The conformance rules ``placecat validate`` checks records and pages against.

placecat's own rules, written from ``warehouse.model`` and the ORUK schemas (the official schema
files are not shipped): required fields, JSON types, formats (uuid, email, uri, date-time; date
and time as warnings) and enums, object by object, nested as in the compiled v3 service, and the
v1 shapes of the Porism API. ``check_record(obj, "service", "3")`` returns the findings for one
object; tests cross-check the rules against the official schemas. Reading a live feed is
``connectors.oruk.validate``'s part.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

from warehouse.model import ADDRESS_TYPES, ORUK_TABLES, SCHEDULE_FREQS, SERVICE_STATUSES


# -- the rules -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ObjectRule:
    fields: dict[str, tuple[str, str | None]]     # name -> (json type, format)
    required: tuple[str, ...] = ()
    enums: dict[str, tuple] = field(default_factory=dict)
    children: dict[str, tuple[str, bool]] = field(default_factory=dict)  # key -> (object name, is list)
    nullable: bool = False                        # v1: null is allowed where a value is optional
    soft_enums: tuple[str, ...] = ()              # enum breaches that only warn


UUID_FIELDS = {"id", "organization_id", "parent_organization_id", "service_id", "location_id",
               "service_at_location_id", "taxonomy_term_id", "link_id", "taxonomy_id", "parent_id",
               "phone_id", "contact_id"}
EMAIL_FIELDS = {"email", "assurer_email"}
URI_FIELDS = {"url", "website", "uri", "term_uri", "schedule_link"}
DATETIME_FIELDS = {"last_modified"}
DATE_FIELDS = {"assured_date", "valid_from", "valid_to", "dtstart"}  # plain strings in the schema: warn
TIME_FIELDS = {"opens_at", "closes_at"}

# Required fields of the UK profile's compiled objects (stricter than staging needs).
V3_REQUIRED = {
    "service": ("id", "name", "status"), "organization": ("id", "name", "description"),
    "organization_identifier": ("id", "identifier_type", "identifier"),
    "location": ("id", "location_type"),
    "address": ("id", "address_1", "city", "state_province", "postal_code", "country", "address_type"),
    "taxonomy_term": ("id", "name", "description"), "taxonomy": ("id", "name", "description"),
    "phone": ("id", "number"),
}
V3_ENUMS = {"service": {"status": SERVICE_STATUSES}, "location": {"location_type": ADDRESS_TYPES},
            "address": {"address_type": ADDRESS_TYPES}, "schedule": {"freq": SCHEDULE_FREQS}}
V3_CHILDREN: dict[str, dict[str, tuple[str, bool]]] = {
    "service": {"schedules": ("schedule", True), "service_areas": ("service_area", True),
                "service_at_locations": ("service_at_location", True), "languages": ("language", True),
                "organization": ("organization", False), "funding": ("funding", True),
                "cost_options": ("cost_option", True), "contacts": ("contact", True),
                "attributes": ("attribute", True)},
    "service_at_location": {"location": ("location", False), "schedules": ("schedule", True),
                            "contacts": ("contact", True), "attributes": ("attribute", True),
                            "service": ("service", False)},
    "location": {"addresses": ("address", True), "accessibility": ("accessibility", True),
                 "attributes": ("attribute", True), "languages": ("language", True),
                 "contacts": ("contact", True), "schedules": ("schedule", True)},
    "address": {"attributes": ("attribute", True)},
    "accessibility": {"attributes": ("attribute", True)},
    "organization": {"organization_identifiers": ("organization_identifier", True),
                     "attributes": ("attribute", True)},
    "organization_identifier": {"attributes": ("attribute", True)},
    "contact": {"attributes": ("attribute", True), "phones": ("phone", True)},
    "attribute": {"taxonomy_term": ("taxonomy_term", False)},
    "taxonomy_term": {"taxonomy_detail": ("taxonomy", False)},
}


def _v3_field(name: str, duck_type: str) -> tuple[str, str | None]:
    jtype = "number" if duck_type == "DOUBLE" else "string"
    fmt = ("uuid" if name in UUID_FIELDS else "email" if name in EMAIL_FIELDS else "uri" if name in URI_FIELDS
           else "date-time" if name in DATETIME_FIELDS else "date" if name in DATE_FIELDS
           else "time" if name in TIME_FIELDS else None)
    return jtype, fmt


def _v3_rules() -> dict[str, ObjectRule]:
    rules = {}
    for table, cols in ORUK_TABLES.items():
        # Only the UK profile's own columns: the core-only ones are not in the UK schemas.
        fields = {name: _v3_field(name, typ) for name, typ, origin in cols if origin == "uk"}
        rules[table] = ObjectRule(fields, V3_REQUIRED.get(table, ("id",)), V3_ENUMS.get(table, {}),
                                  V3_CHILDREN.get(table, {}))
    return rules


V1_RULES: dict[str, ObjectRule] = {
    "service": ObjectRule(
        {"id": ("string", None), "name": ("string", None), "description": ("string", None),
         "url": ("string", "uri-or-empty"), "email": ("string", "email-or-empty"), "status": ("string", None),
         "fees": ("string", None), "accreditations": ("string", None), "assured_date": ("string", "date-or-empty"),
         "deliverable_type": ("string", None), "attending_type": ("string", None),
         "attending_access": ("string", None)},
        ("id", "organization", "name"),
        {"status": SERVICE_STATUSES,
         "deliverable_type": ("Advice", "Assessment", "Counselling", "Equipment", "Financial Support",
                              "Information", "Permission", "Training"),
         "attending_type": ("phone", "online", "venue", "home visit"),
         "attending_access": ("referral", "appointment", "membership", "drop-in")},
        {"organization": ("organization", False), "service_taxonomys": ("service_taxonomy", True),
         "service_taxonomies": ("service_taxonomy", True), "service_at_locations": ("service_at_location", True),
         "contacts": ("contact", True), "regular_schedules": ("regular_schedule", True),
         "eligibilitys": ("eligibility", True), "eligibilities": ("eligibility", True),
         "fundings": ("funding", True), "service_areas": ("service_area", True),
         "languages": ("language", True), "cost_options": ("cost_option", True)},
        nullable=True, soft_enums=("deliverable_type", "attending_type", "attending_access")),
    "organization": ObjectRule({"id": ("string", None), "name": ("string", None), "description": ("string", None),
                                "email": ("string", "email-or-empty"), "url": ("string", "uri-or-empty"),
                                "uri": ("string", "uri-or-empty")}, ("id", "name", "description"), nullable=True),
    "service_taxonomy": ObjectRule({"id": ("string", None)}, ("id", "taxonomy"),
                                   children={"taxonomy": ("taxonomy", False)}, nullable=True),
    "taxonomy": ObjectRule({"id": ("string", None), "name": ("string", None), "vocabulary": ("string", None)},
                           ("id", "name"), nullable=True),
    "service_at_location": ObjectRule({"id": ("string", None)}, ("id", "location"),
                                      children={"location": ("location", False)}, nullable=True),
    "location": ObjectRule({"id": ("string", None), "name": ("string", None), "latitude": ("number", None),
                            "longitude": ("number", None)}, ("id",),
                           children={"physical_addresses": ("physical_address", True),
                                     "accessibility_for_disabilities": ("accessibility", True)}, nullable=True),
    "physical_address": ObjectRule({"id": ("string", None), "address_1": ("string", None),
                                    "postal_code": ("string", None)}, ("id",), nullable=True),
    "accessibility": ObjectRule({"id": ("string", None), "accessibility": ("string", None)}, ("id",), nullable=True),
    "contact": ObjectRule({"id": ("string", None), "name": ("string", None)}, ("id",), nullable=True),
    "regular_schedule": ObjectRule({"id": ("string", None), "weekday": ("integer", None),
                                    "opens_at": ("string", "time"), "closes_at": ("string", "time")},
                                   ("id", "weekday"), {"freq": SCHEDULE_FREQS}, nullable=True),
    "eligibility": ObjectRule({"id": ("string", None), "minimum_age": ("number", None),
                               "maximum_age": ("number", None)}, ("id",), nullable=True),
    "funding": ObjectRule({"id": ("string", None), "source": ("string", None)}, ("id",), nullable=True),
    "service_area": ObjectRule({"id": ("string", None), "service_area": ("string", None)}, ("id",), nullable=True),
    "language": ObjectRule({"id": ("string", None), "language": ("string", None)}, ("id",), nullable=True),
    "cost_option": ObjectRule({"id": ("string", None), "amount": ("number", None)}, ("id",), nullable=True),
}
V3_RULES = _v3_rules()
V3_API_DETAILS = ObjectRule({"version": ("string", None), "profile": ("string", "uri"),
                             "openapi_url": ("string", "uri")}, ("version", "profile", "openapi_url"))
V3_ENVELOPE = {"total_items": "integer", "total_pages": "integer", "page_number": "integer", "size": "integer",
               "first_page": "boolean", "last_page": "boolean", "empty": "boolean", "contents": "array"}
V1_ENVELOPE = {"totalElements": "integer", "totalPages": "integer", "number": "integer", "size": "integer",
               "first": "boolean", "last": "boolean", "empty": "boolean", "content": "array"}


# -- checking values ---------------------------------------------------------------------------
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URI_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s]+$")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_RE = re.compile(r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")


def _is_type(value: Any, jtype: str) -> bool:
    if jtype == "string":
        return isinstance(value, str)
    if jtype == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if jtype == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and value.is_integer())
    if jtype == "boolean":
        return isinstance(value, bool)
    if jtype == "array":
        return isinstance(value, list)
    if jtype == "object":
        return isinstance(value, dict)
    return True


def format_problem(value: str, fmt: str) -> str | None:
    """Why ``value`` breaks ``fmt``, or None when it is fine."""
    if fmt.endswith("-or-empty"):
        if value == "":
            return None
        fmt = fmt[: -len("-or-empty")]
    if fmt == "uuid":
        if not _UUID_RE.match(value):
            return "is not a UUID (8-4-4-4-12 hex digits)"
        return None
    if fmt == "email":
        return None if _EMAIL_RE.match(value) else "is not an e-mail address"
    if fmt == "uri":
        return None if _URI_RE.match(value) else "is not an absolute URI (it needs a scheme such as https://)"
    if fmt == "date":
        if not _DATE_RE.match(value):
            return "is not a date (YYYY-MM-DD)"
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return "is not a real date"
        return None
    if fmt == "date-time":
        try:
            dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return None if "T" in value or " " in value else "is not a date-time (YYYY-MM-DDThh:mm:ssZ)"
        except ValueError:
            return "is not a date-time (YYYY-MM-DDThh:mm:ssZ)"
    if fmt == "time":
        return None if _TIME_RE.match(value) else "is not a time (hh:mm or hh:mm:ss)"
    return None


SOFT_FORMATS = {"date", "time", "date-or-empty"}  # plain strings in the official schemas


def check_record(obj: Any, kind: str, version: str, path: str | None = None) -> list[tuple[str, str, str]]:
    """(level, field path, message) for every way ``obj`` breaks the rules for ``kind``."""
    rules = V3_RULES if version == "3" else V1_RULES
    out: list[tuple[str, str, str]] = []
    _check(obj, rules[kind] if kind in rules else V3_API_DETAILS, rules, path or kind, out)
    return out


def _check(obj: Any, rule: ObjectRule, rules: dict, path: str, out: list) -> None:
    if not isinstance(obj, dict):
        out.append(("error", path, f"expected an object, got {type(obj).__name__}"))
        return
    for name in rule.required:
        if name not in obj or obj[name] is None or (name in rule.fields and obj[name] == "" and name == "id"):
            out.append(("error", f"{path}.{name}", "required field is missing"))
    for name, (jtype, fmt) in rule.fields.items():
        if name not in obj:
            continue
        value = obj[name]
        if value is None:
            if not rule.nullable and name not in rule.required:
                out.append(("error", f"{path}.{name}", f"is null; the schema wants a {jtype} (leave the field out instead)"))
            continue
        if not _is_type(value, jtype):
            out.append(("error", f"{path}.{name}", f"{show_value(value)} is not a {jtype}"))
            continue
        if fmt and isinstance(value, str):
            why = format_problem(value, fmt)
            if why:
                out.append(("warning" if fmt in SOFT_FORMATS else "error", f"{path}.{name}", f"{show_value(value)} {why}"))
    for name, allowed in rule.enums.items():
        value = obj.get(name)
        if value in (None, "") and rule.nullable:
            continue
        if name in obj and value not in allowed:
            level = "warning" if name in rule.soft_enums else "error"
            out.append((level, f"{path}.{name}", f"{show_value(value)} is not one of {', '.join(map(str, allowed))}"))
    for key, (child, many) in rule.children.items():
        if key not in obj or obj[key] is None:
            if key in obj and not rule.nullable:
                out.append(("error", f"{path}.{key}", "is null; the schema wants " + ("a list" if many else "an object")))
            continue
        value = obj[key]
        if many:
            if not isinstance(value, list):
                out.append(("error", f"{path}.{key}", f"{show_value(value)} is not a list"))
                continue
            for i, item in enumerate(value):
                _check(item, rules[child], rules, f"{path}.{key}[{i}]", out)
        else:
            _check(value, rules[child], rules, f"{path}.{key}", out)


def show_value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_envelope(doc: Any, version: str) -> list[tuple[str, str, str]]:
    spec = V3_ENVELOPE if version == "3" else V1_ENVELOPE
    if not isinstance(doc, dict):
        return [("error", "page", "is not a paging envelope (expected a JSON object)")]
    out = []
    for name, jtype in spec.items():
        if name not in doc:
            out.append(("error", f"page.{name}", "paging field is missing"))
        elif not _is_type(doc[name], jtype):
            out.append(("error", f"page.{name}", f"{show_value(doc[name])} is not a {jtype}"))
    return out
