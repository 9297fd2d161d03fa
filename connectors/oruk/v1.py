"""ORUK v1 (the LGA/Porism "human services" API) service objects -> the ORUK v3 staging model.

What changes between the two generations, and where each v1 field lands:

| v1 | v3 staging |
|---|---|
| `regular_schedules[].weekday` (1 = Monday .. 7, or a day name) | `schedule.byday` (MO..SU), `freq` WEEKLY |
| `service_at_locations[].location.physical_addresses` / `postal_addresses` | `address` with `address_type` physical / postal |
| `physical_addresses[].uprn` (or `location.uprn`) | `location.external_identifier`, `_type` "UPRN" |
| `location.accessibility_for_disabilities` | `accessibility` |
| `organization.url` | `organization.website` |
| `fundings` | `funding` |
| `service_taxonomys` / `service_taxonomies` / `link_taxonomy` | `attribute` + `taxonomy_term` (+ `taxonomy`); esd ids canonical (`warehouse.vocab`) |
| `eligibilitys` / `eligibilities` | `attribute` (vocabulary `oruk-v1:eligibility`) and the service's `minimum_age`/`maximum_age` |
| `attending_type`, `attending_access`, `deliverable_type` (enums v3 removed) | `attribute` in vocabularies `oruk-v1:<field>`: kept, not lost |
| `pc_metadata.assured_by` / `date_modified` (Placecube) | `service.assurer_email` / `last_modified` (personal data: kept in staging, held back from publishing by the quality work) |
| anything else (`pc_*`, `reviews`, `holiday_schedules`, ...) | the row's `extras` |

All text is repaired first (mojibake, control characters); an HTML description is kept as HTML and
its plain text goes to ``extras["description_text"]``.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from connectors.oruk.rows import (add_contacts, add_each, add_organization, child_id, deep_repair, description_extras,
                                  object_list, pick)
from connectors.staging import StagingRows, encode_extras, staging_id
from warehouse.model import SERVICE_STATUSES
from warehouse.vocab import canonical_term

V1_VOCAB_PREFIX = "oruk-v1:"
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_DAY_NAMES = {name: WEEKDAYS[i] for i, names in enumerate((
    ("monday", "mon", "mo"), ("tuesday", "tue", "tues", "tu"), ("wednesday", "wed", "we"),
    ("thursday", "thu", "thur", "thurs", "th"), ("friday", "fri", "fr"), ("saturday", "sat", "sa"),
    ("sunday", "sun", "su"))) for name in names}

# v1 service keys this module maps; every other key goes to extras.
MAPPED_SERVICE_KEYS = {
    "id", "name", "description", "url", "email", "status", "fees", "accreditations", "assured_date",
    "assurer_email", "organization", "organization_id", "regular_schedules", "service_at_locations",
    "service_taxonomys", "service_taxonomies", "link_taxonomy", "eligibilitys", "eligibilities",
    "attending_type", "attending_access", "deliverable_type", "fundings", "funding", "contacts",
    "service_areas", "languages", "cost_options", "minimum_age", "maximum_age",
}
REMOVED_ENUMS = ("attending_type", "attending_access", "deliverable_type")


def weekday_to_byday(value: Any) -> str | None:
    """v1 ``weekday`` (1..7 from Monday, or a day name/abbreviation) -> RFC 5545 BYDAY code."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        n = int(value)
        return WEEKDAYS[n - 1] if 1 <= n <= 7 and n == value else None
    if isinstance(value, str):
        s = value.strip().lower()
        if s.isdigit():
            return weekday_to_byday(int(s))
        return _DAY_NAMES.get(s)
    return None


# -- taxonomy ---------------------------------------------------------------------------------
def add_v1_taxonomy_term(rows: StagingRows, tax: dict, root: str) -> str | None:
    """A v1 taxonomy object ({id, name, vocabulary, parent_id}) as a taxonomy_term; esd ids canonical."""
    raw_id = tax.get("id")
    vocab = tax.get("vocabulary") if isinstance(tax.get("vocabulary"), str) else None
    if raw_id in (None, "") and not tax.get("name"):
        return None
    # Services share terms: an id and vocabulary met before stand for the term made then (its
    # id depends on nothing else, and the first copy of a term is the one kept).
    memo_key = ("oruk-v1 term", raw_id, vocab) if type(raw_id) is str and raw_id else None
    if memo_key is not None and memo_key in rows.memo:
        return rows.memo[memo_key]
    term_id = _add_v1_taxonomy_term(rows, tax, raw_id, vocab, root)
    if memo_key is not None:
        rows.memo[memo_key] = term_id
    return term_id


def _add_v1_taxonomy_term(rows: StagingRows, tax: dict, raw_id: Any, vocab: str | None, root: str) -> str:
    esd = canonical_term(raw_id, vocab)
    if esd is not None:
        key, term, term_uri, vocabulary = esd.uri, esd.code, esd.uri, esd.vocabulary
    else:
        term = str(raw_id) if raw_id not in (None, "") else str(tax.get("name"))
        vocabulary = vocab
        term_uri = term if term.startswith(("http://", "https://")) else None
        key = f"{vocab}:{term}" if vocab and not term.startswith(f"{vocab}:") else term
    taxonomy_id = add_vocabulary(rows, vocabulary, root) if vocabulary else None
    parent = tax.get("parent_id") or (tax.get("parent") if isinstance(tax.get("parent"), (str, int)) else None)
    parent_id = None
    if parent not in (None, ""):
        pesd = canonical_term(parent, vocab)
        pkey = pesd.uri if pesd else (f"{vocab}:{parent}" if vocab else str(parent))
        parent_id = staging_id(rows.source_id, "taxonomy_term", pkey)
    return rows.add("taxonomy_term", key, {
        "name": tax.get("name") or term, "term": term, "term_uri": term_uri, "taxonomy": vocabulary,
        "taxonomy_id": taxonomy_id, "parent_id": parent_id,
        "description": tax.get("description"),
    }, root_record_id=root)


def add_vocabulary(rows: StagingRows, vocabulary: str, root: str) -> str:
    return rows.add("taxonomy", vocabulary, {"name": vocabulary}, root_record_id=root)


def add_term_attribute(rows: StagingRows, term_id: str | None, link_id: str, link_entity: str,
                       attr_key: str, root: str, value: Any = None, link_type: str | None = None) -> None:
    if term_id is None:
        return
    rows.add("attribute", attr_key, {
        "link_id": link_id, "taxonomy_term_id": term_id, "link_entity": link_entity,
        "link_type": link_type, "value": value,
    }, root_record_id=root)


def add_enum_attribute(rows: StagingRows, field_name: str, value: Any, link_id: str, link_entity: str,
                       parent_rid: str, root: str, n: int = 0) -> None:
    """A v1 enum value (removed in v3) as a term of the vocabulary ``oruk-v1:<field>``."""
    if value in (None, "") or isinstance(value, (dict, list)):
        return
    text = str(value).strip()
    # The same few values recur in every service: their term is made once.
    term_id = rows.memo.get(("oruk-v1 enum", field_name, text))
    if term_id is None:
        vocab = V1_VOCAB_PREFIX + field_name
        taxonomy_id = add_vocabulary(rows, vocab, root)
        term_id = rows.memo["oruk-v1 enum", field_name, text] = rows.add("taxonomy_term", f"{vocab}:{text.lower()}", {
            "name": text, "term": text, "taxonomy": vocab, "taxonomy_id": taxonomy_id,
        }, root_record_id=root)
    add_term_attribute(rows, term_id, link_id, link_entity, f"{parent_rid}#{field_name}/{n}", root)


def add_taxonomy_links(rows: StagingRows, links: Any, link_id: str, link_entity: str, parent_rid: str,
                       root: str, tag: str) -> None:
    """``service_taxonomys`` / ``link_taxonomy`` entries: {id, taxonomy: {...}} or {taxonomy_id, ...}."""
    for n, link in enumerate(object_list(links)):
        tax = link.get("taxonomy") if isinstance(link.get("taxonomy"), dict) else None
        if tax is None and isinstance(link.get("taxonomy_detail"), dict):
            tax = link["taxonomy_detail"]
        if tax is None and link.get("taxonomy_id") not in (None, ""):
            tax = {"id": link["taxonomy_id"], "vocabulary": link.get("vocabulary"), "name": link.get("name")}
        if tax is None and link.get("vocabulary") and link.get("id") not in (None, "") and link.get("name"):
            tax = link  # a bare taxonomy object in the list
        if tax is None:
            rows.issue(root, "attribute", tag, "shape", f"{tag}[{n}] names no taxonomy; skipped")
            continue
        term_id = add_v1_taxonomy_term(rows, tax, root)
        add_term_attribute(rows, term_id, link_id, link_entity, child_id(link, parent_rid, f"{tag}", n), root,
                           link_type=link.get("link_type"))


# -- the service --------------------------------------------------------------------------------
def _age(value: Any) -> float | None:
    if isinstance(value, bool) or value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def eligibility_entries(svc: dict) -> list[dict]:
    return object_list(svc.get("eligibilitys")) + object_list(svc.get("eligibilities"))


def eligibility_ages(rows: StagingRows, svc: dict, record_id: str) -> tuple[float | None, float | None]:
    """The youngest minimum and the oldest maximum age over the service's eligibility entries."""
    mins, maxs = [], []
    for el in eligibility_entries(svc):
        for key, bucket in (("minimum_age", mins), ("maximum_age", maxs)):
            age = _age(el.get(key))
            if age is not None:
                bucket.append(age)
            elif el.get(key) not in (None, ""):
                rows.issue(record_id, "service", key, "type",
                           f"eligibility {key} {str(el.get(key))[:40]!r} is not a number")
    return (min(mins) if mins else None), (max(maxs) if maxs else None)


def add_eligibilities(rows: StagingRows, svc: dict, service_id: str, record_id: str) -> None:
    for n, el in enumerate(eligibility_entries(svc)):
        rid = child_id(el, record_id, "eligibility", n)
        if el.get("eligibility") not in (None, ""):
            add_enum_attribute(rows, "eligibility", el["eligibility"], service_id, "service", rid, record_id)
        for tag in ("taxonomys", "taxonomies", "link_taxonomy"):
            if tag in el:
                add_taxonomy_links(rows, el[tag], service_id, "service", rid, record_id, tag)


def add_v1_organization(rows: StagingRows, org: dict, root: str) -> str:
    v3 = {k: v for k, v in org.items() if k not in ("url", "services", "reviews")}
    if org.get("url") not in (None, "") and not v3.get("website"):
        v3["website"] = org["url"]
    return add_organization(rows, v3, root)


def _weekday_extras(weekday: Any) -> dict | str:
    """A schedule's extras: the v1 weekday as sent (its JSON text made once per value)."""
    if type(weekday) is int or type(weekday) is str:
        return _weekday_json(weekday)
    return {"weekday": weekday}


@lru_cache(maxsize=256)
def _weekday_json(weekday: int | str) -> str:
    return encode_extras({"weekday": weekday})


V1_SCHEDULE_FIELDS = ("valid_from", "valid_to", "dtstart", "interval", "bymonthday", "description", "opens_at",
                      "closes_at")


def add_v1_schedules(rows: StagingRows, schedules: Any, service_id: str, record_id: str,
                     sal_id: str | None = None) -> None:
    for n, sched in enumerate(object_list(schedules)):
        byday = sched.get("byday")
        if not (isinstance(byday, str) and byday.strip()):
            byday = None
        raw_weekday = sched.get("weekday")
        weekday = weekday_to_byday(raw_weekday)
        if raw_weekday not in (None, "") and weekday is None:
            rows.issue(record_id, "schedule", "weekday", "enum",
                       f"weekday {str(raw_weekday)[:20]!r} is not a day (1-7 from Monday, or a name)")
        link_sal = sal_id
        nested_sal = sched.get("service_at_location")
        if isinstance(nested_sal, dict) and nested_sal.get("id") not in (None, ""):
            link_sal = staging_id(rows.source_id, "service_at_location", str(nested_sal["id"]))
        rows.add("schedule", child_id(sched, record_id, "schedule", n), {
            "service_id": service_id, "service_at_location_id": link_sal,
            "freq": sched.get("freq") or ("WEEKLY" if weekday else None),
            "byday": byday or weekday,
        }, extras=_weekday_extras(raw_weekday) if raw_weekday not in (None, "") else None,
            root_record_id=record_id, pick_from=sched, fields=V1_SCHEDULE_FIELDS)


LOCATION_MAPPED_KEYS = {"id", "name", "description", "latitude", "longitude", "physical_addresses", "postal_addresses",
                        "accessibility_for_disabilities", "uprn", "regular_schedules", "holiday_schedules"}
V1_ADDRESS_FIELDS = ("attention", "address_1", "city", "region", "state_province", "postal_code", "country")


def add_v1_location(rows: StagingRows, loc: dict, record_id: str) -> str:
    loc_rid = child_id(loc, record_id, "location", 0)
    physical = object_list(loc.get("physical_addresses"))
    postal = object_list(loc.get("postal_addresses"))
    uprn = loc.get("uprn") or next((a.get("uprn") for a in physical if a.get("uprn") not in (None, "")), None)
    values = {"location_type": "physical" if physical or loc.get("latitude") is not None else (
        "postal" if postal else "virtual")}
    if uprn not in (None, ""):
        values["external_identifier"] = str(uprn).strip()
        values["external_identifier_type"] = "UPRN"
    extras = {k: v for k, v in loc.items() if k not in LOCATION_MAPPED_KEYS and v not in (None, "", [])}
    loc_id = rows.add("location", loc_rid, values, extras=extras or None, root_record_id=record_id,
                      pick_from=loc, fields=("name", "description", "latitude", "longitude"))
    for kind, addresses in (("physical", physical), ("postal", postal)):
        for n, addr in enumerate(addresses):
            lines = [addr[k] for k in ("address_2", "address_3", "address_4") if addr.get(k) not in (None, "")]
            rows.add("address", child_id(addr, loc_rid, f"{kind}_address", n), {
                "location_id": loc_id, "address_type": kind,
            }, extras={"address_lines": lines} if lines else None, root_record_id=record_id,
                pick_from=addr, fields=V1_ADDRESS_FIELDS)
    if "accessibility_for_disabilities" in loc:
        add_each(rows, "accessibility", loc["accessibility_for_disabilities"], loc_rid,
                 ("accessibility", "details", "description", "url"), {"location_id": loc_id}, record_id)
    return loc_id


def normalise_v1_service(rows: StagingRows, svc: Any, record_id: str, repair: bool = True) -> str | None:
    """Map one v1 service object (list item or /services/{id} detail) to v3 staging rows.
    ``repair=False`` skips the text repair pass (``normalise`` does when the raw text shows no need)."""
    if not isinstance(svc, dict):
        rows.issue(record_id, "service", None, "shape", "record is not a JSON object; not loaded", "blocking")
        return None
    if repair:
        svc = deep_repair(svc)
    sid = rows.source_id
    org_id = None
    if isinstance(svc.get("organization"), dict):
        org_id = add_v1_organization(rows, svc["organization"], record_id)
    elif svc.get("organization_id") not in (None, ""):
        org_id = staging_id(sid, "organization", str(svc["organization_id"]))

    values = pick(svc, ("name", "description", "url", "email", "fees", "accreditations", "assured_date",
                         "assurer_email", "minimum_age", "maximum_age"))
    status = svc.get("status")
    if isinstance(status, str) and status.strip().lower() in SERVICE_STATUSES:
        status = status.strip().lower()
    elif status not in (None, ""):
        rows.issue(record_id, "service", "status", "enum",
                   f"status {str(status)[:40]!r} is not one of {', '.join(SERVICE_STATUSES)}")
    values["status"] = status or "active"
    values["organization_id"] = org_id
    meta = svc.get("pc_metadata") if isinstance(svc.get("pc_metadata"), dict) else {}
    if not values.get("assurer_email") and meta.get("assured_by"):
        values["assurer_email"] = meta["assured_by"]
    if not values.get("assured_date") and meta.get("date_assured"):
        values["assured_date"] = meta["date_assured"]
    if meta.get("date_modified"):
        values["last_modified"] = meta["date_modified"]

    min_age, max_age = eligibility_ages(rows, svc, record_id)
    if min_age is not None and _age(values.get("minimum_age")) is None:
        values["minimum_age"] = min_age
    if max_age is not None and _age(values.get("maximum_age")) is None:
        values["maximum_age"] = max_age
    extras = {k: v for k, v in svc.items() if k not in MAPPED_SERVICE_KEYS}
    extras.update(description_extras(values.get("description")))
    service_id = rows.add("service", record_id, values, extras=extras or None)

    add_eligibilities(rows, svc, service_id, record_id)
    for field_name in REMOVED_ENUMS:
        if field_name not in svc:
            continue
        value = svc[field_name]
        for m, v in enumerate(value if isinstance(value, list) else [value]):
            add_enum_attribute(rows, field_name, v, service_id, "service", record_id, record_id, m)
    for tag in ("service_taxonomys", "service_taxonomies", "link_taxonomy"):
        if tag in svc:
            add_taxonomy_links(rows, svc[tag], service_id, "service", record_id, record_id, tag)

    add_v1_schedules(rows, svc.get("regular_schedules"), service_id, record_id)
    for n, sal in enumerate(object_list(svc.get("service_at_locations"))):
        loc = sal.get("location") if isinstance(sal.get("location"), dict) else None
        if loc is not None:
            loc_id = add_v1_location(rows, loc, record_id)
        elif sal.get("location_id") not in (None, ""):
            loc_id = staging_id(sid, "location", str(sal["location_id"]))
        else:
            rows.issue(record_id, "service_at_location", "location", "required",
                       "service_at_location has no location; skipped")
            continue
        sal_rid = child_id(sal, record_id, "service_at_location", n)
        sal_id = rows.add("service_at_location", sal_rid, {"service_id": service_id, "location_id": loc_id},
                          root_record_id=record_id)
        add_v1_schedules(rows, sal.get("regular_schedules") or (loc or {}).get("regular_schedules"),
                         service_id, sal_rid, sal_id)
    for n, fund in enumerate(object_list(svc.get("fundings")) + object_list(svc.get("funding"))):
        rows.add("funding", child_id(fund, record_id, "funding", n),
                 {"service_id": service_id, "source": fund.get("source")}, root_record_id=record_id)
    for n, area in enumerate(object_list(svc.get("service_areas"))):
        a_rid = child_id(area, record_id, "service_area", n)
        area_id = rows.add("service_area", a_rid, {
            "service_id": service_id, "name": area.get("name") or area.get("service_area"),
        }, root_record_id=record_id, pick_from=area, fields=("service_area", "extent", "extent_type", "uri"))
        if "link_taxonomy" in area:
            add_taxonomy_links(rows, area["link_taxonomy"], area_id, "service_area", a_rid, record_id, "link_taxonomy")
    for n, lang in enumerate(object_list(svc.get("languages"))):
        name = lang.get("language") or lang.get("name")
        rows.add("language", child_id(lang, record_id, "language", n), {
            "service_id": service_id, "name": name,
            "code": lang.get("code") or (name.lower() if isinstance(name, str) and len(name) in (2, 3) else None),
        }, root_record_id=record_id)
    if "cost_options" in svc:
        add_each(rows, "cost_option", svc["cost_options"], record_id,
                 ("valid_from", "valid_to", "option", "amount", "amount_description"), {"service_id": service_id},
                 record_id)
    if "contacts" in svc:
        add_contacts(rows, svc["contacts"], service_id, record_id)
    return service_id
