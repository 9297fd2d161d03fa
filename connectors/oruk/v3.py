"""ORUK v3 service objects (as ``/services/{id}`` gives them, nested) -> the ORUK v3 staging model.
"""
from __future__ import annotations

from connectors.oruk.rows import (SCHEDULE_FIELDS, add_attributes, add_contacts, add_each, add_location,
                                  add_organization, child_id, deep_repair, description_extras, object_list, pick)
from connectors.staging import StagingRows, staging_id

# -- normalise -------------------------------------------------------------------------------
SERVICE_FIELDS = ("name", "description", "url", "email", "status", "fees", "accreditations",
                  "minimum_age", "maximum_age", "assured_date", "assurer_email", "alert", "last_modified")


NESTED_SERVICE_KEYS = {"id", "organization", "organization_id", "schedules", "service_areas",
                       "service_at_locations", "languages", "funding", "cost_options", "contacts",
                       "attributes", "phones", "metadata"}


def normalise_v3_service(rows: StagingRows, svc: dict, record_id: str, repair: bool = True) -> str | None:
    """Map one v3 service object (as in a /services/{id} response) to staging rows.
    ``repair=False`` skips the text repair pass (``normalise`` does when the raw text shows no need)."""
    sid = rows.source_id
    if not isinstance(svc, dict):
        rows.issue(record_id, "service", None, "shape", "record is not a JSON object", "blocking")
        return None
    if repair:
        svc = deep_repair(svc)
    org_id = None
    if isinstance(svc.get("organization"), dict):
        org_id = add_organization(rows, svc["organization"], record_id)
    elif svc.get("organization_id"):
        org_id = staging_id(sid, "organization", str(svc["organization_id"]))
    values = pick(svc, SERVICE_FIELDS)
    values["status"] = (values.get("status") or "active")
    values["organization_id"] = org_id
    extras = {k: v for k, v in svc.items() if k not in NESTED_SERVICE_KEYS and k not in SERVICE_FIELDS}
    extras.update(description_extras(values.get("description")))
    service_id = rows.add("service", record_id, values, extras=extras or None)

    of_service = {"service_id": service_id}
    if "schedules" in svc:
        add_each(rows, "schedule", svc["schedules"], record_id, SCHEDULE_FIELDS, of_service, record_id)
    if "service_areas" in svc:
        add_each(rows, "service_area", svc["service_areas"], record_id,
                 ("name", "extent", "extent_type", "uri", "service_area"), of_service, record_id)
    for n, sal in enumerate(object_list(svc.get("service_at_locations"))):
        loc = sal.get("location") if isinstance(sal.get("location"), dict) else None
        if loc:
            loc_id = add_location(rows, loc, record_id)
        elif sal.get("location_id"):
            loc_id = staging_id(sid, "location", str(sal["location_id"]))
        else:
            rows.issue(record_id, "service_at_location", "location", "required",
                       "service_at_location has no location; skipped")
            continue
        rows.add("service_at_location", child_id(sal, record_id, "service_at_location", n),
                 {"service_id": service_id, "location_id": loc_id}, root_record_id=record_id)
    if "languages" in svc:
        add_each(rows, "language", svc["languages"], record_id, ("name", "code", "note"), of_service, record_id)
    for n, fund in enumerate(object_list(svc.get("funding"))):
        rows.add("funding", child_id(fund, record_id, "funding", n),
                 {"service_id": service_id, "source": fund.get("source")}, root_record_id=record_id)
    if "cost_options" in svc:
        add_each(rows, "cost_option", svc["cost_options"], record_id,
                 ("valid_from", "valid_to", "option", "amount", "amount_description", "currency"), of_service, record_id)
    if "contacts" in svc:
        add_contacts(rows, svc["contacts"], service_id, record_id)
    if "phones" in svc:
        add_each(rows, "phone", svc["phones"], record_id, ("number", "description"), of_service, record_id)
    if "attributes" in svc:
        add_attributes(rows, svc["attributes"], service_id, "service", record_id, record_id)
    return service_id
