"""When an OpenActive service runs, as ORUK schedules: from a full ``Schedule``, derived from its
scheduled sessions when it has none, or from a facility's ``hoursAvailable``.
"""
from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from typing import Any

from connectors.openactive.context import MappingContext
from connectors.openactive.items import Opportunity
from connectors.openactive.jsonld import (DAY_NAMES, DAY_ORDER, LONDON, add_minutes, as_list, day_code, hhmm, number,
                                          oa_type, parse_duration, parse_instant)
from connectors.staging import child_record_id

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
