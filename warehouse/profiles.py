"""Publishing profiles: which slice of the catalogue an end-point publishes, and loading it.

A profiles file is YAML::

    profiles:
      west-yorkshire:                  # the name given to --profile
        description: the two counties' hub
        areas: [West Yorkshire, North Yorkshire, LS, E08000035]
        service_types: [Food banks, "http://id.esd.org.uk/service/1002"]
        max_assurance_age: 6 months    # or "183 days", "26 weeks", or a number of days
        status: [active]               # allowed service statuses
        assured_only: true             # leave out services with no assured_date
        sources: [leeds-council]       # golden services that include a record of these sources
        exclude_sources: [old-import]  # ... and none of these

Every filter is optional; a profile with none publishes every golden record. An area is matched
as a place name (address city, region or county, or a service area's name), a postcode area or
district (``LS``, ``LS2``), or an ONS code (``E08000035``) through the reference postcode table.

``load_published(db, profile)`` copies the profile's golden services and everything reachable
from them out of the published DuckDB file into an in-memory database, with free text passed
through the HTML sanitiser and personal data held back. ``serve`` and ``export`` read only that
copy, so the nightly file can be replaced under them at any time.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import yaml

from warehouse.model import ORUK_TABLES, oruk_columns
from warehouse.oruk_json import cleaned_select, register_cleaning_functions


class ProfileError(ValueError):
    """A mistake in a profiles file or a --profile name; one line, fit to print as is."""


PROFILE_FIELDS = {"description", "areas", "service_types", "max_assurance_age", "status",
                  "assured_only", "sources", "exclude_sources"}
AGE_RE = re.compile(r"^\s*(\d+)\s*(day|days|d|week|weeks|w|month|months|m|year|years|y)?\s*$", re.I)
AGE_DAYS = {"d": 1, "day": 1, "days": 1, "w": 7, "week": 7, "weeks": 7, "m": 30.44, "month": 30.44,
            "months": 30.44, "y": 365.25, "year": 365.25, "years": 365.25}
ONS_CODE_RE = re.compile(r"^[EWSN]\d{8}$")
POSTCODE_AREA_RE = re.compile(r"^[A-Z]{1,2}$")
POSTCODE_DISTRICT_RE = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]?$")
STATUSES = ("active", "inactive", "defunct", "temporarily closed")


@dataclass(frozen=True)
class Profile:
    name: str = "all"
    description: str = "every golden record"
    areas: tuple[str, ...] = ()
    service_types: tuple[str, ...] = ()
    max_assurance_age_days: int | None = None
    status: tuple[str, ...] = ()
    assured_only: bool = False
    sources: tuple[str, ...] = ()
    exclude_sources: tuple[str, ...] = ()
    filters: dict[str, Any] = field(default_factory=dict, compare=False)


DEFAULT_PROFILE = Profile()


def _strings(value: Any, where: str, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, int)):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        raise ProfileError(f"{where}: field '{name}' must be a list of strings")
    return tuple(str(v).strip() for v in value if str(v).strip())


def parse_age(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ProfileError(f"{where}: field 'max_assurance_age': {value!r} is not an age; write e.g. 6 months, 183 days or 183")
    if isinstance(value, (int, float)):
        return int(value)
    m = AGE_RE.match(str(value))
    if not m:
        raise ProfileError(f"{where}: field 'max_assurance_age': {value!r} is not an age; write e.g. 6 months, 183 days or 183")
    return int(round(int(m.group(1)) * AGE_DAYS[(m.group(2) or "days").lower()]))


def parse_profile(name: str, spec: Any, where: str) -> Profile:
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise ProfileError(f"{where}: profile '{name}' must be a mapping of filters")
    unknown = set(spec) - PROFILE_FIELDS
    if unknown:
        raise ProfileError(f"{where}: profile '{name}': unknown field '{sorted(unknown)[0]}'; "
                           f"use {', '.join(sorted(PROFILE_FIELDS))}")
    status = _strings(spec.get("status"), f"{where}: profile '{name}'", "status")
    bad = [s for s in status if s not in STATUSES]
    if bad:
        raise ProfileError(f"{where}: profile '{name}': field 'status': '{bad[0]}' is not a service status; "
                           f"use {', '.join(STATUSES)}")
    return Profile(
        name=name,
        description=str(spec.get("description") or ""),
        areas=_strings(spec.get("areas"), f"{where}: profile '{name}'", "areas"),
        service_types=_strings(spec.get("service_types"), f"{where}: profile '{name}'", "service_types"),
        max_assurance_age_days=parse_age(spec.get("max_assurance_age"), f"{where}: profile '{name}'"),
        status=status,
        assured_only=bool(spec.get("assured_only", False)),
        sources=_strings(spec.get("sources"), f"{where}: profile '{name}'", "sources"),
        exclude_sources=_strings(spec.get("exclude_sources"), f"{where}: profile '{name}'", "exclude_sources"),
        filters={k: v for k, v in spec.items() if k != "description"},
    )


def load_profiles(path: str | Path) -> dict[str, Profile]:
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"{path}: profiles file not found; check the --profiles path") from None
    except UnicodeDecodeError:
        raise ProfileError(f"{path}: not UTF-8 text; save the profiles file as UTF-8") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot be read ({exc.strerror}); check the --profiles path") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ProfileError(f"{path}: not valid YAML{at}; fix the file") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("profiles"), dict):
        raise ProfileError(f"{path}: expected a top-level 'profiles:' mapping of name -> filters")
    return {str(name): parse_profile(str(name), spec, str(path)) for name, spec in doc["profiles"].items()}


def resolve_profile(name: str | None, profiles_file: str | Path | None) -> Profile:
    """The profile named on the command line (no name: every golden record)."""
    if not name:
        return DEFAULT_PROFILE
    if not profiles_file:
        raise ProfileError(f"--profile {name}: give the profiles YAML file with --profiles FILE")
    profiles = load_profiles(profiles_file)
    if name not in profiles:
        raise ProfileError(f"{profiles_file}: no profile named '{name}'; known: {', '.join(sorted(profiles)) or 'none'}")
    return profiles[name]


# -- selecting the profile's services -----------------------------------------------------------
def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _table_columns(con: duckdb.DuckDBPyConnection, db: str, schema: str) -> dict[str, list[str]]:
    rows = con.execute("SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = ? "
                       "AND schema_name = ? ORDER BY table_name, column_index", [db, schema]).fetchall()
    out: dict[str, list[str]] = {}
    for t, c in rows:
        out.setdefault(t, []).append(c)
    return out


POSTCODE_COLUMNS = ("postcode", "pcds", "pcd", "pcd7", "pcd8", "postal_code")
LAT_COLUMNS = ("latitude", "lat")
LONG_COLUMNS = ("longitude", "long", "lon", "lng")
# Columns of a postcode table that hold ONS area codes (placecat reference load: ref.postcode).
AREA_CODE_COLUMNS = ("lad", "ward", "oa11", "lsoa11", "msoa11", "utla", "ltla", "county", "rgn")


def postcode_tables(con: duckdb.DuckDBPyConnection, db: str) -> list[dict]:
    """Reference tables keyed by postcode: their postcode column, area-code columns, lat/long."""
    found = []
    for table, cols in _table_columns(con, db, "ref").items():
        lower = {c.lower(): c for c in cols}
        pc = next((lower[c] for c in POSTCODE_COLUMNS if c in lower), None)
        if not pc:
            continue
        lat = next((lower[c] for c in LAT_COLUMNS if c in lower), None)
        lon = next((lower[c] for c in LONG_COLUMNS if c in lower), None)
        codes = [c for c in cols if c != pc and (c.lower().endswith(("cd", "code")) or c.lower() in AREA_CODE_COLUMNS)]
        found.append({"table": table, "postcode": pc, "lat": lat, "long": lon, "codes": codes})
    return found


def _norm_pc(expr: str) -> str:
    return f"upper(replace({expr}, ' ', ''))"


def _area_condition(area: str, con, db: str, where: str) -> str:
    addr = f"""EXISTS (SELECT 1 FROM {db}.catalogue.service_at_location sal
                JOIN {db}.catalogue.address ad ON ad.location_id = sal.location_id
                WHERE sal.service_id = s.id AND ({{cond}}))"""
    key = area.strip()
    up = key.upper().replace(" ", "")
    if ONS_CODE_RE.match(up):
        tables = [t for t in postcode_tables(con, db) if t["codes"]]
        if not tables:
            raise ProfileError(f"{where}: area '{area}' is an ONS code, but the catalogue has no reference "
                               f"postcode table to place addresses in it; run `placecat reference load` or name the place")
        ors = " OR ".join(
            f"EXISTS (SELECT 1 FROM {db}.ref.{t['table']} r WHERE {_norm_pc('r.' + t['postcode'])} = "
            f"{_norm_pc('ad.postal_code')} AND ({' OR '.join(f'r.{c} = {_sql_list((up,))}' for c in t['codes'])}))"
            for t in tables)
        return addr.format(cond=ors)
    if POSTCODE_AREA_RE.match(up):
        return addr.format(cond=f"regexp_matches({_norm_pc('ad.postal_code')}, '^{up}[0-9]')")
    if POSTCODE_DISTRICT_RE.match(up) and any(ch.isdigit() for ch in up):
        return addr.format(cond=f"{_norm_pc('ad.postal_code')}[:-4] = '{up}'")
    name = _sql_list((key.lower(),))
    return ("(" + addr.format(cond=f"lower(trim(ad.city)) = {name} OR lower(trim(ad.region)) = {name} "
                                  f"OR lower(trim(ad.state_province)) = {name}")
            + f" OR EXISTS (SELECT 1 FROM {db}.catalogue.service_area sa WHERE sa.service_id = s.id "
              f"AND (lower(trim(sa.name)) = {name} OR lower(trim(sa.service_area)) = {name})))")


def selection_sql(con: duckdb.DuckDBPyConnection, profile: Profile, db: str = "src",
                  today: dt.date | None = None) -> str:
    """SQL selecting the ids of the profile's golden services from database ``db``."""
    where = f"profile '{profile.name}'"
    conds = ["TRUE"]
    if profile.status:
        conds.append(f"s.status IN ({_sql_list(profile.status)})")
    if profile.assured_only:
        conds.append("s.assured_date IS NOT NULL")
    if profile.max_assurance_age_days is not None:
        since = (today or dt.date.today()) - dt.timedelta(days=profile.max_assurance_age_days)
        conds.append(f"s.assured_date >= DATE '{since.isoformat()}'")
    if profile.sources:
        conds.append(f"EXISTS (SELECT 1 FROM {db}.catalogue.service_source ss WHERE ss.service_id = s.id "
                     f"AND ss.source_id IN ({_sql_list(profile.sources)}))")
    if profile.exclude_sources:
        conds.append(f"NOT EXISTS (SELECT 1 FROM {db}.catalogue.service_source ss WHERE ss.service_id = s.id "
                     f"AND ss.source_id IN ({_sql_list(profile.exclude_sources)}))")
    if profile.service_types:
        lowered = _sql_list(tuple(v.lower() for v in profile.service_types))
        conds.append(f"""EXISTS (SELECT 1 FROM {db}.catalogue.attribute a
                         JOIN {db}.catalogue.taxonomy_term t ON t.id = a.taxonomy_term_id
                         WHERE a.link_id = s.id AND (t.id IN ({lowered}) OR lower(t.name) IN ({lowered})
                           OR lower(t.term_uri) IN ({lowered}) OR lower(t.term) IN ({lowered})))""")
    if profile.areas:
        conds.append("(" + " OR ".join(_area_condition(a, con, db, where) for a in profile.areas) + ")")
    return f"SELECT s.id FROM {db}.catalogue.service s WHERE " + " AND ".join(conds)


# -- loading the published copy -------------------------------------------------------------------
class CatalogueUnavailable(RuntimeError):
    """The catalogue file cannot be opened or is not a placecat catalogue; one line."""


# Child tables and how their rows reach a published service (SQL over src, with `ids` = chosen ids).
REACH = {
    "service": "id IN (SELECT id FROM ids)",
    "schedule": "service_id IN (SELECT id FROM ids) OR service_at_location_id IN "
                "(SELECT id FROM src.catalogue.service_at_location WHERE service_id IN (SELECT id FROM ids))",
    "service_area": "service_id IN (SELECT id FROM ids)",
    "language": "service_id IN (SELECT id FROM ids)",
    "funding": "service_id IN (SELECT id FROM ids)",
    "cost_option": "service_id IN (SELECT id FROM ids)",
    "contact": "service_id IN (SELECT id FROM ids)",
    "phone": "service_id IN (SELECT id FROM ids) OR contact_id IN "
             "(SELECT id FROM src.catalogue.contact WHERE service_id IN (SELECT id FROM ids))",
    "service_at_location": "service_id IN (SELECT id FROM ids)",
    "location": "id IN (SELECT location_id FROM src.catalogue.service_at_location WHERE service_id IN (SELECT id FROM ids))",
    "address": "location_id IN (SELECT location_id FROM src.catalogue.service_at_location WHERE service_id IN (SELECT id FROM ids))",
    "accessibility": "location_id IN (SELECT location_id FROM src.catalogue.service_at_location WHERE service_id IN (SELECT id FROM ids))",
    "organization": "id IN (SELECT organization_id FROM src.catalogue.service WHERE id IN (SELECT id FROM ids))",
    "organization_identifier": "organization_id IN (SELECT organization_id FROM src.catalogue.service WHERE id IN (SELECT id FROM ids))",
    "attribute": "TRUE",
    "taxonomy_term": "TRUE",
    "taxonomy": "TRUE",
}
LINK_TABLES = {
    "service_source": "service_id IN (SELECT id FROM ids)",
    # The trust register covers services, organisations and locations: keep the published ones'.
    "replaced_by": "replaced_by_id IN (SELECT id FROM ids) OR (entity = 'organization' AND replaced_by_id IN "
                   "(SELECT id FROM catalogue.organization)) OR (entity = 'location' AND replaced_by_id IN "
                   "(SELECT id FROM catalogue.location))",
    "field_provenance": "service_id IN (SELECT id FROM ids)",
}


def _exists(con, db: str, schema: str, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? "
                            "AND table_name = ?", [db, schema, table]).fetchall()[0][0])


def load_published(db_path: str | Path, profile: Profile = DEFAULT_PROFILE) -> duckdb.DuckDBPyConnection:
    """An in-memory database holding the profile's slice of the catalogue, cleaned for publishing.

    Schemas: ``catalogue.*`` (ORUK tables + service_source, replaced_by, field_provenance),
    ``publish.change``, ``ops.run``, ``ops.source``, the latest run's ``ops.source_status`` and ``ref.*``
    postcode tables, as in the file.
    """
    db_path = Path(db_path)
    if not db_path.exists():
        raise CatalogueUnavailable(f"{db_path}: catalogue file not found; run `placecat run` first or check --db")
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH '{str(db_path).replace(chr(39), chr(39) * 2)}' AS src (READ_ONLY)")
    except duckdb.Error as exc:
        con.close()
        raise CatalogueUnavailable(f"{db_path}: cannot open the catalogue ({str(exc).splitlines()[0]})") from None
    try:
        if not _exists(con, "src", "catalogue", "service"):
            raise CatalogueUnavailable(f"{db_path}: not a placecat catalogue (no catalogue.service table)")
        register_cleaning_functions(con)
        for schema in ("catalogue", "publish", "ops", "ref"):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute(f"CREATE TABLE ids AS {selection_sql(con, profile)}")
        for table in ORUK_TABLES:
            cols = oruk_columns(table)
            con.execute(f"CREATE TABLE catalogue.{table} AS SELECT {cleaned_select(table, cols)} "
                        f"FROM src.catalogue.{table} WHERE {REACH[table]}")
        # Attributes hang off any entity; keep those of published rows only.
        con.execute("""DELETE FROM catalogue.attribute WHERE link_id NOT IN (
                           SELECT id FROM catalogue.service UNION ALL SELECT id FROM catalogue.location
                           UNION ALL SELECT id FROM catalogue.organization UNION ALL SELECT id FROM catalogue.contact
                           UNION ALL SELECT id FROM catalogue.address UNION ALL SELECT id FROM catalogue.accessibility
                           UNION ALL SELECT id FROM catalogue.organization_identifier)""")
        for table, cond in LINK_TABLES.items():
            if _exists(con, "src", "catalogue", table):
                con.execute(f"CREATE TABLE catalogue.{table} AS SELECT * FROM src.catalogue.{table} WHERE {cond}")
        _copy_optional(con, "publish", "change",
                       "CREATE TABLE publish.change (run_id VARCHAR, service_id VARCHAR, change VARCHAR, "
                       "fields_changed VARCHAR[], modified BIGINT)")
        _copy_optional(con, "ops", "run", "CREATE TABLE ops.run (run_id VARCHAR, started_at TIMESTAMP, "
                       "finished_at TIMESTAMP, status VARCHAR, sources_file VARCHAR, summary JSON)")
        _copy_optional(con, "ops", "source", "CREATE TABLE ops.source (source_id VARCHAR, kind VARCHAR, "
                       "publisher VARCHAR, role VARCHAR, locator VARCHAR)")
        # Each source's status at the latest run only (stale, dropped, held sources are shown to hubs).
        if _exists(con, "src", "ops", "source_status"):
            con.execute("""CREATE TABLE ops.source_status AS SELECT * FROM src.ops.source_status WHERE run_id = (
                               SELECT max_by(run_id, started_at) FROM src.ops.run
                               WHERE run_id IN (SELECT run_id FROM src.ops.source_status))""")
        for column in ("licence", "attribution"):  # catalogues published before these existed
            con.execute(f"ALTER TABLE ops.source ADD COLUMN IF NOT EXISTS {column} VARCHAR")
        for t in postcode_tables(con, "src"):
            keep = [t["postcode"]] + [c for c in (t["lat"], t["long"]) if c] + t["codes"]
            con.execute(f"CREATE TABLE ref.{t['table']} AS SELECT {', '.join(keep)} FROM src.ref.{t['table']}")
    except CatalogueUnavailable:
        con.close()
        raise
    except duckdb.Error as exc:
        con.close()
        raise CatalogueUnavailable(f"{db_path}: cannot read the catalogue ({str(exc).splitlines()[0]})") from None
    finally:
        try:
            con.execute("DETACH src")
        except duckdb.Error:
            pass
    return con


def _copy_optional(con, schema: str, table: str, empty_ddl: str) -> None:
    if _exists(con, "src", schema, table):
        con.execute(f"CREATE TABLE {schema}.{table} AS SELECT * FROM src.{schema}.{table}")
    else:
        con.execute(empty_ddl)
