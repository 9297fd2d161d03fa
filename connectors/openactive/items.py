"""The raw RPDE items of a feed, indexed: opportunities by kind, sessions and slots by the series
or facility they belong to.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from connectors.openactive.jsonld import as_list, oa_id, oa_type, ref_key

SERIES_TYPES = {"SessionSeries", "EventSeries", "CourseInstance", "Course"}


FACILITY_TYPES = {"FacilityUse", "IndividualFacilityUse"}


SESSION_TYPES = {"ScheduledSession"}


SLOT_TYPES = {"Slot"}


ONE_OFF_TYPES = {"HeadlineEvent", "OnDemandEvent", "Event", "SportsEvent", "OnlineEvent"}


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
