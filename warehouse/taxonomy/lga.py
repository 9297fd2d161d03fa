"""The LGA (esd) service types and the esd mapping: the official files loaded and checked, stored in
the reference store, read back.
"""
from __future__ import annotations

import csv
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import duckdb

DATA_DIR = Path(__file__).parent.parent / "data"


DEFAULT_MAPPING = DATA_DIR / "esd_mapping.csv"


DEFAULT_KEYWORDS = DATA_DIR / "esd_keywords.csv"


ESD_URI = "http://id.esd.org.uk/service/{}"


TAXONOMY_ID = "9a4c1f0e-5a43-5d2b-9b53-0e5f8e0f0001"  # our esd taxonomy row in catalogue.taxonomy


NS = uuid.UUID("5d3f4c2a-1b0e-4f6a-8c7d-2e9b1a0c3f55")


METHODS = ("source", "mapped", "inferred")


SERVICE_TYPE_DDL = """
CREATE TABLE IF NOT EXISTS catalogue.service_type (
    service_id  VARCHAR NOT NULL,   -- golden service id
    esd_id      VARCHAR NOT NULL,   -- LGA service type identifier (http://id.esd.org.uk/service/<esd_id>)
    label       VARCHAR,
    method      VARCHAR NOT NULL,   -- source | mapped | inferred
    confidence  DOUBLE,             -- 1 for source/mapped; the classifier's confidence for inferred
    rank        INTEGER,            -- 1 = best type for this service
    keywords    VARCHAR[]           -- why: the matched keywords, or the source term / mapped code
)
"""


LGA_LIST_DDL = """
CREATE TABLE IF NOT EXISTS ref.lga_service_type (
    esd_id VARCHAR PRIMARY KEY, label VARCHAR NOT NULL, description VARCHAR, uri VARCHAR,
    former_labels VARCHAR[]          -- earlier names of the type, from the list's History notes
)
"""


MAPPING_DDL = """
CREATE TABLE IF NOT EXISTS ref.esd_mapping (
    scheme VARCHAR NOT NULL, code VARCHAR, label VARCHAR, esd_id VARCHAR NOT NULL, esd_label VARCHAR, note VARCHAR
)
"""


class TaxonomyFileError(ValueError):
    """A list or mapping file the user supplied is not usable; one line naming file and row."""


@dataclass(frozen=True)
class ServiceType:
    esd_id: str
    label: str
    description: str = ""
    former_labels: tuple[str, ...] = ()     # names the list gave the type before (its History notes)

    @property
    def uri(self) -> str:
        return ESD_URI.format(self.esd_id)


_ID_COLUMNS = ("identifier", "id", "uri", "esd_id")


_LABEL_COLUMNS = ("label", "name", "title")


def _clean_literal(text: str | None) -> str:
    # The 2015 CSV carries RDF literal artefacts such as "Text"@en.
    text = (text or "").strip()
    text = re.sub(r'^"?(.*?)"?@en$', r"\1", text, flags=re.S)
    return re.sub(r"\s+", " ", text).strip()


def esd_id_of(value: str | None) -> str | None:
    """The numeric esd service id in a URI, CURIE or bare number, or None."""
    if value is None:
        return None
    text = str(value).strip()
    m = re.search(r"(?:id\.esd\.org\.uk/service/|esdServiceTypes?:|^)(\d+)/?$", text)
    return m.group(1) if m else None


def load_lga_services_csv(path: Path) -> list[ServiceType]:
    """Read the LGA service list in the esd CSV format (header row, quoted multi-line fields)."""
    path = Path(path)
    if not path.exists():
        raise TaxonomyFileError(f"{path}: file not found; download the LGA service list CSV and pass its path")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        id_col = next((header.index(c) for c in _ID_COLUMNS if c in header), None)
        label_col = next((header.index(c) for c in _LABEL_COLUMNS if c in header), None)
        if id_col is None or label_col is None:
            raise TaxonomyFileError(f"{path}: row 1: expected the esd CSV header with 'Identifier' and 'Label' columns, "
                                    f"found {','.join(h for h in header if h)}")
        desc_col = header.index("description") if "description" in header else None
        history_col = header.index("history notes") if "history notes" in header else None
        out: dict[str, ServiceType] = {}
        for row_no, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            raw_id = row[id_col] if id_col < len(row) else ""
            esd_id = esd_id_of(raw_id)
            label = _clean_literal(row[label_col] if label_col < len(row) else "")
            if esd_id is None or not label:
                raise TaxonomyFileError(f"{path}: row {row_no}: field 'Identifier'/'Label': {raw_id!r} is not an esd "
                                        "service id with a label; fix or delete the row")
            desc = _clean_literal(row[desc_col]) if desc_col is not None and desc_col < len(row) else ""
            history = row[history_col] if history_col is not None and history_col < len(row) else ""
            out[esd_id] = ServiceType(esd_id, label, desc, former_labels(history, label))
    if not out:
        raise TaxonomyFileError(f"{path}: no service types found; is this the LGA service list CSV?")
    return list(out.values())


# "Term name changed from 'Adopting' to 'Adoption' ... to 'Social services - adoptive homes' in version 3.00."
_FORMER_NAME = re.compile(r"(?:from|to) '([^'\n]{2,120}?)'")


def former_labels(history_notes: str | None, label: str) -> tuple[str, ...]:
    """The earlier names of a type, as its esd History notes record them: the list's own synonyms
    (measured on the LGA-list proxy, development half: top-1 0.566 -> 0.589, top-3 0.747 -> 0.771)."""
    seen = {_norm_label(label)}
    out = []
    for name in _FORMER_NAME.findall(history_notes or ""):
        if "version" in name.lower() or _norm_label(name) in seen:      # an unbalanced quote, or a repeat
            continue
        seen.add(_norm_label(name))
        out.append(name.strip())
    return tuple(out)


def store_lga_services(con: duckdb.DuckDBPyConnection, types: list[ServiceType]) -> int:
    con.execute("CREATE SCHEMA IF NOT EXISTS ref")
    con.execute(LGA_LIST_DDL)
    # A reference store made before former labels were kept gets the column.
    con.execute("ALTER TABLE ref.lga_service_type ADD COLUMN IF NOT EXISTS former_labels VARCHAR[]")
    con.execute("DELETE FROM ref.lga_service_type")
    con.executemany("INSERT INTO ref.lga_service_type (esd_id, label, description, uri, former_labels) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(t.esd_id, t.label, t.description, t.uri, list(t.former_labels)) for t in types])
    return len(types)


def read_lga_services(con: duckdb.DuckDBPyConnection) -> list[ServiceType]:
    if not table_exists(con, "ref", "lga_service_type"):
        return []
    has_former = con.execute("SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() AND "
                             "schema_name = 'ref' AND table_name = 'lga_service_type' AND column_name = 'former_labels'"
                             ).fetchone()[0]
    former = "former_labels" if has_former else "NULL"
    return [ServiceType(i, l, d or "", tuple(f or ())) for i, l, d, f in con.execute(
        f"SELECT esd_id, label, description, {former} FROM ref.lga_service_type ORDER BY esd_id").fetchall()]


@dataclass(frozen=True)
class MappingRow:
    scheme: str
    code: str
    label: str
    esd_id: str
    esd_label: str
    note: str = ""


def load_mapping_csv(path: Path) -> list[MappingRow]:
    path = Path(path)
    if not path.exists():
        raise TaxonomyFileError(f"{path}: mapping file not found")
    rows = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        need = {"scheme", "code", "label", "esd_id"}
        if not need <= set(reader.fieldnames or []):
            raise TaxonomyFileError(f"{path}: row 1: the mapping needs the columns {', '.join(sorted(need))}")
        for row_no, r in enumerate(reader, start=2):
            esd_id = esd_id_of(r.get("esd_id"))
            if esd_id is None:
                raise TaxonomyFileError(f"{path}: row {row_no}: field 'esd_id': {r.get('esd_id')!r} is not an esd service id")
            if not (r.get("code") or r.get("label")):
                raise TaxonomyFileError(f"{path}: row {row_no}: give a 'code' or a 'label' to map")
            rows.append(MappingRow((r["scheme"] or "local").strip().lower(), (r.get("code") or "").strip(),
                                   (r.get("label") or "").strip(), esd_id, (r.get("esd_label") or "").strip(),
                                   (r.get("note") or "").strip()))
    return rows


def store_mapping(con: duckdb.DuckDBPyConnection, rows: list[MappingRow]) -> int:
    con.execute("CREATE SCHEMA IF NOT EXISTS ref")
    con.execute(MAPPING_DDL)
    con.execute("DELETE FROM ref.esd_mapping")
    con.executemany("INSERT INTO ref.esd_mapping VALUES (?, ?, ?, ?, ?, ?)",
                    [(r.scheme, r.code, r.label, r.esd_id, r.esd_label, r.note) for r in rows])
    return len(rows)


def read_mapping(con: duckdb.DuckDBPyConnection) -> list[MappingRow]:
    if table_exists(con, "ref", "esd_mapping"):
        rows = [MappingRow(*r) for r in con.execute(
            "SELECT scheme, code, label, esd_id, esd_label, note FROM ref.esd_mapping").fetchall()]
        if rows:
            return rows
    return load_mapping_csv(DEFAULT_MAPPING)


class Mapper:
    """Looks up a term (OpenActive concept or local category) in the mapping table."""

    def __init__(self, rows: Iterable[MappingRow]):
        self.by_code: dict[str, list[MappingRow]] = defaultdict(list)
        self.by_label: dict[str, list[MappingRow]] = defaultdict(list)
        for r in rows:
            if r.code:
                self.by_code[_code_key(r.code)].append(r)
            if r.label:
                self.by_label[_norm_label(r.label)].append(r)

    def lookup(self, codes: str | tuple | None, label: str | None) -> list[MappingRow]:
        for code in (codes if isinstance(codes, tuple) else (codes,)):
            if code and _code_key(code) in self.by_code:
                return self.by_code[_code_key(code)]
        if label and _norm_label(label) in self.by_label:
            return self.by_label[_norm_label(label)]
        return []

    def lookup_concept(self, concept_id: str | None, label: str | None,
                       broader: Iterable[tuple[str | None, str | None]] = ()) -> tuple[list[MappingRow], str | None]:
        """The rows for a concept, else for its nearest broader concept that has rows.

        The table maps a few hundred broad activities; a publisher's narrower one ("Body Pump")
        takes the type of the nearest broader one that is mapped ("Group Exercise"). Returns the
        rows and the label of the concept that matched (None when nothing did).
        """
        for uri, name in ((concept_id, label), *broader):
            rows = self.lookup((uri,), name)
            if rows:
                return rows, name or uri
        return [], None


def _code_key(code: str) -> str:
    # OpenActive concepts appear as full URIs or bare UUIDs: compare on the fragment.
    return code.strip().rsplit("#", 1)[-1].rsplit("/", 1)[-1].lower()


def _norm_label(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", label.lower()).strip()


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                            "AND schema_name = ? AND table_name = ?", [schema, table]).fetchone()[0])
