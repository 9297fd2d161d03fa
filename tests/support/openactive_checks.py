"""Staging rows re-serialised as ORUK v3 service JSON, and validated against the official schema.

Used by the OpenActive tests to check that what a connector stages is a valid ORUK service:
``service_documents(rows)`` nests each service's children the way ``/services/{id}`` does, and
``v3_validator(fixtures_dir)`` is a jsonschema validator for the compiled UK-profile service
schema, with ``$ref``s resolved from that folder and formats (uuid, uri, email, date-time) checked.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from connectors.staging import StagingRows
from warehouse.model import oruk_columns

INTERNAL = {"source_id", "source_record_id", "extras"}


def _json_value(v):
    if isinstance(v, dt.datetime):
        return v.replace(microsecond=0).isoformat() + "Z"
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    return v


def _clean(row: dict, table: str) -> dict:
    cols = set(oruk_columns(table))
    # HSDS core columns placecat keeps beside the UK profile are not in the UK schema.
    core_only = {"phone": {"service_id", "location_id", "organization_id", "service_at_location_id"},
                 "cost_option": {"currency"}, "attribute": {"link_entity", "value"}}.get(table, set())
    return {k: _json_value(v) for k, v in row.items() if k in cols and k not in core_only and v is not None}


def service_documents(rows: StagingRows) -> dict[str, dict]:
    """source_record_id → the service as v3 JSON (with organization, locations, schedules...)."""
    by = {t: {r["id"]: r for r in rs} for t, rs in rows.rows.items()}
    out = {}
    for svc in rows.rows["service"]:
        sid = svc["id"]
        doc = _clean(svc, "service")
        if svc.get("organization_id") in by["organization"]:
            doc["organization"] = _clean(by["organization"][svc["organization_id"]], "organization")
        doc["schedules"] = [_clean(r, "schedule") for r in rows.rows["schedule"] if r["service_id"] == sid]
        doc["cost_options"] = [_clean(r, "cost_option") for r in rows.rows["cost_option"] if r["service_id"] == sid]
        sals = []
        for sal in rows.rows["service_at_location"]:
            if sal["service_id"] != sid:
                continue
            loc = by["location"][sal["location_id"]]
            ldoc = _clean(loc, "location")
            ldoc["addresses"] = [_clean(a, "address") for a in rows.rows["address"] if a["location_id"] == loc["id"]]
            ldoc["accessibility"] = [_clean(a, "accessibility") for a in rows.rows["accessibility"]
                                     if a["location_id"] == loc["id"]]
            sals.append({**_clean(sal, "service_at_location"), "location": ldoc})
        doc["service_at_locations"] = sals
        attrs = []
        for a in rows.rows["attribute"]:
            if a["link_id"] != sid:
                continue
            adoc = _clean(a, "attribute")
            term = by["taxonomy_term"].get(a["taxonomy_term_id"])
            if term:
                adoc["taxonomy_term"] = _clean(term, "taxonomy_term")
            attrs.append(adoc)
        doc["attributes"] = attrs
        out[svc["source_record_id"]] = json.loads(json.dumps(doc))
    return out


def _is_uuid(v) -> bool:
    if not isinstance(v, str):
        return True
    try:
        uuid.UUID(v)
        return True
    except ValueError:
        return False


def _is_uri(v) -> bool:
    if not isinstance(v, str):
        return True
    p = urlsplit(v)
    return bool(p.scheme) and bool(p.netloc) and " " not in v


def _is_email(v) -> bool:
    return not isinstance(v, str) or ("@" in v and " " not in v.strip() and "." in v.rsplit("@", 1)[-1])


def _is_datetime(v) -> bool:
    if not isinstance(v, str):
        return True
    try:
        dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def v3_validator(fixtures_dir: Path) -> jsonschema.protocols.Validator:
    folder = fixtures_dir / "oruk" / "schema" / "v3-uk" / "compiled"
    resources = []
    for p in folder.glob("*.json"):
        doc = json.loads(p.read_text())
        res = Resource.from_contents(doc, default_specification=DRAFT202012)
        resources.append((p.name, res))
        resources.append((p.resolve().as_uri(), res))
    registry = Registry().with_resources(resources)
    schema = json.loads((folder / "service.json").read_text())
    checker = jsonschema.FormatChecker(formats=())
    checker.checks("uuid")(_is_uuid)
    checker.checks("uri")(_is_uri)
    checker.checks("email")(_is_email)
    checker.checks("date-time")(_is_datetime)
    return jsonschema.Draft202012Validator(schema, registry=registry, format_checker=checker)
