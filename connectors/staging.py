"""What every connector's normaliser writes into: staging rows and record-level issues.

Normalisers call ``rows.add(table, record_id, {...})``. Values are coerced to the model's
column types here, once, for every connector: a value that does not fit (a date that doesn't
parse, "ten" as an age) becomes NULL and an issue naming the record and field, so one bad cell
never sinks a page.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable

from warehouse.model import ORUK_TABLES, staging_columns

# Namespace for deterministic staging ids: uuid5(NS, "source/table/record") is stable from run to
# run, so re-runs are idempotent and two sources can never collide.
PLACECAT_NS = uuid.UUID("6f1d7c52-3b5e-4a8e-9a57-1c0de5a7ca7e")


_NS_BYTES = PLACECAT_NS.bytes


def staging_id(source_id: str, table: str, source_record_id: str) -> str:
    # uuid.uuid5 spelled out: the same value, without building UUID objects (it runs for every row).
    digest = bytearray(hashlib.sha1(_NS_BYTES + f"{source_id}/{table}/{source_record_id}".encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def child_record_id(parent_record_id: str, table: str, key: Any) -> str:
    """An id for a nested object that came without one (e.g. the 2nd phone of a service)."""
    return f"{parent_record_id}#{table}/{key}"


@dataclass
class Issue:
    source_id: str
    record_id: str | None
    table_name: str | None
    field: str | None
    rule: str
    severity: str  # blocking | warning | info
    message: str

    def as_row(self, run_id: str) -> dict:
        return {"run_id": run_id, **self.__dict__}


_TIME_RE = re.compile(r"^(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?(?:\.\d+)?\s*(am|pm)?$", re.I)


def parse_time(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, dt.datetime):
        return value.time()
    s = str(value).strip()
    # ISO times with an offset ("10:00:00Z", "10:00+01:00"): keep wall-clock time.
    s = re.sub(r"(Z|[+-]\d{2}:?\d{2})$", "", s)
    m = _TIME_RE.match(s)
    if not m:
        raise ValueError(f"not a time: {value!r}")
    h, mnt, sec, ampm = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0), m.group(4)
    if ampm:
        if not 1 <= h <= 12:
            raise ValueError(f"not a 12-hour time: {value!r}")
        h = h % 12 + (12 if ampm.lower() == "pm" else 0)
    if h == 24 and mnt == 0 and sec == 0:
        return dt.time(23, 59, 59)
    return dt.time(h, mnt, sec)


def parse_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    s = str(value).strip()
    if re.match(r"^\d{4}-\d{2}-\d{2}", s):
        return dt.date.fromisoformat(s[:10])
    for fmt in ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%d %B %Y", "%d %b %Y"):
        try:
            return dt.datetime.strptime(s, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"not a date: {value!r}")


def parse_timestamp(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        ts = value
    elif isinstance(value, dt.date):
        ts = dt.datetime(value.year, value.month, value.day)
    else:
        s = str(value).strip().replace("Z", "+00:00")
        ts = dt.datetime.fromisoformat(s)
    if ts.tzinfo is not None:
        ts = ts.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return ts


def parse_number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("boolean is not a number")
    if isinstance(value, (int, float)):
        return float(value)
    s = str(value).strip().replace(",", "").lstrip("£$€")
    return float(s)


_COERCE = {"DATE": parse_date, "TIME": parse_time, "TIMESTAMP": parse_timestamp, "DOUBLE": parse_number}


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == [] or value == {}


@dataclass
class StagingRows:
    """Rows for one source, table by table, plus the issues found while making them."""

    source_id: str
    rows: dict[str, list[dict]] = field(default_factory=lambda: {t: [] for t in ORUK_TABLES})
    issues: list[Issue] = field(default_factory=list)
    _types: dict[str, dict[str, str]] = field(default_factory=lambda: {t: dict(staging_columns(t)) for t in ORUK_TABLES})
    # Shared objects (an organisation embedded in every one of its services) arrive many times;
    # the first copy of each id is kept.
    _seen: dict[str, set[str]] = field(default_factory=lambda: {t: set() for t in ORUK_TABLES})

    def issue(self, record_id: str | None, table: str | None, fieldname: str | None, rule: str,
              message: str, severity: str = "warning") -> None:
        self.issues.append(Issue(self.source_id, record_id, table, fieldname, rule, severity, message))

    def add(self, table: str, source_record_id: str, values: dict[str, Any],
            extras: dict | None = None, root_record_id: str | None = None) -> str:
        """Add one row; returns its staging id. ``values['id']`` may be given, else derived."""
        types = self._types[table]
        row_id = values.get("id") or staging_id(self.source_id, table, source_record_id)
        if row_id in self._seen[table]:
            return row_id
        self._seen[table].add(row_id)
        row: dict[str, Any] = {}
        issue_record = root_record_id or source_record_id
        for key, value in values.items():
            typ = types.get(key)
            if typ is None:
                raise KeyError(f"{table}.{key} is not in the model")
            if _blank(value):
                row[key] = None
                continue
            conv = _COERCE.get(typ)
            if conv is not None:
                try:
                    value = conv(value)
                except (ValueError, TypeError, OverflowError):
                    self.issue(issue_record, table, key, "type", f"{table}.{key}: {str(value)[:80]!r} is not a valid {typ.lower()}; left empty")
                    value = None
            elif typ == "VARCHAR" and not isinstance(value, str):
                value = json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)
            row[key] = value
        row["id"] = row_id
        row["source_id"] = self.source_id
        row["source_record_id"] = source_record_id
        row["extras"] = json.dumps(extras, ensure_ascii=False, default=str) if extras else None
        self.rows[table].append(row)
        return row["id"]

    def count(self, table: str) -> int:
        return len(self.rows[table])

    def extend(self, other: "StagingRows") -> None:
        for t, rs in other.rows.items():
            for r in rs:
                if r["id"] not in self._seen[t]:
                    self._seen[t].add(r["id"])
                    self.rows[t].append(r)
        self.issues.extend(other.issues)

    def tables(self) -> Iterable[tuple[str, list[dict]]]:
        return ((t, rs) for t, rs in self.rows.items() if rs)
