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
import hashlib
import json
import logging
import math
import os
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from connectors.staging import StagingRows, child_record_id

log = logging.getLogger("placecat.openactive")

LONDON = ZoneInfo("Europe/London")
ACTIVITY_SCHEME = "https://openactive.io/activity-list"
ACTIVITY_TAXONOMY = "OpenActive Activity List"
ACTIVITY_LIST_URL = "https://openactive.io/activity-list/activity-list.jsonld"
GENDER_TAXONOMY = "OpenActive Gender Restriction"
ADULT_AGE = 18  # OpenActive: an opportunity without ageRange is for adults only

SERIES_TYPES = {"SessionSeries", "EventSeries", "CourseInstance", "Course"}
FACILITY_TYPES = {"FacilityUse", "IndividualFacilityUse"}
SESSION_TYPES = {"ScheduledSession"}
SLOT_TYPES = {"Slot"}
ONE_OFF_TYPES = {"HeadlineEvent", "OnDemandEvent", "Event", "SportsEvent", "OnlineEvent"}

DAYS = {"monday": "MO", "tuesday": "TU", "wednesday": "WE", "thursday": "TH", "friday": "FR",
        "saturday": "SA", "sunday": "SU"}
DAY_ORDER = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
DAY_NAMES = dict(zip(DAY_ORDER, ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]))

# Keys of a series/facility that the mapping consumes; everything else goes to extras.
MAPPED_KEYS = {
    "@context", "@type", "type", "@id", "id", "name", "description", "url", "activity",
    "ageRange", "genderRestriction", "location", "offers", "offer", "organizer", "provider",
    "eventSchedule", "subEvent", "superEvent", "hoursAvailable", "accessibilitySupport",
    "eventStatus", "eventAttendanceMode", "dateModified", "isAccessibleForFree", "leader",
    "contributor", "beta:formattedDescription",
}
_POSTCODE_RE = re.compile(r"\b([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})\b", re.I)
_DURATION_RE = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


# -- small readers for lenient JSON-LD ---------------------------------------------------------
def oa_type(obj: Any) -> str:
    """The object's type without prefixes or stray spaces ("Organization " and "schema:Place" occur)."""
    if not isinstance(obj, dict):
        return ""
    t = obj.get("@type") or obj.get("type")
    if isinstance(t, list):
        t = t[0] if t else ""
    if not isinstance(t, str):
        return ""
    if t.isalpha():  # the common case, kept cheap: a page maps tens of thousands of objects
        return t
    t = t.strip()
    return t.rsplit(":", 1)[-1].rsplit("/", 1)[-1] if not t.startswith("beta:") else t[5:]


def oa_id(obj: Any) -> str | None:
    if isinstance(obj, str):
        return obj.strip() or None
    if isinstance(obj, dict):
        v = obj.get("@id", obj.get("id"))
        if v not in (None, ""):
            return str(v).strip()
    return None


def ref_key(ref: str | None) -> str | None:
    """A join key for ``@id`` references: scheme and host case and a trailing slash don't matter."""
    if not ref:
        return None
    r = ref.strip()
    m = re.match(r"^(https?)://([^/]+)(.*)$", r, re.I)
    if m:
        r = f"https://{m.group(2).lower()}{m.group(3)}"
    return r.rstrip("/")


def as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        parts = [text(v) for v in value]
        return ", ".join(p for p in parts if p) or None
    if isinstance(value, dict):
        return text(value.get("name") or value.get("prefLabel"))
    s = str(value).strip()
    return s or None


def is_url(value: Any) -> bool:
    return isinstance(value, str) and bool(re.match(r"^https?://[^\s/$.?#][^\s]*$", value.strip()))


def number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    s = str(value).strip().lstrip("£$€").replace(",", "")
    try:
        f = float(s)
    except ValueError:
        return None
    return f if math.isfinite(f) else None


def parse_duration(value: Any) -> dt.timedelta | None:
    """ISO 8601 durations as OpenActive uses them (PT45M, PT1H0M, P1D, P7D)."""
    if not isinstance(value, str):
        return None
    m = _DURATION_RE.match(value.strip().upper())
    if not m or not any(m.groups()):
        return None
    w, d, h, mi, s = m.groups()
    return dt.timedelta(weeks=int(w or 0), days=int(d or 0), hours=int(h or 0), minutes=int(mi or 0),
                        seconds=float(s or 0))


def parse_instant(value: Any) -> dt.datetime | None:
    """A startDate as an aware datetime; a value without an offset is London wall-clock time."""
    if not isinstance(value, str) or not value.strip():
        return None
    s = value.strip().replace("Z", "+00:00")
    try:
        t = dt.datetime.fromisoformat(s)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=LONDON)


def day_code(value: Any) -> str | None:
    """``https://schema.org/Monday``, ``http://schema.org/Monday``, ``schema:Monday``, ``MO``."""
    if not isinstance(value, str):
        return None
    v = value.strip()
    tail = re.split(r"[/#:]", v)[-1].lower()
    if tail in DAYS:
        return DAYS[tail]
    if v.upper() in DAY_ORDER:
        return v.upper()
    return None


def hhmm(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    m = re.match(r"^(\d{1,2}):(\d{2})", value.strip())
    return f"{int(m.group(1)):02d}:{m.group(2)}" if m else None


def add_minutes(start: str, minutes: float) -> str:
    h, m = map(int, start.split(":"))
    total = min(h * 60 + m + int(round(minutes)), 23 * 60 + 59)  # ORUK times stay within the day
    return f"{total // 60:02d}:{total % 60:02d}"


def strip_people(value: Any, found: list) -> Any:
    """A copy of ``value`` with every ``Person`` removed (their presence noted in ``found``)."""
    if isinstance(value, dict):
        if oa_type(value) == "Person":
            found.append(value)
            return None
        out = {}
        for k, v in value.items():
            v2 = strip_people(v, found)
            if v2 is not None or v is None:
                out[k] = v2
        return out
    if isinstance(value, list):
        out = [strip_people(v, found) for v in value]
        return [v for v, orig in zip(out, value) if v is not None or orig is None]
    return value


# -- the activity list ---------------------------------------------------------------------------
@dataclass
class Concept:
    id: str
    label: str
    definition: str | None
    broader: list[str]
    notation: str | None = None


@dataclass
class ActivityList:
    """The OpenActive activity list (SKOS): concept lookup by id, label or altLabel."""

    concepts: dict[str, Concept] = field(default_factory=dict)  # by uuid fragment
    by_label: dict[str, Concept] = field(default_factory=dict)
    uri: str = ACTIVITY_SCHEME

    @classmethod
    def from_jsonld(cls, doc: dict) -> "ActivityList":
        al = cls(uri=str(doc.get("id") or doc.get("@id") or ACTIVITY_SCHEME))
        for c in doc.get("concept", []):
            cid = oa_id(c)
            if not cid or not c.get("prefLabel"):
                continue
            concept = Concept(cid, c["prefLabel"], c.get("definition"), as_list(c.get("broader")), c.get("notation"))
            al.concepts[cls.fragment(cid)] = concept
            for label in [c["prefLabel"], *as_list(c.get("altLabel"))]:
                al.by_label.setdefault(cls.label_key(label), concept)
        return al

    @staticmethod
    def fragment(concept_id: str) -> str:
        return concept_id.rsplit("#", 1)[-1].rsplit("/", 1)[-1].lower()

    @staticmethod
    def label_key(label: str) -> str:
        return re.sub(r"[^a-z0-9]+", " ", str(label).lower()).strip()

    def lookup(self, activity: Any) -> Concept | None:
        """An activity as published (a Concept with @id/id and/or prefLabel, or a plain string)."""
        if isinstance(activity, str):
            if "activity-list" in activity:
                return self.concepts.get(self.fragment(activity))
            return self.by_label.get(self.label_key(activity))
        if not isinstance(activity, dict):
            return None
        cid = oa_id(activity)
        if cid and "activity-list" in cid:
            hit = self.concepts.get(self.fragment(cid))
            if hit:
                return hit
        label = activity.get("prefLabel") or activity.get("name")
        return self.by_label.get(self.label_key(label)) if label else None

    def __len__(self) -> int:
        return len(self.concepts)


_ACTIVITY_CACHE: dict[str, tuple[float, ActivityList]] = {}
CACHE_MAX_AGE = 7 * 86400


def cache_dir() -> Path:
    base = os.environ.get("PLACECAT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "placecat")
    return Path(base)


def load_activity_list(location: str | os.PathLike | None, fetch=None) -> ActivityList:
    """Read the activity list from a file or URL, cached in memory and (for URLs) on disk for a week.

    ``fetch(url) -> bytes`` is how a URL is read (the connector passes its HttpClient).
    """
    loc = str(location or ACTIVITY_LIST_URL)
    now = time.time()
    if loc.startswith(("http://", "https://")):
        hit = _ACTIVITY_CACHE.get(loc)
        if hit and now - hit[0] < CACHE_MAX_AGE:
            return hit[1]
        cached = cache_dir() / f"activity-list-{hashlib.sha1(loc.encode()).hexdigest()[:12]}.jsonld"
        body = None
        if cached.exists() and now - cached.stat().st_mtime < CACHE_MAX_AGE:
            body = cached.read_bytes()
        else:
            if fetch is None:
                raise ValueError(f"{loc}: no way to fetch the activity list (offline?)")
            try:
                body = fetch(loc)
                cached.parent.mkdir(parents=True, exist_ok=True)
                tmp = cached.with_suffix(".tmp")
                tmp.write_bytes(body)
                os.replace(tmp, cached)
            except Exception:
                if not cached.exists():  # a stale copy beats none
                    raise
                body = cached.read_bytes()
        al = ActivityList.from_jsonld(json.loads(body.decode("utf-8-sig")))
        _ACTIVITY_CACHE[loc] = (now, al)
        return al
    path = Path(loc)
    key = f"{path.resolve()}:{path.stat().st_mtime_ns}"
    hit = _ACTIVITY_CACHE.get(key)
    if hit:
        return hit[1]
    al = ActivityList.from_jsonld(json.loads(path.read_text(encoding="utf-8-sig")))
    _ACTIVITY_CACHE[key] = (now, al)
    return al


# -- indexing the raw items -----------------------------------------------------------------------
@dataclass
class Opportunity:
    record_id: str
    kind: str    # series | facility | session | slot | one_off
    type: str    # the data's own type
    data: dict
    modified: Any = None


@dataclass
class OpportunityIndex:
    """Every live item of a source, with sessions and slots grouped under their parent's @id."""

    services: dict[str, Opportunity] = field(default_factory=dict)  # by ref_key(@id) or record id
    children: dict[str, list[Opportunity]] = field(default_factory=lambda: defaultdict(list))
    embedded_parents: dict[str, dict] = field(default_factory=dict)
    one_offs: list[Opportunity] = field(default_factory=list)
    unusable: list[tuple[str, str]] = field(default_factory=list)  # (record_id, reason)

    def add(self, record_id: str, item: Any) -> None:
        if not isinstance(item, dict):
            self.unusable.append((record_id, "the item is not a JSON object"))
            return
        if str(item.get("state", "updated")).lower() == "deleted":
            return
        data = item.get("data") if "data" in item else item
        if not isinstance(data, dict):
            self.unusable.append((record_id, "the item has no data object"))
            return
        typ = oa_type(data)
        opp = Opportunity(record_id, classify(data, typ), typ, data, item.get("modified"))
        if opp.kind in ("series", "facility"):
            key = ref_key(oa_id(data)) or record_id
            self.services[key] = opp
            for n, sub in enumerate(as_list(data.get("subEvent"))):
                if isinstance(sub, dict):
                    self.children[key].append(Opportunity(f"{record_id}#subEvent/{n}", "session", oa_type(sub), sub))
        elif opp.kind in ("session", "slot"):
            parent = data.get("superEvent") if opp.kind == "session" else data.get("facilityUse")
            pkey = ref_key(oa_id(parent))
            if isinstance(parent, dict) and (parent.get("name") or parent.get("@type") or parent.get("type")):
                # An embedded series (e.g. a TeamUp Event with its EventSeries inside).
                pkey = pkey or f"{record_id}#superEvent"
                self.embedded_parents.setdefault(pkey, {**parent, "@id": oa_id(parent) or pkey})
            if not pkey:
                self.unusable.append((record_id, f"a {typ or 'session'} whose superEvent/facilityUse has no @id to join"))
                return
            self.children[pkey].append(opp)
        elif opp.kind == "one_off":
            self.one_offs.append(opp)
        else:
            self.unusable.append((record_id, f"items of type '{typ or '(none)'}' are not opportunities placecat maps"))


def classify(data: dict, typ: str) -> str:
    if typ in SERIES_TYPES:
        return "series"
    if typ in FACILITY_TYPES:
        return "facility"
    if typ in SESSION_TYPES:
        return "session"
    if typ in SLOT_TYPES:
        return "slot"
    if typ == "Event":
        # Pre-2.0 model: an Event with its occurrences as subEvent is a series; one with a
        # superEvent is a session of a series.
        if as_list(data.get("subEvent")):
            return "series"
        if data.get("superEvent"):
            return "session"
        return "one_off"
    if typ in ONE_OFF_TYPES:
        return "one_off"
    return "unknown"


# -- mapping ----------------------------------------------------------------------------------------
@dataclass
class MappingContext:
    rows: StagingRows
    activities: ActivityList | None
    as_of: dt.datetime
    shared: dict = field(default_factory=dict)  # (table, record id) -> staging id of rows many services share

    def add_shared(self, table: str, record_id: str, values: dict, root: str) -> str:
        """Add a row many services point at (taxonomy, term, organisation, location) once."""
        key = (table, record_id)
        hit = self.shared.get(key)
        if hit is None:
            hit = self.shared[key] = self.rows.add(table, record_id, values, root_record_id=root)
        return hit

    @property
    def source_id(self) -> str:
        return self.rows.source_id


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
        _add_term(ctx, rid, service_id, GENDER_TAXONOMY, "https://openactive.io/" + gender_term(gender),
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


def _add_term(ctx: MappingContext, rid: str, service_id: str, taxonomy: str, term_uri: str, label: str,
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


# -- schedules --------------------------------------------------------------------------------------
FREQS = {"P1D": ("WEEKLY", 1, True), "P7D": ("WEEKLY", 1, False), "P1W": ("WEEKLY", 1, False),
         "P14D": ("WEEKLY", 2, False), "P2W": ("WEEKLY", 2, False), "P21D": ("WEEKLY", 3, False),
         "P28D": ("WEEKLY", 4, False), "P4W": ("WEEKLY", 4, False), "P1M": ("MONTHLY", 1, False),
         "P2M": ("MONTHLY", 2, False)}


def _attending(mode: Any) -> str | None:
    m = str(mode or "").lower()
    if "mixed" in m:
        return "in person or online"
    if "online" in m:
        return "online"
    if "offline" in m:
        return "in person"
    return None


def _describe(days: list[str], opens: str | None, closes: str | None, interval: int = 1, freq: str = "WEEKLY") -> str:
    when = ", ".join(DAY_NAMES[d] + "s" for d in days) if days else ("Monthly" if freq == "MONTHLY" else "Weekly")
    if interval > 1 and freq == "WEEKLY":
        when = f"Every {interval} weeks on " + when
    return f"{when}, {opens}–{closes}" if opens and closes else (f"{when}, from {opens}" if opens else when)


def is_full_schedule(s: dict) -> bool:
    return oa_type(s) != "PartialSchedule" and bool(hhmm(s.get("startTime"))) and bool(
        s.get("byDay") or s.get("repeatFrequency") or s.get("byMonthDay"))


def map_schedules(ctx: MappingContext, data: dict, sessions: list[Opportunity], rid: str, service_id: str) -> None:
    schedules = [s for s in as_list(data.get("eventSchedule")) if isinstance(s, dict)]
    full = [s for s in schedules if is_full_schedule(s)]
    attending = _attending(data.get("eventAttendanceMode"))
    if full:
        for n, s in enumerate(full):
            _schedule_row(ctx, s, rid, service_id, n, attending, data.get("duration"))
        return
    if derive_schedule(ctx, data, sessions, rid, service_id, attending):
        return
    partial = [s for s in schedules if hhmm(s.get("startTime")) and s.get("byDay")]
    for n, s in enumerate(partial):  # better than nothing: the times a PartialSchedule states
        _schedule_row(ctx, s, rid, service_id, n, attending, data.get("duration"),
                      note="from a partial schedule (no upcoming sessions to confirm it)")


def _schedule_row(ctx: MappingContext, s: dict, rid: str, service_id: str, n: int, attending: str | None,
                  series_duration: Any, note: str | None = None) -> None:
    days = sorted({d for d in (day_code(x) for x in as_list(s.get("byDay"))) if d}, key=DAY_ORDER.index)
    freq, interval, daily = FREQS.get(str(s.get("repeatFrequency") or "P7D").upper(), ("WEEKLY", 1, False))
    if daily:
        days = list(DAY_ORDER)
    opens = hhmm(s.get("startTime"))
    closes = hhmm(s.get("endTime"))
    if opens and not closes:
        d = parse_duration(s.get("duration")) or parse_duration(series_duration)
        closes = add_minutes(opens, d.total_seconds() / 60) if d else None
    notes = [note] if note else []
    excepts = [str(x)[:10] for x in as_list(s.get("exceptDate"))]
    if excepts:
        notes.append("not on " + ", ".join(excepts))
    tz = s.get("scheduleTimezone")
    if tz and tz != "Europe/London":
        notes.append(f"times are {tz}")
    month_days = ",".join(str(int(x)) for x in as_list(s.get("byMonthDay")) if number(x) is not None)
    ctx.rows.add("schedule", child_record_id(rid, "schedule", n), {
        "service_id": service_id, "freq": freq, "interval": interval,
        "byday": ",".join(days) or None, "bymonthday": month_days or None,
        "opens_at": opens, "closes_at": closes,
        "valid_from": s.get("startDate"), "valid_to": s.get("endDate"), "dtstart": s.get("startDate"),
        "description": _describe(days, opens, closes, interval, freq),
        "attending_type": attending, "notes": "; ".join(notes) or None,
    }, root_record_id=rid)


def derive_schedule(ctx: MappingContext, series: dict, sessions: list[Opportunity], rid: str,
                    service_id: str, attending: str | None) -> bool:
    """Weekly rows from the sessions: grouped by weekday, London start time and duration.

    Upcoming sessions (from ``as_of``) describe what a person can still attend. A feed whose
    sessions are all past (an old capture) still tells its pattern, so then all are used and the
    rows say so.
    """
    occurrences = []
    for s in sessions:
        start = parse_instant(s.data.get("startDate"))
        if start is None:
            continue
        end = parse_instant(s.data.get("endDate"))
        dur = parse_duration(s.data.get("duration")) or (end - start if end and end > start else None) \
            or parse_duration(series.get("duration"))
        occurrences.append((start, dur))
    if not occurrences:
        return False
    upcoming = [o for o in occurrences if o[0] >= ctx.as_of]
    note = None
    if not upcoming:
        upcoming, note = occurrences, "from past sessions only: no upcoming sessions were published"
    groups: dict[tuple, list[dt.datetime]] = defaultdict(list)
    for start, dur in upcoming:
        local = start.astimezone(LONDON)
        minutes = round(dur.total_seconds() / 60) if dur else None
        groups[(DAY_ORDER[local.weekday()], f"{local.hour:02d}:{local.minute:02d}", minutes)].append(local)
    for n, ((day, opens, minutes), starts) in enumerate(sorted(groups.items(), key=lambda kv: (
            DAY_ORDER.index(kv[0][0]), kv[0][1], kv[0][2] or 0))):
        dates = sorted({s.date() for s in starts})
        interval = _week_interval(dates)
        closes = add_minutes(opens, minutes) if minutes is not None else None
        count = f"derived from {len(starts)} session{'s' if len(starts) != 1 else ''} " \
                f"between {dates[0].isoformat()} and {dates[-1].isoformat()}"
        ctx.rows.add("schedule", child_record_id(rid, "schedule", f"derived/{day}/{opens}/{minutes}"), {
            "service_id": service_id, "freq": "WEEKLY", "interval": interval, "byday": day,
            "opens_at": opens, "closes_at": closes,
            "valid_from": dates[0], "valid_to": dates[-1], "dtstart": dates[0],
            "description": _describe([day], opens, closes, interval),
            "attending_type": attending, "notes": "; ".join(x for x in (count, note) if x),
        }, root_record_id=rid)
    return True


def _week_interval(dates: list[dt.date]) -> int:
    gaps = [(b - a).days // 7 for a, b in zip(dates, dates[1:]) if (b - a).days % 7 == 0 and b > a]
    if not gaps:
        return 1
    return max(1, math.gcd(*gaps))


def map_hours_available(ctx: MappingContext, hours: Any, rid: str, service_id: str) -> None:
    groups: dict[tuple, set[str]] = defaultdict(set)
    for spec in as_list(hours):
        if not isinstance(spec, dict):
            continue
        opens, closes = hhmm(spec.get("opens")), hhmm(spec.get("closes"))
        days = {d for d in (day_code(x) for x in as_list(spec.get("dayOfWeek"))) if d}
        if not days:
            continue
        groups[(opens, closes, spec.get("validFrom"), spec.get("validThrough"))] |= days
    for (opens, closes, vfrom, vto), days in sorted(groups.items(), key=lambda kv: (
            min(DAY_ORDER.index(d) for d in kv[1]), kv[0][0] or "")):
        ordered = sorted(days, key=DAY_ORDER.index)
        ctx.rows.add("schedule", child_record_id(rid, "schedule", f"hours/{''.join(ordered)}/{opens}/{closes}"), {
            "service_id": service_id, "freq": "WEEKLY", "interval": 1, "byday": ",".join(ordered),
            "opens_at": opens, "closes_at": closes, "valid_from": vfrom, "valid_to": vto,
            "description": _describe(ordered, opens, closes), "attending_type": "in person",
            "notes": "hours the facility can be booked (hoursAvailable)",
        }, root_record_id=rid)
