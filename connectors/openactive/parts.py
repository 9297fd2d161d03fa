"""The parts of an OpenActive service as staging rows: its organisation, location and accessibility,
its costs (offers) and its activities (as taxonomy terms).
"""
from __future__ import annotations

import re
from typing import Any

from connectors.openactive.activities import ACTIVITY_TAXONOMY, ActivityList, Concept
from connectors.openactive.context import MappingContext
from connectors.openactive.jsonld import as_list, is_url, number, oa_id, oa_type, strip_people, text
from connectors.staging import child_record_id

_POSTCODE_RE = re.compile(r"\b([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})\b", re.I)


# -- organisation, location, costs, activities -------------------------------------------------------
def map_organization(ctx: MappingContext, org: Any, rid: str) -> str | None:
    if isinstance(org, list):
        org = next((o for o in org if oa_type(o) == "Organization"), None)
    if not isinstance(org, dict) or oa_type(org) == "Person":
        return None
    name = text(org.get("name")) or text(org.get("legalName"))
    if not name:
        ctx.rows.issue(rid, "organization", "name", "required", "the organizer has no name; left out", "warning")
        return None
    org_rid = oa_id(org) or org.get("url") or f"organization:{name}"
    if ("organization", org_rid) in ctx.shared:
        return ctx.shared[("organization", org_rid)]
    logo = org.get("logo")
    logo = logo.get("url") if isinstance(logo, dict) else logo
    website = org.get("url") if is_url(org.get("url")) else None
    uri = oa_id(org) if is_url(oa_id(org)) else None
    extras = strip_people({k: v for k, v in org.items() if k not in {
        "@type", "type", "@id", "id", "name", "description", "email", "url", "logo", "telephone"}}, [])
    org_id = ctx.rows.add("organization", org_rid, {
        "name": name,
        "description": text(org.get("description")) or name,
        "email": org.get("email") if isinstance(org.get("email"), str) and "@" in org["email"] else None,
        "website": website,
        "logo": logo if is_url(logo) else None,
        "uri": uri,
    }, extras=extras or None, root_record_id=rid)
    ctx.shared[("organization", org_rid)] = org_id
    if text(org.get("telephone")):
        ctx.rows.add("phone", child_record_id(org_rid, "phone", 0), {
            "organization_id": org_id, "number": text(org.get("telephone")),
        }, root_record_id=rid)
    return org_id


def split_text_address(value: str) -> dict:
    """"Newham Leisure Centre, 281, Prince Regent Lane, London, E13 8SD, England" → parts."""
    m = _POSTCODE_RE.search(value)
    out: dict = {"streetAddress": value.strip()}
    if not m:
        return out
    out["postalCode"] = f"{m.group(1)} {m.group(2)}".upper()
    before = [p.strip() for p in value[: m.start()].split(",") if p.strip()]
    after = [p.strip() for p in value[m.end():].split(",") if p.strip()]
    if len(before) >= 2:
        out["addressLocality"] = before[-1]
        out["streetAddress"] = ", ".join(before[:-1])
    elif before:
        out["streetAddress"] = before[0]
    if after:
        out["addressCountry"] = after[-1]
    return out


COUNTRY_CODES = {"gb": "GB", "uk": "GB", "united kingdom": "GB", "england": "GB", "scotland": "GB",
                 "wales": "GB", "northern ireland": "GB", "great britain": "GB"}


def map_location(ctx: MappingContext, place: dict, rid: str, service_id: str) -> str | None:
    rows = ctx.rows
    geo = place.get("geo") if isinstance(place.get("geo"), dict) else {}
    lat, lon = number(geo.get("latitude", place.get("latitude"))), number(geo.get("longitude", place.get("longitude")))
    if lat is not None and not (-90 <= lat <= 90) or lon is not None and not (-180 <= lon <= 180):
        rows.issue(rid, "location", "latitude", "range", f"coordinates {lat},{lon} are out of range; left empty")
        lat = lon = None
    address = place.get("address")
    if isinstance(address, str):
        address = split_text_address(address)
    address = address if isinstance(address, dict) else {}
    if not (place.get("name") or lat is not None or address.get("postalCode") or address.get("streetAddress")):
        return None
    place_ref = oa_id(place) or place.get("identifier")
    loc_rid = str(place_ref) if place_ref not in (None, "") else child_record_id(rid, "location", 0)
    if ("location", loc_rid) in ctx.shared:  # a venue of many services: its rows are made once
        loc_id = ctx.shared[("location", loc_rid)]
        rows.add("service_at_location", f"{rid}@{loc_rid}", {"service_id": service_id, "location_id": loc_id},
                 root_record_id=rid)
        return loc_id
    street, postcode = text(address.get("streetAddress")), text(address.get("postalCode"))
    city, region = text(address.get("addressLocality")), text(address.get("addressRegion"))
    # Publishers use locality and region loosely ("London" as either): ORUK needs both a city
    # and a state/province, so each stands in for the other when one is missing.
    city, state = city or region, region or city
    complete = bool(street or text(place.get("name"))) and bool(postcode) and bool(city)
    extras = {k: v for k, v in place.items() if k in ("url", "amenityFeature", "containedInPlace")}
    if (street or postcode or city) and not complete:
        extras["address_incomplete"] = {k: v for k, v in address.items() if k not in ("@type", "type")}
        rows.issue(rid, "address", "postal_code" if not postcode else "city", "incomplete_address",
                   f"the address of {text(place.get('name')) or 'the location'} has no "
                   f"{'postcode' if not postcode else 'town'}; kept in the location's extras", "info")
    loc_id = rows.add("location", loc_rid, {
        "location_type": "physical",
        "name": text(place.get("name")),
        "description": text(place.get("description")),
        "latitude": lat, "longitude": lon,
        "external_identifier": str(place.get("identifier") or oa_id(place) or "") or None,
        "external_identifier_type": "OpenActive Place identifier" if (place.get("identifier") or oa_id(place)) else None,
    }, extras=extras or None, root_record_id=rid)
    ctx.shared[("location", loc_rid)] = loc_id
    rows.add("service_at_location", f"{rid}@{loc_rid}", {"service_id": service_id, "location_id": loc_id},
             root_record_id=rid)
    if complete:
        country = text(address.get("addressCountry")) or "GB"
        rows.add("address", child_record_id(loc_rid, "address", 0), {
            "location_id": loc_id,
            "address_1": street or text(place.get("name")),
            "city": city,
            "region": region,
            "state_province": state,
            "postal_code": postcode.upper(),
            "country": COUNTRY_CODES.get(country.lower(), country),
            "address_type": "physical",
        }, root_record_id=rid)
    if text(place.get("telephone")):
        rows.add("phone", child_record_id(loc_rid, "phone", 0), {
            "location_id": loc_id, "number": text(place.get("telephone")),
        }, root_record_id=rid)
    return loc_id


def map_accessibility(ctx: MappingContext, support: Any, loc_id: str | None, rid: str) -> None:
    items = as_list(support)
    if not items:
        return
    if loc_id is None:
        ctx.rows.issue(rid, "accessibility", "accessibilitySupport", "no_location",
                       "accessibilitySupport given but no location to attach it to; kept in extras", "info")
        return
    for n, a in enumerate(items):
        label = text(a.get("prefLabel") if isinstance(a, dict) else a)
        if not label:
            continue
        ctx.rows.add("accessibility", child_record_id(rid, "accessibility", n), {
            "location_id": loc_id, "description": label, "accessibility": label,
            "url": oa_id(a) if isinstance(a, dict) and is_url(oa_id(a)) else None,
        }, root_record_id=rid)


def map_offers(ctx: MappingContext, offers: list, free: Any, rid: str, service_id: str) -> None:
    seen = set()
    n = 0
    for offer in offers:
        if not isinstance(offer, dict):
            continue
        price_raw = offer.get("price")
        amount = number(price_raw)
        if price_raw not in (None, "") and amount is None:
            ctx.rows.issue(rid, "cost_option", "amount", "type", f"price {str(price_raw)[:40]!r} is not a number; left empty")
        option = text(offer.get("name")) or ("Free" if amount == 0 else "Standard price")
        key = (option, amount)
        if key in seen:
            continue
        seen.add(key)
        notes = [text(offer.get("description"))]
        ages = offer.get("ageRange")
        if isinstance(ages, dict):
            lo, hi = number(ages.get("minValue")), number(ages.get("maxValue"))
            if lo is not None or hi is not None:
                notes.append(f"ages {int(lo) if lo is not None else 0}{'-' + str(int(hi)) if hi is not None else '+'}")
        ctx.rows.add("cost_option", child_record_id(rid, "cost_option", offer.get("identifier") or n), {
            "service_id": service_id, "option": option, "amount": amount,
            "currency": text(offer.get("priceCurrency")) or ("GBP" if amount is not None else None),
            "amount_description": "; ".join(x for x in notes if x) or None,
            "valid_from": offer.get("validFrom"), "valid_to": offer.get("validThrough"),
        }, root_record_id=rid)
        n += 1
    if n == 0 and free is True:
        ctx.rows.add("cost_option", child_record_id(rid, "cost_option", "free"), {
            "service_id": service_id, "option": "Free", "amount": 0.0, "currency": "GBP",
        }, root_record_id=rid)


def _taxonomy_id(ctx: MappingContext, name: str, uri: str, rid: str) -> str:
    key = ("taxonomy", f"taxonomy:{uri}")
    if key in ctx.shared:
        return ctx.shared[key]
    return ctx.add_shared("taxonomy", f"taxonomy:{uri}", {"name": name, "uri": uri,
                                                         "description": f"{name} ({uri})"}, rid)


def add_term(ctx: MappingContext, rid: str, service_id: str, taxonomy: str, term_uri: str, label: str,
              description: str | None, parent_id: str | None = None, taxonomy_uri: str | None = None) -> str:
    tax_id = _taxonomy_id(ctx, taxonomy, taxonomy_uri or term_uri.rsplit("/", 1)[0], rid)
    term_id = ctx.rows.add("taxonomy_term", term_uri, {
        "name": label, "description": description or label, "taxonomy": taxonomy, "taxonomy_id": tax_id,
        "term_uri": term_uri, "term": label, "parent_id": parent_id,
    }, root_record_id=rid)
    ctx.rows.add("attribute", f"{rid}|{term_uri}", {
        "link_id": service_id, "taxonomy_term_id": term_id, "link_type": taxonomy, "link_entity": "service",
    }, root_record_id=rid)
    return term_id


def _concept_term(ctx: MappingContext, concept: Concept, rid: str, depth: int = 0) -> str:
    """The term row of a concept, with its broader concepts as parents (so the hierarchy travels)."""
    assert ctx.activities is not None
    hit = ctx.shared.get(("taxonomy_term", concept.id))
    if hit is not None:
        return hit
    parent_id = None
    if concept.broader and depth < 6:
        parent = ctx.activities.concepts.get(ActivityList.fragment(concept.broader[0]))
        if parent is not None:
            parent_id = _concept_term(ctx, parent, rid, depth + 1)
    tax_id = _taxonomy_id(ctx, ACTIVITY_TAXONOMY, ctx.activities.uri, rid)
    return ctx.add_shared("taxonomy_term", concept.id, {
        "name": concept.label, "description": concept.definition or concept.label,
        "taxonomy": ACTIVITY_TAXONOMY, "taxonomy_id": tax_id, "term_uri": concept.id,
        "term": concept.label, "parent_id": parent_id,
    }, rid)


def map_activities(ctx: MappingContext, activities: Any, rid: str, service_id: str) -> None:
    for activity in as_list(activities):
        label = text(activity.get("prefLabel") if isinstance(activity, dict) else activity)
        concept = ctx.activities.lookup(activity) if ctx.activities is not None else None
        if concept is None:
            if ctx.activities is not None:
                ctx.rows.issue(rid, "taxonomy_term", "activity", "unknown_activity",
                               f"activity {label or oa_id(activity)!r} is not in the OpenActive activity list; "
                               f"kept in extras", "info")
            continue
        term_id = _concept_term(ctx, concept, rid)
        ctx.rows.add("attribute", f"{rid}|{concept.id}", {
            "link_id": service_id, "taxonomy_term_id": term_id, "link_type": ACTIVITY_TAXONOMY,
            "link_entity": "service",
        }, root_record_id=rid)
