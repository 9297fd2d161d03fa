"""Record-level rules on staging, written as DuckDB SQL so they run in bulk.

Each rule selects the failing rows of one staging table and writes one ``quality.issue`` row
per failure: (run_id, source_id, record_id, table_name, field, rule, severity, message), where
``record_id`` is the *service* the row belongs to whenever that is known, so that quarantine and
flags work per service. ``blocking`` rules quarantine the record (see ``quality.quarantine``);
``warning`` rules leave it in the catalogue with a flag (``quality.record_flag``).

Why SQL and not Great Expectations per record: GX answers "how many rows fail" well, but
writing one issue per failing record through it means pulling every unexpected row back into
Python; the same predicate in DuckDB is one INSERT ... SELECT. GX then validates each stage as
a suite (``quality.expectations``) and its results drive the Dagster asset checks.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb

from warehouse import personal
from warehouse.model import ADDRESS_TYPES, BYDAYS, SCHEDULE_FREQS, SERVICE_STATUSES

LOCATION_TYPES = ("physical", "postal", "virtual")

# Patterns shared with the GX suites, so both layers agree on what "valid" means.
EMAIL_RE = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
URL_RE = r"^https?://[A-Za-z0-9.-]+\.[A-Za-z]{2,}(?::\d+)?(?:[/?#]\S*)?$"
# UK postcodes (the ONS format, allowing any spacing and case), plus the Girobank GIR 0AA.
POSTCODE_RE = r"^(?:[A-Za-z][A-HJ-Ya-hj-y]?[0-9][A-Za-z0-9]?\s*[0-9][ABD-HJLNP-UW-Zabd-hjlnp-uw-z]{2}|GIR\s*0AA)$"
# A UK phone number once spaces, dots, dashes and brackets are gone: 0 + 9-10 digits, or +44.
PHONE_DIGITS_RE = r"^(?:\+?44|0)[1-9][0-9]{8,9}$"
PHONE_STRIP_RE = r"[\s().\-]|(?:ext\.?|extension|x)\s*[0-9]+$"
BYDAY_ITEM_RE = r"^(?:[+-]?[1-5])?(?:MO|TU|WE|TH|FR|SA|SU)$"
# The UK's bounding box (with the Isles of Scilly, Shetland and Northern Ireland).
UK_LAT = (49.8, 60.95)
UK_LON = (-8.7, 1.8)
NEAR_CENTROID_KM = 5.0


@dataclass(frozen=True)
class Rule:
    name: str
    table: str
    field: str | None
    severity: str
    where: str          # SQL predicate over the staging table (alias t) that selects failing rows
    message: str        # SQL expression for the message
    # SQL for the record the issue is about: the owning service's source record id where known.
    record: str = "t.source_record_id"
    join: str = ""      # extra joins the predicate or record expression need
    needs: str | None = None  # a table that must exist for the rule to run (e.g. ref.postcode)


def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in(values) -> str:
    return "(" + ", ".join(_q(v) for v in values) + ")"


def _show(expr: str) -> str:
    """The value in a message, quoted and cut short."""
    return f"'\"' || left(CAST({expr} AS VARCHAR), 80) || '\"'"


def _show_contact(expr: str) -> str:
    """A phone number or e-mail address in a message, masked by ``warehouse.personal.mask`` (the
    one way a finding is shown): quality.issue is published, and a malformed contact may still be a
    person's (a mobile without its 0, "jo.bloggs at gmail"). The source record id beside the issue
    finds the full value for the data team."""
    return f"'\"' || pc_mask(trim(CAST({expr} AS VARCHAR))) || '\"'"


# Child rows belong to a service through service_id (or a location that a service is at).
SERVICE_OF = "LEFT JOIN staging.service p ON p.id = t.service_id"
SERVICE_RECORD = "coalesce(p.source_record_id, t.source_record_id)"
LOCATION_SERVICE = """LEFT JOIN (SELECT sal.location_id, min(s.source_record_id) AS service_record
                                 FROM staging.service_at_location sal JOIN staging.service s ON s.id = sal.service_id
                                 GROUP BY 1) p ON p.location_id = t.{fk}"""
LOCATION_RECORD = "coalesce(p.service_record, t.source_record_id)"


def _required(table: str, field: str, severity: str = "warning", join: str = "", record: str = "t.source_record_id") -> Rule:
    return Rule("required", table, field, severity, f"t.\"{field}\" IS NULL OR trim(CAST(t.\"{field}\" AS VARCHAR)) = ''",
                f"'{table}.{field} is required by ORUK v3 and is empty'", record=record, join=join)


def _format(table: str, field: str, rule: str, pattern: str, what: str, join: str = "", record: str = "t.source_record_id") -> Rule:
    shown = _show_contact("t." + field) if "email" in field else _show("t." + field)
    return Rule(rule, table, field, "warning",
                f"t.\"{field}\" IS NOT NULL AND trim(t.\"{field}\") <> '' AND NOT regexp_full_match(trim(t.\"{field}\"), {_q(pattern)})",
                f"'{table}.{field} ' || {shown} || ' is not {what}'", record=record, join=join)


STAGING_RULES: tuple[Rule, ...] = (
    # Required fields (ORUK v3 schema `required`). A service without a name cannot be listed: this
    # rule is the one place that holds it back (connectors stage such a record as it came).
    _required("service", "name", "blocking"),
    _required("service", "status"),
    _required("organization", "name"),
    _required("location", "location_type", join=LOCATION_SERVICE.format(fk="id"), record=LOCATION_RECORD),
    _required("address", "address_1", join=LOCATION_SERVICE.format(fk="location_id"), record=LOCATION_RECORD),
    _required("address", "postal_code", join=LOCATION_SERVICE.format(fk="location_id"), record=LOCATION_RECORD),
    _required("phone", "number", join=SERVICE_OF, record=SERVICE_RECORD),
    _required("taxonomy_term", "name"),
    # Ids: unique within a source, and UUIDs where ORUK v3 requires them.
    Rule("unique_id", "service", "id", "blocking",
         "(t.source_id, t.source_record_id) IN (SELECT (source_id, source_record_id) FROM staging.service "
         "GROUP BY source_id, source_record_id HAVING count(*) > 1)",
         "'service id ' || " + _show("t.source_record_id") + " || ' is used by more than one service in this source; ids must be unique'"),
    Rule("uuid", "service", "id", "blocking", "TRY_CAST(t.id AS UUID) IS NULL",
         "'service id ' || " + _show("t.id") + " || ' is not a UUID'"),
    Rule("uuid", "service", "id", "warning",
         "TRY_CAST(t.source_record_id AS UUID) IS NULL AND t.source_id IN (SELECT source_id FROM ops.source WHERE kind = 'oruk')",
         "'the source''s service id ' || " + _show("t.source_record_id") + " || ' is not a UUID as ORUK v3 requires'"),
    # Formats.
    _format("service", "email", "email_format", EMAIL_RE, "an email address"),
    _format("service", "assurer_email", "email_format", EMAIL_RE, "an email address"),
    _format("organization", "email", "email_format", EMAIL_RE, "an email address"),
    _format("contact", "email", "email_format", EMAIL_RE, "an email address", join=SERVICE_OF, record=SERVICE_RECORD),
    _format("service", "url", "url_format", URL_RE, "an http(s) URL"),
    _format("organization", "website", "url_format", URL_RE, "an http(s) URL"),
    _format("schedule", "schedule_link", "url_format", URL_RE, "an http(s) URL", join=SERVICE_OF, record=SERVICE_RECORD),
    _format("address", "postal_code", "postcode_format", POSTCODE_RE, "a UK postcode",
            join=LOCATION_SERVICE.format(fk="location_id"), record=LOCATION_RECORD),
    Rule("phone_format", "phone", "number", "warning",
         f"t.number IS NOT NULL AND trim(t.number) <> '' AND NOT regexp_full_match("
         f"regexp_replace(lower(trim(t.number)), {_q(PHONE_STRIP_RE)}, '', 'g'), {_q(PHONE_DIGITS_RE)})",
         "'phone number ' || " + _show_contact("t.number") + " || ' is not a UK phone number (0 or +44 and 10-11 digits)'",
         record=SERVICE_RECORD, join=SERVICE_OF),
    # Places: inside the UK, and near the postcode's centroid when reference data has it.
    Rule("in_uk", "location", "latitude", "warning",
         f"(t.latitude IS NULL) <> (t.longitude IS NULL) OR (t.latitude IS NOT NULL AND NOT ("
         f"t.latitude BETWEEN {UK_LAT[0]} AND {UK_LAT[1]} AND t.longitude BETWEEN {UK_LON[0]} AND {UK_LON[1]}))",
         "CASE WHEN (t.latitude IS NULL) <> (t.longitude IS NULL) THEN 'location has only one of latitude and longitude' "
         f"WHEN t.longitude BETWEEN {UK_LAT[0]} AND {UK_LAT[1]} AND t.latitude BETWEEN {UK_LON[0]} AND {UK_LON[1]} "
         "THEN 'latitude/longitude ' || t.latitude || ', ' || t.longitude || ' look swapped' "
         "ELSE 'latitude/longitude ' || t.latitude || ', ' || t.longitude || ' is outside the UK' END",
         record=LOCATION_RECORD, join=LOCATION_SERVICE.format(fk="id")),
    Rule("near_postcode", "location", "latitude", "warning",
         f"t.latitude IS NOT NULL AND c.lat IS NOT NULL AND haversine_km(t.latitude, t.longitude, c.lat, c.lon) > {NEAR_CENTROID_KM}",
         "'location is ' || round(haversine_km(t.latitude, t.longitude, c.lat, c.lon), 1) || ' km from the centroid of its postcode ' || c.postcode",
         record=LOCATION_RECORD,
         join=LOCATION_SERVICE.format(fk="id") + """
              JOIN (SELECT a.location_id, min(a.postal_code) AS postal_code FROM staging.address a GROUP BY 1) pa ON pa.location_id = t.id
              JOIN work.postcode_centroid c ON c.key = upper(replace(pa.postal_code, ' ', ''))""",
         needs="work.postcode_centroid"),
    # Enumerations.
    Rule("enum", "service", "status", "warning", f"t.status IS NOT NULL AND t.status NOT IN {_in(SERVICE_STATUSES)}",
         "'status ' || " + _show("t.status") + f" || ' is not one of {', '.join(SERVICE_STATUSES)}'"),
    Rule("enum", "address", "address_type", "warning", f"t.address_type IS NOT NULL AND t.address_type NOT IN {_in(ADDRESS_TYPES)}",
         "'address_type ' || " + _show("t.address_type") + f" || ' is not one of {', '.join(ADDRESS_TYPES)}'",
         record=LOCATION_RECORD, join=LOCATION_SERVICE.format(fk="location_id")),
    Rule("enum", "location", "location_type", "warning", f"t.location_type IS NOT NULL AND t.location_type NOT IN {_in(LOCATION_TYPES)}",
         "'location_type ' || " + _show("t.location_type") + f" || ' is not one of {', '.join(LOCATION_TYPES)}'",
         record=LOCATION_RECORD, join=LOCATION_SERVICE.format(fk="id")),
    Rule("enum", "schedule", "freq", "warning", f"t.freq IS NOT NULL AND upper(t.freq) NOT IN {_in(SCHEDULE_FREQS)}",
         "'freq ' || " + _show("t.freq") + f" || ' is not one of {', '.join(SCHEDULE_FREQS)}'",
         record=SERVICE_RECORD, join=SERVICE_OF),
    Rule("enum", "schedule", "byday", "warning",
         f"t.byday IS NOT NULL AND len(list_filter(string_split(upper(replace(t.byday, ' ', '')), ','), "
         f"lambda d: NOT regexp_full_match(d, {_q(BYDAY_ITEM_RE)}))) > 0",
         "'byday ' || " + _show("t.byday") + f" || ' is not a comma-separated list of {', '.join(BYDAYS)} (optionally with a week number such as 1MO)'",
         record=SERVICE_RECORD, join=SERVICE_OF),
    # Age ranges.
    Rule("age_range", "service", "minimum_age", "warning",
         "t.minimum_age < 0 OR t.maximum_age < 0 OR t.minimum_age > 120 OR t.maximum_age > 120 OR t.minimum_age > t.maximum_age",
         "'age range ' || coalesce(CAST(t.minimum_age AS VARCHAR), '?') || '-' || coalesce(CAST(t.maximum_age AS VARCHAR), '?') || ' is not within 0 <= min <= max <= 120'"),
    # Dates: they parsed (the normaliser reports those that did not, rule `type`); none in the future.
    Rule("future_date", "service", "assured_date", "warning", "t.assured_date > current_date",
         "'assured_date ' || t.assured_date || ' is in the future'"),
    Rule("future_date", "service", "last_modified", "warning", "t.last_modified > now()::TIMESTAMP + INTERVAL 1 DAY",
         "'last_modified ' || t.last_modified || ' is in the future'"),
    Rule("date_order", "schedule", "valid_from", "warning", "t.valid_from > t.valid_to",
         "'schedule valid_from ' || t.valid_from || ' is after valid_to ' || t.valid_to",
         record=SERVICE_RECORD, join=SERVICE_OF),
)

HAVERSINE_MACRO = """
CREATE OR REPLACE MACRO haversine_km(lat1, lon1, lat2, lon2) AS
    2 * 6371 * asin(sqrt(pow(sin(radians(lat2 - lat1) / 2), 2)
        + cos(radians(lat1)) * cos(radians(lat2)) * pow(sin(radians(lon2 - lon1) / 2), 2)))
"""


def _table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, table = qualified.split(".")
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                            "AND schema_name = ? AND table_name = ?", [schema, table]).fetchone()[0])


def prepare_postcode_centroids(con: duckdb.DuckDBPyConnection) -> bool:
    """Build work.postcode_centroid from ref.postcode if the reference data is loaded.

    The reference loader owns ref.postcode; its column names are looked up rather than assumed,
    and without it the near-the-centroid rule is skipped (the others still run).
    """
    con.execute("CREATE SCHEMA IF NOT EXISTS work")
    con.execute("DROP TABLE IF EXISTS work.postcode_centroid")
    if not _table_exists(con, "ref.postcode"):
        return False
    cols = [r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
                                      "AND schema_name = 'ref' AND table_name = 'postcode'").fetchall()]
    pick = lambda *names: next((c for c in cols if c.lower() in names), None)  # noqa: E731
    pc, lat, lon = pick("postcode", "pcds", "pcd", "postal_code"), pick("latitude", "lat"), pick("longitude", "long", "lon", "lng")
    if not (pc and lat and lon):
        return False
    con.execute(f"""CREATE TABLE work.postcode_centroid AS
        SELECT upper(replace("{pc}", ' ', '')) AS key, any_value("{pc}") AS postcode,
               any_value("{lat}")::DOUBLE AS lat, any_value("{lon}")::DOUBLE AS lon
        FROM ref.postcode WHERE "{lat}" IS NOT NULL GROUP BY 1""")
    return True


def apply_rules(con: duckdb.DuckDBPyConnection, run_id: str, rules=STAGING_RULES) -> dict[str, int]:
    """Write one quality.issue row per failing record; returns the failures per rule."""
    con.execute(HAVERSINE_MACRO)
    if not con.execute("SELECT count(*) FROM duckdb_functions() WHERE function_name = 'pc_mask'").fetchall()[0][0]:
        con.create_function("pc_mask", personal.mask, ["VARCHAR"], "VARCHAR")
    prepare_postcode_centroids(con)
    # Re-running the stage in the same build replaces its own findings rather than doubling them.
    keys = ", ".join(f"({_q(r.table)}, {_q(r.field or '')}, {_q(r.name)}, {_q(r.severity)})" for r in rules)
    con.execute(f"DELETE FROM quality.issue WHERE run_id = ? AND (table_name, coalesce(field, ''), rule, severity) IN ({keys})",
                [run_id])
    counts: dict[str, int] = {}
    for r in rules:
        if r.needs and not _table_exists(con, r.needs):
            continue
        field_sql = _q(r.field) if r.field else "NULL"
        n = con.execute(f"""
            INSERT INTO quality.issue (run_id, source_id, record_id, table_name, field, rule, severity, message)
            SELECT ?, t.source_id, {r.record}, {_q(r.table)}, {field_sql}, {_q(r.name)}, {_q(r.severity)},
                   coalesce({r.message}, {_q(r.name)})
            FROM staging.{r.table} t {r.join} WHERE {r.where}
        """, [run_id]).fetchone()[0]
        counts[f"{r.table}.{r.field}:{r.name}:{r.severity}"] = n
    return counts
