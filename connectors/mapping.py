"""Mapping files: which spreadsheet or database column becomes which ORUK v3 field.

One mapping file describes one kind of export, so a data team can bring a new directory in
without writing code::

    id: "Ref"                          # the column that identifies a row (optional)
    key: ["Service Name", "Postcode"]  # without an id: a stable key made of these columns
    columns:
      service.name: "Service Name"
      organization.name: "Organisation"
      address.address_1: ["Address 1", "Address 2"]          # joined (", " for address fields)
      phone.number: {column: "Telephone", split: "/"}        # one phone per value
      schedule.byday: {column: "Days", split: ","}            # "Mon, Wed" -> MO,WE
      schedule.opens_at: {column: "Start", format: "%H.%M"}
      service.assured_date: {column: "Checked", format: "%d/%m/%y"}
      taxonomy_term.name: {column: "Category", split: ";"}
    constants:
      service.status: active
    values:
      schedule.byday: {Monday: MO, Mon: MO}
    categories:                        # local categories -> LGA service types (label or id)
      Food bank: Food banks
      Toddler group: 1119
    services:                          # rows that describe an organisation with several services
      - {service.name: "Service 1", service.description: "Service 1 details"}
      - {service.name: "Service 2", service.description: "Service 2 details"}

``load_mapping(ref, base)`` reads a file or a bundled preset (``preset:cqc_care_directory``) and
validates it; ``Mapping.bind(columns, where)`` checks it against the real columns and names every
mapped column that is missing. ``BoundMapping.row_id(row)`` gives the row's stable id and
``normalise_row`` turns one row into staging rows, reporting every bad cell with its file, sheet,
row and column.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from connectors.config import ConfigError
from connectors.staging import StagingRows, parse_date, parse_number, parse_time
from warehouse.model import BYDAYS, ORUK_TABLES, column_types

PRESETS_DIR = Path(__file__).parent / "presets"

# Fields a mapping may fill, per table. Ids and foreign keys are made by placecat, except the
# ids of shared objects (an organisation's or location's own reference) which a mapping may name.
_NEVER = {"id", "service_id", "organization_id", "location_id", "contact_id", "service_at_location_id",
          "taxonomy_term_id", "taxonomy_id", "parent_id", "parent_organization_id", "link_id", "phone_id",
          "link_type", "link_entity"}
MAPPABLE: dict[str, set[str]] = {
    t: {c for c, _t, _o in cols if c not in _NEVER}
    for t, cols in ORUK_TABLES.items()
    if t not in ("service_at_location", "taxonomy", "attribute")
}
MAPPABLE["organization"].add("id")
MAPPABLE["location"].add("id")
# Child tables where several values (a split cell) make several rows; the field that does it.
MULTI_ROW_FIELD = {"phone": "number", "taxonomy_term": "name", "service_area": "name",
                   "language": "name", "funding": "source", "organization_identifier": "identifier"}
JOIN_SEP_DEFAULT = {"address": ", "}
LGA_TAXONOMY = {"name": "LGA service types", "uri": "http://id.esd.org.uk/list/services"}

DAY_CODES = {
    "mo": "MO", "mon": "MO", "monday": "MO", "tu": "TU", "tue": "TU", "tues": "TU", "tuesday": "TU",
    "we": "WE", "wed": "WE", "weds": "WE", "wednesday": "WE", "th": "TH", "thu": "TH", "thur": "TH",
    "thurs": "TH", "thursday": "TH", "fr": "FR", "fri": "FR", "friday": "FR", "sa": "SA", "sat": "SA",
    "saturday": "SA", "su": "SU", "sun": "SU", "sunday": "SU",
}
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)


class MappingError(ConfigError):
    """A mapping that cannot be used; one line naming the mapping file and what is wrong."""


@dataclass(frozen=True)
class FieldSpec:
    field: str                  # "table.column"
    columns: tuple[str, ...] = ()
    constant: Any = None
    sep: str | None = None      # joining several columns
    split: str | None = None    # one cell -> several values
    format: str | None = None   # strptime format for dates and times
    values: dict[str, Any] | None = None
    table: str = ""
    column: str = ""

    def __post_init__(self) -> None:
        table, column = self.field.split(".", 1)
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "column", column)


@dataclass
class Mapping:
    path: str
    fields: list[FieldSpec]
    id_column: str | None = None
    key_columns: tuple[str, ...] = ()
    required: tuple[str, ...] = ("service.name",)
    categories: dict[str, Any] = field(default_factory=dict)
    service_groups: list[list[FieldSpec]] = field(default_factory=list)
    taxonomy: str = "local"
    role: str | None = None
    reader: dict[str, Any] = field(default_factory=dict)  # sheet, header_row, encoding, delimiter

    def mapped_columns(self) -> dict[str, str]:
        """Every source column the mapping reads -> the first field that reads it."""
        out: dict[str, str] = {}
        if self.id_column:
            out.setdefault(self.id_column, "id")
        for c in self.key_columns:
            out.setdefault(c, "key")
        for spec in [*self.fields, *(s for g in self.service_groups for s in g)]:
            for c in spec.columns:
                out.setdefault(c, spec.field)
        return out

    def bind(self, columns: list[str], where: str) -> "BoundMapping":
        """Check the mapping against a file's real columns; raise naming every missing one."""
        by_norm = {_norm(c): c for c in columns}
        missing = [(c, f) for c, f in self.mapped_columns().items() if _norm(c) not in by_norm]
        if missing:
            listed = "; ".join(f"'{c}' (for {f}{_near(c, columns)})" for c, f in missing)
            raise MappingError(f"{where}: the mapping {self.path} names column(s) this file does not have: "
                               f"{listed}. Fix the mapping or the file's header")
        return BoundMapping(self, {c: by_norm[_norm(c)] for c in self.mapped_columns()}, where)


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", str(name)).strip().casefold()


def _near(column: str, columns: list[str]) -> str:
    from rapidfuzz import fuzz, process, utils

    best = process.extractOne(column, columns, scorer=fuzz.WRatio, processor=utils.default_process)
    return f"; did you mean '{best[0]}'?" if best and best[1] >= 80 else ""


# -- loading -----------------------------------------------------------------------------------
def preset_path(name: str) -> Path:
    return PRESETS_DIR / f"{name}.yaml"


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def resolve_mapping_ref(ref: str, base: Path | None) -> Path:
    ref = str(ref).strip()
    if ref.startswith("preset:"):
        name = ref.split(":", 1)[1].strip()
        p = preset_path(name)
        if not p.exists():
            raise MappingError(f"mapping '{ref}': no such preset; the presets are {', '.join(available_presets())}")
        return p
    p = Path(ref).expanduser()
    if not p.is_absolute() and base is not None:
        p = base / p
    return p


def preset_role(ref: Any) -> str | None:
    """The provenance role a preset gives its sources by default (regulators' exports)."""
    if not isinstance(ref, str) or not ref.strip().startswith("preset:"):
        return None
    try:
        doc = yaml.safe_load(resolve_mapping_ref(ref, None).read_text(encoding="utf-8")) or {}
    except (MappingError, OSError, yaml.YAMLError):
        return None
    return doc.get("role") if isinstance(doc, dict) else None


def load_mapping(ref: str, base: Path | None = None) -> Mapping:
    path = resolve_mapping_ref(ref, base)
    if not path.exists():
        raise MappingError(f"{path}: mapping file not found; check the source's mapping (relative to the sources file), "
                           f"or write one with `placecat mapping suggest FILE`")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise MappingError(f"{path}:{where}: not valid YAML ({getattr(exc, 'problem', None) or exc}); fix the quoting or indentation") from None
    return parse_mapping(doc, str(path))


_TOP_KEYS = {"id", "key", "columns", "constants", "values", "categories", "services", "required",
             "taxonomy", "role", "sheet", "header_row", "encoding", "delimiter", "description"}


def parse_mapping(doc: Any, path: str) -> Mapping:
    if not isinstance(doc, dict) or not isinstance(doc.get("columns"), dict) or not doc["columns"]:
        raise MappingError(f"{path}: a mapping needs a 'columns:' section taking source columns to ORUK fields "
                           f"(e.g. service.name: \"Service Name\")")
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise MappingError(f"{path}: unknown key '{sorted(unknown)[0]}'; allowed keys are {', '.join(sorted(_TOP_KEYS))}")
    values = doc.get("values") or {}
    if not isinstance(values, dict):
        raise MappingError(f"{path}: 'values:' must map a field to {{source value: ORUK value}}")
    for f, vm in values.items():
        _check_field(path, f, "values")
        if not isinstance(vm, dict):
            raise MappingError(f"{path}: values.{f}: must be a mapping of source value to ORUK value")
    fields = [_parse_spec(path, f, spec, values.get(f)) for f, spec in doc["columns"].items()]
    for f, const in (doc.get("constants") or {}).items():
        _check_field(path, f, "constants")
        fields.append(FieldSpec(f, constant=const, values=_lower_keys(values.get(f))))
    groups = []
    for n, group in enumerate(doc.get("services") or [], start=1):
        if not isinstance(group, dict) or not group:
            raise MappingError(f"{path}: services entry {n}: must map service fields to columns")
        groups.append([_parse_spec(path, f, spec, values.get(f)) for f, spec in group.items()])
    id_column = doc.get("id")
    if id_column is not None and not isinstance(id_column, str):
        raise MappingError(f"{path}: 'id:' must name one column; for a key made of several columns use 'key: [A, B]'")
    key = doc.get("key") or []
    if isinstance(key, str):
        key = [key]
    if not isinstance(key, list) or not all(isinstance(k, str) for k in key):
        raise MappingError(f"{path}: 'key:' must be a list of column names")
    required = doc.get("required", ["service.name"])
    if isinstance(required, str):
        required = [required]
    for f in required:
        _check_field(path, f, "required")
    categories = doc.get("categories") or {}
    if not isinstance(categories, dict):
        raise MappingError(f"{path}: 'categories:' must map a local category to an LGA service type (label or id)")
    reader = {k: doc[k] for k in ("sheet", "header_row", "encoding", "delimiter") if k in doc}
    m = Mapping(path, fields, id_column, tuple(key), tuple(required), {_norm(k): v for k, v in categories.items()},
                groups, str(doc.get("taxonomy") or "local"), doc.get("role"), reader)
    if not key and not id_column:
        m.key_columns = _default_key(m)
    if not any(s.field == "service.name" for s in [*fields, *(s for g in groups for s in g)]):
        raise MappingError(f"{path}: no column is mapped to service.name; every row needs a service name")
    return m


def _default_key(m: Mapping) -> tuple[str, ...]:
    """Without an id or key: the service's name, organisation and postcode identify a row."""
    cols: list[str] = []
    for wanted in ("service.name", "organization.name", "address.postal_code"):
        for spec in m.fields:
            if spec.field == wanted:
                cols.extend(c for c in spec.columns if c not in cols)
    if not cols:  # the names live in service groups: all of their name columns
        for g in m.service_groups:
            cols.extend(c for s in g if s.field == "service.name" for c in s.columns)
    return tuple(cols)


def _check_field(path: str, f: Any, section: str) -> None:
    if not isinstance(f, str) or "." not in f:
        raise MappingError(f"{path}: {section}: '{f}' is not an ORUK field; write table.field, e.g. service.name")
    table, col = f.split(".", 1)
    if table not in MAPPABLE:
        raise MappingError(f"{path}: {section}: '{f}': '{table}' is not an ORUK object a mapping can fill; "
                           f"use one of {', '.join(sorted(MAPPABLE))}")
    if col not in MAPPABLE[table]:
        raise MappingError(f"{path}: {section}: '{f}': {table} has no field '{col}' a mapping can fill; "
                           f"use one of {', '.join(sorted(MAPPABLE[table]))}")


def _lower_keys(vm: dict | None) -> dict | None:
    return {_norm(k): v for k, v in vm.items()} if vm else None


def _parse_spec(path: str, f: str, spec: Any, values: dict | None) -> FieldSpec:
    _check_field(path, f, "columns")
    table = f.split(".", 1)[0]
    sep = JOIN_SEP_DEFAULT.get(table, " ")
    if isinstance(spec, str):
        return FieldSpec(f, (spec,), values=_lower_keys(values))
    if isinstance(spec, list) and spec and all(isinstance(c, str) for c in spec):
        return FieldSpec(f, tuple(spec), sep=sep, values=_lower_keys(values))
    if isinstance(spec, dict):
        unknown = set(spec) - {"column", "join", "sep", "split", "format", "values", "value"}
        if unknown:
            raise MappingError(f"{path}: columns.{f}: unknown option '{sorted(unknown)[0]}'; use column, join, sep, "
                               f"split, format, values or value")
        vm = dict(values or {})
        vm.update(spec.get("values") or {})
        if "value" in spec:
            return FieldSpec(f, constant=spec["value"], values=_lower_keys(vm))
        cols = spec.get("join") or spec.get("column")
        if isinstance(cols, str):
            cols = [cols]
        if not cols or not all(isinstance(c, str) for c in cols):
            raise MappingError(f"{path}: columns.{f}: give 'column: NAME' or 'join: [A, B]'")
        return FieldSpec(f, tuple(cols), sep=str(spec.get("sep", sep)), split=spec.get("split"),
                         format=spec.get("format"), values=_lower_keys(vm))
    raise MappingError(f"{path}: columns.{f}: expected a column name, a list of columns to join, or "
                       f"{{column: NAME, split: ',', format: '%d/%m/%Y'}}")


# -- row ids ---------------------------------------------------------------------------------
def _id_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return re.sub(r"\s+", " ", str(value)).strip()


@dataclass
class BoundMapping:
    mapping: Mapping
    actual: dict[str, str]  # column named in the mapping -> the file's header
    where: str

    def col(self, name: str) -> str:
        return self.actual.get(name, name)

    def row_id(self, row: dict[str, Any]) -> str | None:
        """The row's id: its id column, else a hash of its key columns. Stable across exports:
        it depends only on this row's own values, never on its position."""
        m = self.mapping
        if m.id_column:
            v = row.get(self.col(m.id_column))
            return (_id_text(v) or None) if v is not None else None
        parts = [_norm(_id_text(row.get(self.col(c)))) if row.get(self.col(c)) is not None else ""
                 for c in m.key_columns]
        if not any(parts):
            return None
        return "k-" + hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:20]

    def missing_id_reason(self) -> str:
        m = self.mapping
        if m.id_column:
            return f"its id column '{m.id_column}' is empty; give every row an id"
        return f"its key column(s) {', '.join(repr(c) for c in m.key_columns)} are all empty"


# -- normalising one row -------------------------------------------------------------------------
def describe_place(fetched_from: str) -> tuple[str, int | None]:
    """'file.xlsx, sheet 'S'' and the row number, from fetched_from 'PATH!SHEET:ROW'."""
    loc, _, row = fetched_from.rpartition(":")
    if not row.isdigit():
        return fetched_from, None
    if "!" in loc:
        file, _, sheet = loc.rpartition("!")
        return f"{_basename(file)}, sheet '{sheet}'", int(row)
    if "#" in loc:
        db, _, table = loc.rpartition("#")
        return f"{db} {table}", int(row)
    return _basename(loc), int(row)


def _basename(p: str) -> str:
    return p.rstrip("/").rsplit("/", 1)[-1] or p


class RowProblems:
    """Issues found in one row, each worded with the file, sheet, row and column."""

    def __init__(self, rows: StagingRows, record_id: str, fetched_from: str):
        self.rows = rows
        self.record_id = record_id
        self.place, self.row_number = describe_place(fetched_from)

    def prefix(self, column: str | None = None) -> str:
        row = f", row {self.row_number}" if self.row_number is not None else ""
        col = f", column '{column}'" if column else ""
        return f"{self.place}{row}{col}"

    def cell(self, spec: FieldSpec, column: str | None, rule: str, what: str, severity: str = "warning") -> None:
        self.rows.issue(self.record_id, spec.table, spec.column, rule, f"{self.prefix(column)}: {what}", severity)

    def row(self, table: str | None, fieldname: str | None, rule: str, what: str, severity: str = "blocking") -> None:
        self.rows.issue(self.record_id, table, fieldname, rule, f"{self.prefix()}: {what}", severity)


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _as_text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    return str(v).strip()


def _from_excel_serial(v: float) -> dt.datetime:
    if not 1 <= v < 2958466:
        raise ValueError("out of Excel's date range")
    return _EXCEL_EPOCH + dt.timedelta(days=float(v))


_TIME_LOOSE = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm)$", re.I)


def coerce_time(v: Any, fmt: str | None) -> dt.time:
    if isinstance(v, dt.time):
        return v
    if isinstance(v, dt.datetime):
        return v.time()
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if 0 <= v < 1:  # Excel stores a time as a fraction of a day
            secs = round(v * 86400)
            return dt.time(secs // 3600, (secs % 3600) // 60, secs % 60)
        v = f"{int(v):04d}" if float(v).is_integer() and 0 <= v <= 2359 else str(v)
    s = str(v).strip()
    if fmt:
        return dt.datetime.strptime(s, fmt).time()
    m = _TIME_LOOSE.match(s)
    if m:  # "9am", "5.30pm"
        h, mins = int(m.group(1)), int(m.group(2) or 0)
        if not 1 <= h <= 12:
            raise ValueError(s)
        return dt.time(h % 12 + (12 if m.group(3).lower() == "pm" else 0), mins)
    if re.fullmatch(r"\d{4}", s):  # "0930"
        return dt.time(int(s[:2]), int(s[2:]))
    return parse_time(s)


def coerce_date(v: Any, fmt: str | None) -> dt.date:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return _from_excel_serial(v).date()
    s = str(v).strip()
    if fmt:
        return dt.datetime.strptime(s, fmt).date()
    if re.fullmatch(r"\d{5}(\.\d+)?", s):
        return _from_excel_serial(float(s)).date()
    return parse_date(s)


def coerce_timestamp(v: Any, fmt: str | None) -> dt.datetime:
    if isinstance(v, dt.datetime):
        return v
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return _from_excel_serial(v)
    s = str(v).strip()
    if fmt:
        return dt.datetime.strptime(s, fmt)
    try:
        return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        d = parse_date(s)
        return dt.datetime(d.year, d.month, d.day)


_TYPE_WORDS = {"DATE": "date", "TIME": "time (e.g. 09:30)", "TIMESTAMP": "date and time", "DOUBLE": "number"}


def parse_days(text: str) -> tuple[list[str], list[str]]:
    """'Mon, Wed', 'Monday to Friday', 'Mon-Fri' -> (['MO', 'WE'], unknown words)."""
    days: list[str] = []
    unknown: list[str] = []
    for part in re.split(r"[,;/&+]|\band\b", text, flags=re.I):
        part = part.strip().strip(".")
        if not part:
            continue
        rng = re.split(r"\s*(?:-|–|\bto\b|\buntil\b)\s*", part, flags=re.I)
        codes = [DAY_CODES.get(p.strip().strip(".").casefold()) for p in rng]
        if any(c is None for c in codes):
            if part.upper() in BYDAYS:
                days.append(part.upper())
            else:
                unknown.append(part)
            continue
        if len(codes) == 2:
            i, j = BYDAYS.index(codes[0]), BYDAYS.index(codes[1])
            span = BYDAYS[i:j + 1] if i <= j else BYDAYS[i:] + BYDAYS[:j + 1]
            days.extend(span)
        else:
            days.extend(codes)
    return list(dict.fromkeys(days)), unknown


def normalise_phone(v: Any) -> str:
    s = _as_text(v)
    # A number typed into Excel loses its leading zero: 1132224444 was 0113 222 4444.
    return "0" + s if re.fullmatch(r"[1-9]\d{9}", s) else s


class RowMapper:
    """Applies a bound mapping to rows; one per normalise call."""

    def __init__(self, bound: BoundMapping, rows: StagingRows):
        self.b = bound
        self.m = bound.mapping
        self.rows = rows
        self.types = {t: column_types(t) for t in MAPPABLE}
        self.read_columns = set(self.b.actual.values())

    # one field's value(s) in a row: (values, column for messages)
    def field_values(self, spec: FieldSpec, row: dict, probs: RowProblems) -> list[Any]:
        if spec.constant is not None or not spec.columns:
            raw_vals = [spec.constant]
            column = None
        else:
            cells = [(c, row.get(self.b.col(c))) for c in spec.columns]
            cells = [(c, v) for c, v in cells if not _blank(v)]
            if not cells:
                return []
            column = cells[0][0] if len(cells) == 1 else " + ".join(c for c, _ in cells)
            if len(cells) == 1:
                raw_vals = [cells[0][1]]
            else:
                raw_vals = [(spec.sep or " ").join(_as_text(v) for _, v in cells)]
        if spec.split and isinstance(raw_vals[0], str):
            raw_vals = [p.strip() for p in re.split(spec.split if len(spec.split) > 1 else re.escape(spec.split),
                                                    raw_vals[0]) if p.strip()]
        out = []
        for v in raw_vals:
            if spec.values is not None and _norm(_as_text(v)) in spec.values:
                v = spec.values[_norm(_as_text(v))]
            v = self.convert(spec, v, column, probs)
            if not _blank(v):
                out.append(v)
        return out

    def convert(self, spec: FieldSpec, v: Any, column: str | None, probs: RowProblems) -> Any:
        typ = self.types[spec.table].get(spec.column, "VARCHAR")
        try:
            if typ == "DATE":
                return coerce_date(v, spec.format)
            if typ == "TIME":
                return coerce_time(v, spec.format)
            if typ == "TIMESTAMP":
                return coerce_timestamp(v, spec.format)
            if typ == "DOUBLE":
                return parse_number(v)
        except (ValueError, TypeError, OverflowError):
            fmt = f" in the format {spec.format}" if spec.format else ""
            probs.cell(spec, column, "type", f"{_as_text(v)[:60]!r} is not a valid {_TYPE_WORDS[typ]}{fmt} for "
                                             f"{spec.field}; left empty")
            return None
        if spec.field == "schedule.byday":
            days, unknown = parse_days(_as_text(v))
            if unknown:
                probs.cell(spec, column, "value", f"{', '.join(repr(u) for u in unknown)} is not a day of the week "
                                                  f"for schedule.byday; ignored")
            return ",".join(days) or None
        if spec.table == "phone" and spec.column == "number":
            return normalise_phone(v)
        if spec.field == "address.postal_code":
            return re.sub(r"\s+", " ", _as_text(v)).upper()
        if spec.column in ("url", "website", "uri") and re.match(r"^www\.", _as_text(v), re.I):
            return "https://" + _as_text(v)
        return _as_text(v) if not isinstance(v, str) else v.strip()

    def values_of(self, specs: list[FieldSpec], row: dict, probs: RowProblems) -> dict[str, list[Any]]:
        vals: dict[str, list[Any]] = {}
        for spec in specs:
            got = self.field_values(spec, row, probs)
            if got and spec.field not in vals:
                vals[spec.field] = got
        return vals

    def normalise_row(self, record_id: str, row: dict, fetched_from: str) -> int:
        """Staging rows for one spreadsheet row; returns how many services it made."""
        probs = RowProblems(self.rows, record_id, fetched_from)
        shared = self.values_of(self.m.fields, row, probs)
        groups = [self.values_of(g, row, probs) for g in self.m.service_groups] or [{}]
        extras = {k: json_safe_value(v) for k, v in row.items() if k not in self.read_columns and not _blank(v)}
        org_id: str | None = None
        made = 0
        for n, group in enumerate(groups, start=1):
            vals = {**shared, **group}
            if self.m.service_groups and "service.name" not in group:
                continue  # this organisation offers fewer services than the sheet has room for
            rid = record_id if len(groups) == 1 else f"{record_id}/{n}"
            gprobs = probs if rid == record_id else RowProblems(self.rows, rid, fetched_from)
            missing = [f for f in self.m.required if f not in vals]
            if missing:
                cols = [c for s in [*self.m.fields, *(s for g in self.m.service_groups for s in g)]
                        if s.field in missing for c in s.columns]
                what = ", ".join(f"{f} (column {', '.join(repr(c) for c in cols)})" if cols else f for f in missing)
                gprobs.row("service", missing[0].split(".", 1)[1], "required", f"{what} is empty; the row was not loaded")
                continue
            if made == 0:  # only rows that load bring their organisation in
                org_id = self.add_organization(shared, record_id)
            self.add_service(rid, vals, org_id, extras)
            made += 1
        return made

    def add_organization(self, vals: dict[str, list[Any]], record_id: str) -> str | None:
        org = {k.split(".", 1)[1]: v[0] for k, v in vals.items() if k.startswith("organization.")}
        if not org.get("name") and not org.get("id"):
            return None
        org_rid = str(org.pop("id", None) or "org-" + _norm(org["name"]))
        org_id = self.rows.add("organization", org_rid, org, root_record_id=record_id)
        ident = {k.split(".", 1)[1]: v for k, v in vals.items() if k.startswith("organization_identifier.")}
        for value in ident.get("identifier", []):
            self.rows.add("organization_identifier", f"{org_rid}#identifier/{value}", {
                "organization_id": org_id, "identifier": value,
                "identifier_type": (ident.get("identifier_type") or [None])[0],
                "identifier_scheme": (ident.get("identifier_scheme") or [None])[0],
            }, root_record_id=record_id)
        return org_id

    def add_service(self, rid: str, vals: dict[str, list[Any]], org_id: str | None, extras: dict) -> None:
        by_table: dict[str, dict[str, list[Any]]] = {}
        for k, v in vals.items():
            t, c = k.split(".", 1)
            by_table.setdefault(t, {})[c] = v

        def table(t: str) -> dict[str, list[Any]]:
            return by_table.get(t, {})

        svc = {k: v[0] for k, v in table("service").items()}
        svc.setdefault("status", "active")
        svc["status"] = str(svc["status"]).lower()
        service_id = self.rows.add("service", rid, {**svc, "organization_id": org_id}, extras=extras or None)
        self.add_location(rid, service_id, table("location"), table("address"), table("accessibility"))
        sched = {k: ",".join(v) if k == "byday" else v[0] for k, v in table("schedule").items()}
        if sched:
            if sched.get("byday") and not sched.get("freq"):
                sched["freq"] = "WEEKLY"
            self.rows.add("schedule", f"{rid}#schedule", {"service_id": service_id, **sched}, root_record_id=rid)
        for t in ("phone", "service_area", "language", "funding", "contact", "cost_option"):
            if t in by_table:
                self.add_children(t, rid, service_id, by_table[t])
        self.add_terms(rid, service_id, table("taxonomy_term"))

    def add_location(self, rid: str, service_id: str, loc: dict, addr: dict, acc: dict) -> None:
        if not (loc or addr):
            return
        loc1 = {k: v[0] for k, v in loc.items()}
        loc_rid = str(loc1.pop("id", None) or (f"loc-{loc1['external_identifier']}" if loc1.get("external_identifier")
                                               else f"{rid}#location"))
        loc1.setdefault("location_type", "physical")
        loc_id = self.rows.add("location", loc_rid, loc1, root_record_id=rid)
        if addr:
            a = {k: v[0] for k, v in addr.items()}
            a.setdefault("address_type", "physical")
            a.setdefault("country", "GB")
            self.rows.add("address", f"{loc_rid}#address", {"location_id": loc_id, **a}, root_record_id=rid)
        if acc:
            self.rows.add("accessibility", f"{loc_rid}#accessibility",
                          {"location_id": loc_id, **{k: v[0] for k, v in acc.items()}}, root_record_id=rid)
        self.rows.add("service_at_location", f"{rid}#sal/{loc_rid}", {"service_id": service_id, "location_id": loc_id},
                      root_record_id=rid)

    def add_children(self, t: str, rid: str, service_id: str, vals: dict[str, list[Any]]) -> None:
        if not vals:
            return
        lead = MULTI_ROW_FIELD.get(t)
        many = vals.get(lead, [None]) if lead else [None]
        for n, value in enumerate(many):
            row = {k: v[0] for k, v in vals.items() if k != lead}
            if lead and value is not None:
                row[lead] = value
            self.rows.add(t, f"{rid}#{t}/{n}", {"service_id": service_id, **row}, root_record_id=rid)

    def add_terms(self, rid: str, service_id: str, vals: dict[str, list[Any]]) -> None:
        names = vals.get("name", [])
        if not names:
            return
        local_tax = self.rows.add("taxonomy", f"taxonomy-{self.m.taxonomy}", {"name": self.m.taxonomy}, root_record_id=rid)
        for name in names:
            term = self.rows.add("taxonomy_term", f"term-{self.m.taxonomy}-{_norm(name)}", {
                "name": name, "taxonomy": self.m.taxonomy, "taxonomy_id": local_tax,
            }, root_record_id=rid)
            self.link(rid, service_id, term)
            lga = self.m.categories.get(_norm(name))
            if lga is not None:
                self.link(rid, service_id, self.lga_term(rid, lga))

    def lga_term(self, rid: str, lga: Any) -> str:
        tax = self.rows.add("taxonomy", "taxonomy-lga-service-types", dict(LGA_TAXONOMY), root_record_id=rid)
        text = _as_text(lga)
        is_id = text.isdigit()
        return self.rows.add("taxonomy_term", f"term-lga-{_norm(text)}", {
            "name": None if is_id else text, "term": text if is_id else None,
            "term_uri": f"http://id.esd.org.uk/service/{text}" if is_id else None,
            "taxonomy": LGA_TAXONOMY["name"], "taxonomy_id": tax,
        } | ({"name": f"LGA service type {text}"} if is_id else {}), root_record_id=rid)

    def link(self, rid: str, service_id: str, term_id: str) -> None:
        self.rows.add("attribute", f"{rid}#attribute/{term_id}", {
            "link_id": service_id, "taxonomy_term_id": term_id, "link_entity": "service",
        }, root_record_id=rid)


def json_safe_value(v: Any) -> Any:
    """A cell's value as JSON can hold it (dates and times as ISO text)."""
    if isinstance(v, (dt.date, dt.time, dt.datetime)):
        return v.isoformat()
    return v
