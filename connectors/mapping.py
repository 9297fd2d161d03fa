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

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from connectors.config import ConfigError
from connectors.presets import available_presets, preset_path
from warehouse.model import ORUK_TABLES

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
        by_norm = {header_key(c): c for c in columns}
        missing = [(c, f) for c, f in self.mapped_columns().items() if header_key(c) not in by_norm]
        if missing:
            listed = "; ".join(f"'{c}' (for {f}{_near(c, columns)})" for c, f in missing)
            raise MappingError(f"{where}: the mapping {self.path} names column(s) this file does not have: "
                               f"{listed}. Fix the mapping or the file's header")
        return BoundMapping(self, {c: by_norm[header_key(c)] for c in self.mapped_columns()}, where)


def header_key(name: str) -> str:
    return re.sub(r"\s+", " ", str(name)).strip().casefold()


def _near(column: str, columns: list[str]) -> str:
    from rapidfuzz import fuzz, process, utils

    best = process.extractOne(column, columns, scorer=fuzz.WRatio, processor=utils.default_process)
    return f"; did you mean '{best[0]}'?" if best and best[1] >= 80 else ""


# -- loading -----------------------------------------------------------------------------------
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
    m = Mapping(path, fields, id_column, tuple(key), tuple(required), {header_key(k): v for k, v in categories.items()},
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
    return {header_key(k): v for k, v in vm.items()} if vm else None


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
        parts = [header_key(_id_text(row.get(self.col(c)))) if row.get(self.col(c)) is not None else ""
                 for c in m.key_columns]
        if not any(parts):
            return None
        return "k-" + hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:20]

    def missing_id_reason(self) -> str:
        m = self.mapping
        if m.id_column:
            return f"its id column '{m.id_column}' is empty; give every row an id"
        return f"its key column(s) {', '.join(repr(c) for c in m.key_columns)} are all empty"
