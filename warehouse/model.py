"""The canonical model: ORUK v3 (HSDS 3.0 UK profile) objects as DuckDB tables.

Written by hand from the official per-object JSON Schemas (`schema/v3-uk/*.json`).
Types follow the schemas, with two deliberate tightenings so that the catalogue can be
queried: dates are DATE and times TIME (a value that doesn't parse is reported, not stored
as text), and ``last_modified`` is a TIMESTAMP.

A few HSDS 3.0 *core* fields that the UK profile leaves out are kept because real sources
carry them and matching needs them (a phone on a service or location, a contact's email, a
language's name and code). They are marked ``core`` below and listed in docs/tables.md;
``tests/warehouse/test_model.py`` checks every other column against the official schemas.
"""
from __future__ import annotations

from dataclasses import dataclass

# (column, duckdb type, origin) where origin is "uk" (UK profile) or "core" (HSDS 3.0 core only).
Column = tuple[str, str, str]


def _uk(*cols: tuple[str, str]) -> list[Column]:
    return [(name, typ, "uk") for name, typ in cols]


def _core(*cols: tuple[str, str]) -> list[Column]:
    return [(name, typ, "core") for name, typ in cols]


V = "VARCHAR"
D = "DOUBLE"

ORUK_TABLES: dict[str, list[Column]] = {
    "organization": _uk(
        ("id", V), ("name", V), ("description", V), ("email", V), ("website", V),
        ("logo", V), ("uri", V), ("parent_organization_id", V),
    ),
    "organization_identifier": _uk(
        ("id", V), ("organization_id", V), ("identifier_scheme", V),
        ("identifier_type", V), ("identifier", V),
    ),
    "service": _uk(
        ("id", V), ("organization_id", V), ("name", V), ("description", V), ("url", V),
        ("email", V), ("status", V), ("fees", V), ("accreditations", V),
        ("minimum_age", D), ("maximum_age", D), ("assured_date", "DATE"),
        ("assurer_email", V), ("alert", V), ("last_modified", "TIMESTAMP"),
    ),
    "location": _uk(
        ("id", V), ("location_type", V), ("name", V), ("description", V),
        ("latitude", D), ("longitude", D), ("external_identifier", V),
        ("external_identifier_type", V),
    ),
    "service_at_location": _uk(("id", V), ("service_id", V), ("location_id", V)),
    "address": _uk(
        ("id", V), ("location_id", V), ("attention", V), ("address_1", V), ("city", V),
        ("region", V), ("state_province", V), ("postal_code", V), ("country", V),
        ("address_type", V),
    ),
    "phone": _uk(("id", V), ("contact_id", V), ("number", V), ("description", V))
    + _core(("service_id", V), ("location_id", V), ("organization_id", V),
            ("service_at_location_id", V)),
    "schedule": _uk(
        ("id", V), ("service_id", V), ("service_at_location_id", V),
        ("valid_from", "DATE"), ("valid_to", "DATE"), ("dtstart", "DATE"), ("freq", V),
        ("interval", D), ("byday", V), ("bymonthday", V), ("description", V),
        ("opens_at", "TIME"), ("closes_at", "TIME"), ("schedule_link", V),
        ("attending_type", V), ("notes", V),
    ),
    "taxonomy": _uk(("id", V), ("name", V), ("description", V), ("uri", V), ("version", V)),
    "taxonomy_term": _uk(
        ("id", V), ("name", V), ("description", V), ("parent_id", V), ("taxonomy", V),
        ("taxonomy_id", V), ("term_uri", V), ("term", V),
    ),
    "attribute": _uk(("id", V), ("link_id", V), ("taxonomy_term_id", V), ("link_type", V))
    + _core(("link_entity", V), ("value", V)),
    "contact": _uk(("id", V), ("service_id", V), ("name", V), ("title", V))
    + _core(("organization_id", V), ("location_id", V), ("department", V), ("email", V)),
    "cost_option": _uk(
        ("id", V), ("service_id", V), ("valid_from", "DATE"), ("valid_to", "DATE"),
        ("option", V), ("amount", D), ("amount_description", V),
    ) + _core(("currency", V)),
    "funding": _uk(("id", V), ("service_id", V), ("source", V)) + _core(("organization_id", V)),
    "language": _uk(("id", V), ("service_id", V), ("phone_id", V))
    + _core(("location_id", V), ("name", V), ("code", V), ("note", V)),
    "service_area": _uk(
        ("id", V), ("service_id", V), ("name", V), ("extent", V), ("extent_type", V),
        ("uri", V), ("service_area", V),
    ),
    "accessibility": _uk(
        ("id", V), ("location_id", V), ("description", V), ("details", V), ("url", V),
        ("accessibility", V),
    ),
}

# Columns every staging row carries so that two sources never collide and every value can be
# traced back: the source, the record's own id in that source, and vendor fields we did not map.
PROVENANCE_COLUMNS: list[tuple[str, str]] = [
    ("source_id", V),
    ("source_record_id", V),
    ("extras", "JSON"),
]

# Which ORUK fields are required (from the schemas' `required`), used by the staging checks.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "organization": ("id", "name"),
    "organization_identifier": ("id", "identifier_type", "identifier"),
    "service": ("id", "name", "status"),
    "location": ("id", "location_type"),
    "address": ("id", "address_1", "postal_code", "address_type"),
    "phone": ("id", "number"),
    "taxonomy": ("id", "name"),
    "taxonomy_term": ("id", "name"),
}

SERVICE_STATUSES = ("active", "inactive", "defunct", "temporarily closed")
ADDRESS_TYPES = ("physical", "postal", "virtual")
SCHEDULE_FREQS = ("WEEKLY", "MONTHLY")
BYDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# The week before the day in a monthly byday ('2TU', '-1FR': RRULE's second Tuesday, last Friday), as a
# regular expression; taken off, what is left is the weekday.
BYDAY_WEEK = "^[+-]?[0-9]+"
PROVENANCE_ROLES = ("owner", "regulator", "assurer", "none")


@dataclass(frozen=True)
class Table:
    name: str
    columns: list[Column]

    @property
    def column_names(self) -> list[str]:
        return [c[0] for c in self.columns]


def oruk_columns(table: str) -> list[str]:
    return [c[0] for c in ORUK_TABLES[table]]


def staging_columns(table: str) -> list[tuple[str, str]]:
    return [(n, t) for n, t, _ in ORUK_TABLES[table]] + PROVENANCE_COLUMNS


def column_types(table: str) -> dict[str, str]:
    return dict(staging_columns(table))
