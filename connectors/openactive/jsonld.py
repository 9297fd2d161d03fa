"""Reading OpenActive's JSON-LD leniently: every vintage of the model, as publishers send it.

``id``/``type`` aliases, ``http://schema.org/Monday``, string numbers, ISO durations and instants,
days and times; a ``Person`` is stripped before anything is kept.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


DAYS = {"monday": "MO", "tuesday": "TU", "wednesday": "WE", "thursday": "TH", "friday": "FR",
        "saturday": "SA", "sunday": "SU"}


DAY_ORDER = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


DAY_NAMES = dict(zip(DAY_ORDER, ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]))


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
