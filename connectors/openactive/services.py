"""OpenActive opportunity data (RPDE items) mapped to ORUK v3 staging rows.

One ORUK service per SessionSeries (also EventSeries, CourseInstance and the pre-2.0 ``Event``
that embeds its sessions as ``subEvent``) and per FacilityUse / IndividualFacilityUse.
ScheduledSessions join their series through ``superEvent`` and only inform it: they supply the
weekly pattern when the series has no full ``Schedule``, and capacity for ``extras``. Slots only
inform availability. One-off events (HeadlineEvent, OnDemandEvent, a lone Event) are reported,
not catalogued: they are not services a frontline worker can refer someone to next week.

Publishers send every vintage of the model, so reading is lenient: ``id``/``type`` aliases,
``http://schema.org/Monday``, ``eventSchedule`` as an object, text addresses, string prices,
plain-string activities, ``beta:`` fields (kept in ``extras``). A ``Person`` (organizer, leader,
contributor) is never carried into staging: the OpenActive licence terms forbid republishing
personal data, so each case is only counted as an ``info`` issue (rule ``personal_data``).

Classification to LGA service types is not done here: the taxonomy helper maps the activity
terms emitted here (taxonomy "OpenActive Activity List", ``term_uri`` = the concept id).
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Iterable

from connectors.openactive.activities import ActivityList
from connectors.openactive.context import MappingContext
from connectors.openactive.items import Opportunity, OpportunityIndex
from connectors.openactive.jsonld import as_list, is_url, number, oa_id, oa_type, parse_instant, strip_people, text
from connectors.openactive.parts import (add_term, map_accessibility, map_activities, map_location, map_offers,
                                         map_organization)
from connectors.openactive.schedules import map_hours_available, map_schedules
from connectors.staging import StagingRows

log = logging.getLogger("placecat.openactive")

GENDER_TAXONOMY = "OpenActive Gender Restriction"
ADULT_AGE = 18  # OpenActive: an opportunity without ageRange is for adults only


# Keys of a series/facility that the mapping consumes; everything else goes to extras.
MAPPED_KEYS = {
    "@context", "@type", "type", "@id", "id", "name", "description", "url", "activity",
    "ageRange", "genderRestriction", "location", "offers", "offer", "organizer", "provider",
    "eventSchedule", "subEvent", "superEvent", "hoursAvailable", "accessibilitySupport",
    "eventStatus", "eventAttendanceMode", "dateModified", "isAccessibleForFree", "leader",
    "contributor", "beta:formattedDescription",
}


def normalise_items(items: Iterable[tuple[str, Any]], rows: StagingRows, activities: ActivityList | None,
                    as_of: dt.datetime | None = None) -> OpportunityIndex:
    """Map (record_id, parsed RPDE item or data object) pairs to staging rows."""
    as_of = as_of or dt.datetime.now(dt.timezone.utc)
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=dt.timezone.utc)
    index = OpportunityIndex()
    for record_id, item in items:
        index.add(record_id, item)
    ctx = MappingContext(rows, activities, as_of)
    for record_id, reason in index.unusable:
        rows.issue(record_id, "service", None, "not_an_opportunity", reason + "; not catalogued", "warning")
    for key, parent in index.embedded_parents.items():
        if key not in index.services:
            index.services[key] = Opportunity(oa_id(parent) or key, "series", oa_type(parent) or "EventSeries", parent)
    for key, opp in index.services.items():
        try:
            map_service(ctx, opp, index.children.get(key, []))
        except Exception as exc:  # one malformed item must not sink the feed
            rows.issue(opp.record_id, "service", None, "normalise",
                       f"could not map {opp.type} {oa_id(opp.data) or ''}: {type(exc).__name__}: {exc}", "blocking")
    for key, kids in index.children.items():
        if key in index.services:
            continue
        what = "facility use" if kids[0].kind == "slot" else "series"
        for kid in kids:  # one issue per item, so that every item is accounted for
            rows.issue(kid.record_id, "service", "superEvent" if what == "series" else "facilityUse",
                       "orphan_session" if what == "series" else "orphan_slot",
                       f"{kid.type or 'session'} refers to {what} {key}, which is not in the feed(s) "
                       f"({len(kids)} item(s) do); not catalogued until it appears", "warning")
    for opp in index.one_offs:
        rows.issue(opp.record_id, "service", None, "one_off_event",
                   f"a one-off {opp.type} ({text(opp.data.get('name')) or oa_id(opp.data) or 'unnamed'}) is not "
                   f"a recurring service; not catalogued", "info")
    return index


def service_record_id(opp: Opportunity) -> str:
    return oa_id(opp.data) or opp.record_id


def map_service(ctx: MappingContext, opp: Opportunity, children: list[Opportunity]) -> str | None:
    rows = ctx.rows
    data = opp.data
    rid = service_record_id(opp)
    sessions = [c for c in children if c.kind == "session"]
    slots = [c for c in children if c.kind == "slot"]
    for person_path in _people_roles(opp.data):
        rows.issue(rid, "organization", person_path, "personal_data",
                   f"a Person as {person_path} was not carried into the catalogue (OpenActive personal data)",
                   "info")
    session_roles = {role for s in sessions for role in _people_roles(s.data)}
    for role in sorted(session_roles):
        rows.issue(rid, "organization", role, "personal_data",
                   f"a Person as {role} of its sessions was not carried into the catalogue (OpenActive personal data)",
                   "info")
    name = text(data.get("name"))
    # Sessions inherit from their series, so a series without a name/location may get it from them.
    inherited = _inherit_from_sessions(data, sessions)
    # A series with no name at all is staged as it is: the quality rule on service.name (its one
    # owner, quality/rules.py) holds it back and reports it.
    name = name or text(inherited.get("name"))
    org_id = map_organization(ctx, data.get("organizer") or data.get("provider")
                              or inherited.get("organizer") or inherited.get("provider"), rid)
    min_age, max_age, age_note = _ages(data.get("ageRange", inherited.get("ageRange")))
    url = data.get("url") if is_url(data.get("url")) else None
    # Persons sit in organizer/leader/contributor (not copied) but may hide in vendor fields too.
    extras = strip_people({k: v for k, v in data.items() if k not in MAPPED_KEYS}, [])
    extras["openactive"] = {"type": opp.type, "id": oa_id(opp.data), "record_id": opp.record_id}
    if age_note:
        extras["openactive"]["age_range"] = age_note
    if data.get("url") and not url:
        extras["openactive"]["url_not_a_link"] = data.get("url")
    gender = _gender(data.get("genderRestriction", inherited.get("genderRestriction")))
    if gender:
        extras["openactive"]["gender_restriction"] = gender
    availability = _availability(ctx, sessions, slots)
    if availability:
        extras["openactive"]["availability"] = availability
    service_id = rows.add("service", rid, {
        "name": name,
        "description": text(data.get("description")) or text(inherited.get("description")),
        "url": url,
        "status": _status(data.get("eventStatus")),
        "minimum_age": min_age,
        "maximum_age": max_age,
        "last_modified": data.get("dateModified"),
        "organization_id": org_id,
    }, extras=extras)

    location = data.get("location") if isinstance(data.get("location"), dict) else inherited.get("location")
    loc_id = map_location(ctx, location, rid, service_id) if isinstance(location, dict) else None
    map_accessibility(ctx, data.get("accessibilitySupport"), loc_id, rid)
    offers = as_list(data.get("offers")) or as_list(data.get("offer")) \
        or as_list(inherited.get("offers")) or as_list(inherited.get("offer"))
    map_offers(ctx, offers, data.get("isAccessibleForFree"), rid, service_id)
    map_activities(ctx, data.get("activity") or inherited.get("activity"), rid, service_id)
    if gender and gender not in ("none",):
        add_term(ctx, rid, service_id, GENDER_TAXONOMY, "https://openactive.io/" + gender_term(gender),
                  gender_label(gender), "Who may attend (OpenActive genderRestriction).")
    if opp.kind == "facility":
        map_hours_available(ctx, data.get("hoursAvailable"), rid, service_id)
    else:
        map_schedules(ctx, data, sessions, rid, service_id)
    return service_id


def _people_roles(data: dict) -> list[str]:
    roles = []
    for key in ("organizer", "provider", "leader", "contributor", "attendee"):
        for v in as_list(data.get(key)):
            if oa_type(v) == "Person":
                roles.append(key)
    return roles


def _inherit_from_sessions(series: dict, sessions: list[Opportunity]) -> dict:
    """Properties a series lacks but every one of its sessions states (first session wins)."""
    out: dict = {}
    for s in sessions:
        for k in ("name", "description", "location", "offers", "offer", "activity", "organizer", "provider",
                  "ageRange", "genderRestriction"):
            if k not in series and k not in out and s.data.get(k) not in (None, "", [], {}):
                v = s.data[k]
                if k in ("organizer", "provider") and oa_type(v) == "Person":
                    continue
                out[k] = v
    return out


def _status(event_status: Any) -> str:
    s = str(event_status or "").lower()
    if "cancel" in s:
        return "inactive"
    if "postpone" in s:
        return "temporarily closed"
    return "active"


def _ages(age_range: Any) -> tuple[float | None, float | None, str | None]:
    if not isinstance(age_range, dict):
        return float(ADULT_AGE), None, "no ageRange: adults only (18+) as OpenActive specifies"
    lo, hi = number(age_range.get("minValue")), number(age_range.get("maxValue"))
    return lo, hi, None


def _gender(value: Any) -> str | None:
    if value is None:
        return None
    v = str(value).rsplit("/", 1)[-1].rsplit("#", 1)[-1].lower()
    if "female" in v:
        return "female_only"
    if "male" in v:
        return "male_only"
    if v in ("none", "norestriction", "mixed", "any", ""):
        return "none"
    return v


def gender_term(g: str) -> str:
    return {"female_only": "FemaleOnly", "male_only": "MaleOnly"}.get(g, g)


def gender_label(g: str) -> str:
    return {"female_only": "Female only", "male_only": "Male only"}.get(g, g)


def _availability(ctx: MappingContext, sessions: list[Opportunity], slots: list[Opportunity]) -> dict:
    out = {}
    for label, items, rem_key, max_key in (("sessions", sessions, "remainingAttendeeCapacity", "maximumAttendeeCapacity"),
                                           ("slots", slots, "remainingUses", "maximumUses")):
        upcoming = [i for i in items if (parse_instant(i.data.get("startDate")) or ctx.as_of) >= ctx.as_of]
        if not items:
            continue
        out[label] = {"known": len(items), "upcoming": len(upcoming),
                      "upcoming_with_space": sum(1 for i in upcoming if (number(i.data.get(rem_key)) or 0) > 0)}
    return out
