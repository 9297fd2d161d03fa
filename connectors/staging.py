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
from functools import lru_cache
from typing import Any, Iterable

from warehouse.model import ORUK_TABLES, staging_columns

# Namespace for deterministic staging ids: uuid5(NS, "source/table/record") is stable from run to
# run, so re-runs are idempotent and two sources can never collide.
PLACECAT_NS = uuid.UUID("6f1d7c52-3b5e-4a8e-9a57-1c0de5a7ca7e")


_NS_BYTES = PLACECAT_NS.bytes
_sha1 = hashlib.sha1


@lru_cache(maxsize=1 << 16)
def staging_id(source_id: str, table: str, source_record_id: str) -> str:
    """uuid5(PLACECAT_NS, "source/table/record"), spelled out: the same value without building UUID
    objects. It runs for every row, and shared objects (an organisation, a taxonomy term) ask for
    the same id again and again, hence the cache."""
    x = _sha1(_NS_BYTES + f"{source_id}/{table}/{source_record_id}".encode("utf-8")).hexdigest()
    # version 5 in the 13th hex digit; the RFC 4122 variant (10xx) in the 17th.
    return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{_VARIANT[x[16]]}{x[17:20]}-{x[20:32]}"


_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}
_make_staging_id = staging_id.__wrapped__


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
# "10:00-13:00", "9am - 5pm", "10.00 to 13.00": two times, each with minutes or am/pm (so that an
# age range such as "10-13" is not taken for one). "10:00-13:00" also looks like a time with the
# offset -13:00, and was read as 10:00; a time with an offset has seconds or a plus sign in feeds.
_ONE_TIME = r"\d{1,2}(?:[:.]\d{2}\s*(?:am|pm)?|\s*(?:am|pm))"
_TIME_RANGE_RE = re.compile(rf"^\s*({_ONE_TIME})\s*(?:-|–|—|\bto\b|\buntil\b|\btill\b)\s*({_ONE_TIME})\s*$", re.I)


def split_time_range(value: Any) -> tuple[dt.time, dt.time] | None:
    """(opens, closes) for a time range such as "10:00-13:00" or "9am to 5pm"; None otherwise."""
    if not isinstance(value, str):
        return None
    m = _TIME_RANGE_RE.match(value)
    if not m:
        return None
    try:
        return _range_end(m.group(1)), _range_end(m.group(2))
    except ValueError:
        return None


def _range_end(text: str) -> dt.time:
    text = re.sub(r"\s+", "", text)
    return parse_time(re.sub(r"^(\d{1,2})(am|pm)$", r"\1:00\2", text, flags=re.I))


def parse_time(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, dt.datetime):
        return value.time()
    if type(value) is str:
        return _parse_time_text(value)
    return _parse_time(value)


def _parse_time(value: Any) -> dt.time:
    s = str(value).strip()
    if _TIME_RANGE_RE.match(s):
        raise ValueError(f"a time range, not one time: {value!r}")
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
    if type(value) is str:
        return _parse_date_text(value)
    return _parse_date(value)


def _parse_date(value: Any) -> dt.date:
    s = str(value).strip()
    # An ISO date, or the date of an ISO timestamp; "2024-01-01 and later" is not read in part.
    if re.match(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}\S*)?$", s):
        return dt.date.fromisoformat(s[:10])
    for fmt in ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%d %B %Y", "%d %b %Y"):
        try:
            return dt.datetime.strptime(s, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"not a date: {value!r}")


# Opening times and dates repeat across a feed ("09:00", "2024-01-01"): parse each text once.
# Results are immutable; a text that fails is re-parsed (and re-reported) each time it is seen.
_parse_time_text = lru_cache(maxsize=4096)(_parse_time)
_parse_date_text = lru_cache(maxsize=4096)(_parse_date)


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


# -- how long a text value may be ------------------------------------------------------------------
# Over its limit a value is cut (ending in "…", so that a reader sees it was cut) and an issue says
# so; the whole value stays in raw.record. Longest seen in the real fixtures (../shared/fixtures):
# a name of 177 characters, a description of 1,235. A 100,000-character name or a 20 MB
# description is a broken export, not a directory entry, and was published in full.
NAME_LIMIT = 500
DESCRIPTION_LIMIT = 20_000
TEXT_LIMIT = 10_000          # every other text column
UNLIMITED_TEXT = {"extent"}  # service_area.extent: a boundary (GeoJSON or WKT) can be long


def text_limit(column: str) -> int | None:
    """The longest a value of this text column may be (None: not limited). Ids and references are
    never cut: a cut id would name another record."""
    if column in UNLIMITED_TEXT or column == "id" or column.endswith("_id") or column == "source_record_id":
        return None
    if column == "name":
        return NAME_LIMIT
    if column == "description":
        return DESCRIPTION_LIMIT
    return TEXT_LIMIT


SHORTEST_LIMIT = min(NAME_LIMIT, DESCRIPTION_LIMIT, TEXT_LIMIT)


def cut_text(value: str, limit: int) -> str:
    return value[:limit - 1] + "…"


# One encoder for every row's extras (json.dumps with options builds a new one per call).
encode_extras = json.JSONEncoder(ensure_ascii=False, default=str).encode

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
    # column -> (type, converter or None), per table: looked up once per cell.
    _columns: dict[str, dict[str, tuple]] = field(default_factory=lambda: {
        t: {c: (typ, _COERCE.get(typ)) for c, typ in staging_columns(t)} for t in ORUK_TABLES})
    # Shared objects (an organisation embedded in every one of its services) arrive many times;
    # the first copy of each id is kept.
    _seen: dict[str, set[str]] = field(default_factory=lambda: {t: set() for t in ORUK_TABLES})
    # For normalisers: ids of shared objects they derive again and again (a v1 enum's term),
    # keyed as each likes. Only ids of rows already added here belong in it.
    memo: dict = field(default_factory=dict)
    # The staging id made for each source record id, per table (so a record seen again costs a
    # lookup, not a hash).
    _ids: dict[str, dict[str, str]] = field(default_factory=lambda: {t: {} for t in ORUK_TABLES})
    # VARCHAR columns, per table: a text value for one of these is stored as it is (unless blank).
    _text_columns: dict[str, frozenset] = field(default_factory=lambda: {
        t: frozenset(c for c, typ in staging_columns(t) if typ == "VARCHAR") for t in ORUK_TABLES})
    # DOUBLE columns, per table: a float for one of these is stored as it is.
    _number_columns: dict[str, frozenset] = field(default_factory=lambda: {
        t: frozenset(c for c, typ in staging_columns(t) if typ == "DOUBLE") for t in ORUK_TABLES})
    # The length limit of each limited text column, per table (see text_limit).
    _limits: dict[str, dict[str, int]] = field(default_factory=lambda: {
        t: {c: lim for c, typ in staging_columns(t) if typ == "VARCHAR" and (lim := text_limit(c)) is not None}
        for t in ORUK_TABLES})

    def issue(self, record_id: str | None, table: str | None, fieldname: str | None, rule: str,
              message: str, severity: str = "warning") -> None:
        self.issues.append(Issue(self.source_id, record_id, table, fieldname, rule, severity, message))

    def add(self, table: str, source_record_id: str, values: dict[str, Any],
            extras: dict | str | None = None, root_record_id: str | None = None,
            pick_from: dict | None = None, fields: tuple[str, ...] = ()) -> str:
        """Add one row; returns its staging id. ``values['id']`` may be given, else derived.
        ``extras``: a dict, or its JSON text. ``pick_from``/``fields``: the cells of ``fields``
        that the object ``pick_from`` has are taken too (before ``values``, which win), without
        the caller copying them out first."""
        # This runs for every row of every source: written for speed (see _put_cells).
        row_id = values.get("id")
        if not row_id:
            ids = self._ids[table]
            row_id = ids.get(source_record_id)
            if row_id is None:  # (_ids makes the cache of staging_id needless here; it serves references)
                row_id = ids[source_record_id] = _make_staging_id(self.source_id, table, source_record_id)
        seen = self._seen[table]
        if row_id in seen:
            return row_id
        seen.add(row_id)
        row: dict[str, Any] = {}
        record_id = root_record_id or source_record_id
        if pick_from is not None:
            self._put_cells(row, table, [(k, pick_from[k]) for k in fields if k in pick_from], record_id)
        self._put_cells(row, table, values.items(), record_id)
        row["id"] = row_id
        row["source_id"] = self.source_id
        row["source_record_id"] = source_record_id
        row["extras"] = (extras if type(extras) is str else encode_extras(extras)) if extras else None
        self.rows[table].append(row)
        return row_id

    def _put_cells(self, row: dict[str, Any], table: str, cells, record_id: str) -> None:
        """(key, value) cells into ``row``. Text (or None) for a text column, and floats for a
        number column, are checked inline; the rest (ints, dates, lists, unknown columns) go
        through _cell."""
        text_columns, number_columns = self._text_columns[table], self._number_columns[table]
        for key, value in cells:
            if key in text_columns:
                if type(value) is str:
                    if len(value) > SHORTEST_LIMIT:
                        value = self._within_limit(table, key, value, record_id)
                    row[key] = value if value and not value.isspace() else None
                    continue
                if value is None:
                    row[key] = None
                    continue
            elif type(value) is float and key in number_columns:
                row[key] = value
                continue
            row[key] = self._cell(table, key, value, record_id)

    def _within_limit(self, table: str, key: str, value: str, record_id: str) -> str:
        limit = self._limits[table].get(key)
        if limit is None or len(value) <= limit:
            return value
        self.issue(record_id, table, key, "length",
                   f"{table}.{key}: {len(value):,} characters, over the {limit:,}-character limit; cut to {limit:,} "
                   f"(the whole value is kept in raw.record)")
        return cut_text(value, limit)

    def _cell(self, table: str, key: str, value: Any, record_id: str) -> Any:
        """One cell coerced to its column's type; a value that does not fit is None plus an issue."""
        try:
            typ, conv = self._columns[table][key]
        except KeyError:
            raise KeyError(f"{table}.{key} is not in the model") from None
        if value is None:
            return None
        kind = type(value)
        if kind is str:
            if not value or value.isspace():
                return None
        elif kind is not int and kind is not float and _blank(value):
            return None
        if conv is not None:
            try:
                return conv(value)
            except (ValueError, TypeError, OverflowError):
                self.issue(record_id, table, key, "type",
                           f"{table}.{key}: {str(value)[:80]!r} is not a valid {typ.lower()}; left empty")
                return None
        if typ == "VARCHAR" and not isinstance(value, str):
            value = json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)
        if typ == "VARCHAR" and len(value) > SHORTEST_LIMIT:
            return self._within_limit(table, key, value, record_id)
        return value

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
