"""Richness: how fully a feed describes its services, scored with Porism's ORUK v1 weights.

The ORUK dashboard's richness score (Porism) gives each service points for the fields it fills:

    name 10, description 5, url 2, email 2, attending_type 2, attending_access 2, service_areas 5,
    eligibilitys 2, contacts 2, assured_date 2 (only when under 90 days old), regular_schedules 2,
    service_at_locations 9                                                   (45 points in all)

A feed's score is the mean over its services, as a percentage of 45. The function reads v1 and
v3 service objects alike; a v3 field counts for its v1 ancestor: ``schedules`` for
``regular_schedules``, ``eligibilities``/``minimum_age``/``maximum_age`` or an eligibility
attribute for ``eligibilitys``, a schedule's ``attending_type`` for ``attending_type``, and an
``oruk-v1:attending_access`` attribute (what placecat's v1 normaliser writes) for
``attending_access``.

    from connectors.oruk.richness import richness_score
    result = richness_score(services)          # RichnessResult(percent=..., per_field=..., services=...)
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable

PORISM_V1_WEIGHTS: dict[str, int] = {
    "name": 10, "description": 5, "url": 2, "email": 2, "attending_type": 2, "attending_access": 2,
    "service_areas": 5, "eligibilitys": 2, "contacts": 2, "assured_date": 2, "regular_schedules": 2,
    "service_at_locations": 9,
}
MAX_POINTS = sum(PORISM_V1_WEIGHTS.values())
ASSURED_WITHIN_DAYS = 90


def _filled(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, dict)):
        return bool(value)
    return True


def _attribute_vocabularies(svc: dict) -> set[str]:
    out = set()
    for attr in svc.get("attributes") or []:
        term = attr.get("taxonomy_term") if isinstance(attr, dict) else None
        if isinstance(term, dict) and isinstance(term.get("taxonomy"), str):
            out.add(term["taxonomy"].lower())
    return out


def _assured_recently(value: Any, today: dt.date) -> bool:
    if not isinstance(value, str) or len(value) < 10:
        return False
    try:
        assured = dt.date.fromisoformat(value[:10])
    except ValueError:
        return False
    return 0 <= (today - assured).days < ASSURED_WITHIN_DAYS


def service_fields_present(svc: dict, today: dt.date | None = None) -> dict[str, bool]:
    """For one v1 or v3 service object: which of the weighted fields it fills."""
    today = today or dt.date.today()
    if not isinstance(svc, dict):
        return {f: False for f in PORISM_V1_WEIGHTS}
    vocabs = _attribute_vocabularies(svc)
    schedules = [s for s in (svc.get("regular_schedules") or svc.get("schedules") or []) if isinstance(s, dict)]
    return {
        "name": _filled(svc.get("name")),
        "description": _filled(svc.get("description")),
        "url": _filled(svc.get("url")),
        "email": _filled(svc.get("email")),
        "attending_type": _filled(svc.get("attending_type")) or any(_filled(s.get("attending_type")) for s in schedules),
        "attending_access": _filled(svc.get("attending_access")) or "oruk-v1:attending_access" in vocabs,
        "service_areas": _filled(svc.get("service_areas")),
        "eligibilitys": _filled(svc.get("eligibilitys")) or _filled(svc.get("eligibilities"))
        or svc.get("minimum_age") is not None or svc.get("maximum_age") is not None
        or any("eligibility" in v for v in vocabs),
        "contacts": _filled(svc.get("contacts")),
        "assured_date": _assured_recently(svc.get("assured_date"), today),
        "regular_schedules": bool(schedules),
        "service_at_locations": _filled(svc.get("service_at_locations")),
    }


def service_points(svc: dict, today: dt.date | None = None) -> int:
    return sum(PORISM_V1_WEIGHTS[f] for f, ok in service_fields_present(svc, today).items() if ok)


@dataclass
class RichnessResult:
    percent: float                      # the feed's score, 0-100
    services: int                       # how many services were scored
    per_field: dict[str, float] = field(default_factory=dict)  # share of services filling each field

    def as_dict(self) -> dict:
        return {"percent": round(self.percent, 1), "services": self.services,
                "per_field": {k: round(v, 3) for k, v in self.per_field.items()},
                "weights": PORISM_V1_WEIGHTS}


def richness_score(services: Iterable[dict], today: dt.date | None = None) -> RichnessResult:
    """The mean richness of services (v1 or v3 objects), as a percentage of the 45 points."""
    today = today or dt.date.today()
    counts = {f: 0 for f in PORISM_V1_WEIGHTS}
    n = 0
    points = 0
    for svc in services:
        present = service_fields_present(svc, today)
        n += 1
        for f, ok in present.items():
            if ok:
                counts[f] += 1
                points += PORISM_V1_WEIGHTS[f]
    if n == 0:
        return RichnessResult(0.0, 0, {f: 0.0 for f in PORISM_V1_WEIGHTS})
    return RichnessResult(100.0 * points / (MAX_POINTS * n), n, {f: c / n for f, c in counts.items()})
