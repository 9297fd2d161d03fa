"""The catalogue build's side of the publishing policy (``warehouse.publishable``): report what
sources sent that may not be republished, make ``catalogue.*`` publishable, and withhold any
golden record that still holds personal data afterwards.

1. ``detect_in_staging`` runs the policy over every source record as it was sent (``staging.*``)
   and reports each change against its source, record, table and field: personal data (masked,
   also in ``quality.personal_data``), unsafe or malformed links and addresses, markup in plain
   fields, web addresses made absolute. Personal values it found are kept for this run's final
   check in a temporary table (never written to a file).
2. ``scrub_catalogue`` rewrites ``catalogue.*`` with the same policy: a personal address or a
   mobile is left out (never replaced by a guess), text keeps a placeholder, a mobile phone row
   is left out, a named contact keeps only its role.
3. ``withhold_residue`` is the final check, independent of the rewriting: it reads every published
   text as a reader sees it (HTML flattened) and looks both for anything the detectors find and
   for every personal value found in the sources. A golden service still holding one is withheld
   from the catalogue (``quality.withheld``, and a blocking ``quality.issue`` for each of its
   source records naming the field); the rest of the catalogue publishes.
"""
from __future__ import annotations

import itertools
import re
from typing import Iterator

import duckdb

from warehouse.bulk import fetch_batches, insert_rows, stage_rows
from warehouse import publishable as policy
from warehouse.model import ORUK_TABLES
from warehouse.personal import (EMAIL_RE, EMAIL_WITHHELD, MOBILE_RE, PHONE_WITHHELD,  # noqa: F401 (the API)
                                Finding, email_finding, find_in_text, is_mobile, is_named_individual, mask,
                                scrub_text)

PERSONAL_DATA_DDL = """
CREATE TABLE IF NOT EXISTS quality.personal_data (
    run_id      VARCHAR NOT NULL,
    source_id   VARCHAR NOT NULL,
    record_id   VARCHAR,        -- the source record (a service) it was found in
    table_name  VARCHAR,
    field       VARCHAR,        -- column, or extras for vendor fields
    kind        VARCHAR NOT NULL,  -- personal_email | mobile_number | named_individual | person_organiser
    reason      VARCHAR,        -- consumer_domain | name_shaped | uk_mobile | contact_name | titled_name | ...
    masked      VARCHAR         -- the value, masked
)
"""

RESIDUE_DDL = """
CREATE TABLE IF NOT EXISTS quality.personal_data_residue (
    run_id      VARCHAR NOT NULL,
    table_name  VARCHAR,
    field       VARCHAR,
    row_id      VARCHAR,
    kind        VARCHAR
)
"""

WITHHELD_DDL = """
CREATE TABLE IF NOT EXISTS quality.withheld (
    run_id      VARCHAR NOT NULL,
    service_id  VARCHAR NOT NULL,   -- the golden service left out of this run's catalogue
    table_name  VARCHAR,            -- where personal data was still found
    field       VARCHAR,
    kind        VARCHAR             -- personal_email | mobile_number | named_individual
)
"""

# Issue severity per policy rule: what was left out warns, what was only tidied is information.
RULE_SEVERITY = {"personal_data": "warning", "unsafe_url": "warning", "url_format": "warning",
                 "email_format": "warning", "markup": "warning", "url_normalised": "info",
                 "invisible_characters": "info"}

# The service record a staging row belongs to, for reporting to the publisher.
_SAL_RECORD = ("LEFT JOIN (SELECT sal.location_id, min(s.source_record_id) AS r FROM staging.service_at_location sal "
               "JOIN staging.service s ON s.id = sal.service_id GROUP BY 1) p ON p.location_id = t.{col}",
               "coalesce(p.r, t.source_record_id)")
_RECORD_OF = {
    "service": ("", "t.source_record_id"),
    "organization": ("LEFT JOIN (SELECT organization_id, min(source_record_id) AS r FROM staging.service GROUP BY 1) p "
                     "ON p.organization_id = t.id", "coalesce(p.r, t.source_record_id)"),
    "location": (_SAL_RECORD[0].format(col="id"), _SAL_RECORD[1]),
    "address": (_SAL_RECORD[0].format(col="location_id"), _SAL_RECORD[1]),
    "accessibility": (_SAL_RECORD[0].format(col="location_id"), _SAL_RECORD[1]),
    "taxonomy": ("", "t.source_record_id"),
    "taxonomy_term": ("", "t.source_record_id"),
    "attribute": ("LEFT JOIN staging.service p ON p.id = t.link_id", "coalesce(p.source_record_id, t.source_record_id)"),
    "organization_identifier": ("", "t.source_record_id"),
    "service_at_location": ("LEFT JOIN staging.service p ON p.id = t.service_id",
                            "coalesce(p.source_record_id, t.source_record_id)"),
}
_SERVICE_CHILD = ("LEFT JOIN staging.service p ON p.id = t.service_id", "coalesce(p.source_record_id, t.source_record_id)")

# Values that could change under the policy. Text without markup, '@', a 7 (mobiles), anything
# but printable ASCII or stray spaces is published as it is, so it never reaches Python; free text
# and HTML always do (a person can be named in any sentence).
_MAY_CHANGE_SQL = (r"(regexp_matches({c}, '[<&@7]|[^\x20-\x7e\n]|^\s|\s$|  ') "
                   r"OR regexp_matches({c}, '[A-Z][a-z]+\s+[A-Z]'))")


def _candidate_sql(kind: str, col: str) -> str:
    if kind in ("html", "url", "email", "phone", "person"):
        return f"{col} IS NOT NULL"
    if kind == "free_text":
        return _MAY_CHANGE_SQL.format(c=col)
    return _MAY_CHANGE_SQL.format(c=col).split(" OR regexp_matches")[0] + ")"


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> Iterator[tuple]:
    return itertools.chain.from_iterable(fetch_batches(con, sql))


def _normalised_value(kind: str, value: str) -> str:
    """How a personal value is looked for in published text: addresses lower-cased, numbers as digits."""
    if kind == "mobile_number":
        digits = re.sub(r"\D", "", value)
        return digits[-10:]
    return value.strip().lower()


# -- 1. what the sources sent ---------------------------------------------------------------------
def detect_in_staging(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Report every change the policy makes to what sources sent; returns the number of personal
    findings. Fills the temporary table ``personal_value(kind, value)`` for ``withhold_residue``."""
    con.execute(PERSONAL_DATA_DDL)
    con.execute("DELETE FROM quality.personal_data WHERE run_id = ?", [run_id])
    con.execute("DELETE FROM quality.issue WHERE run_id = ? AND rule IN "
                f"({', '.join(repr(r) for r in RULE_SEVERITY)}) AND message LIKE 'publishing: %'", [run_id])
    findings: list[list] = []
    issues: list[list] = []
    values: set[tuple[str, str]] = set()
    for table in ORUK_TABLES:
        fields = policy.publishable_fields(table)
        join, rec = _RECORD_OF.get(table, _SERVICE_CHILD)
        for column, kind in fields:
            col = f't."{column}"'
            for source_id, record_id, value in _rows(con, f"SELECT t.source_id, {rec}, {col} FROM staging.{table} t {join} "
                                                          f"WHERE {_candidate_sql(kind, col)}"):
                _new, changes = policy.publishable(kind, value)
                for ch in changes:
                    issues.append([run_id, source_id, record_id, table, column, ch.rule, RULE_SEVERITY[ch.rule],
                                   f"publishing: {table}.{column}: {ch.message}"])
                    if ch.finding:
                        f = ch.finding
                        findings.append([run_id, source_id, record_id, table, column, f.kind, f.reason, mask(f.value)])
                        values.add((f.kind, _normalised_value(f.kind, f.value)))
    # Vendor fields kept in extras (ORUK v1 pc_metadata.assured_by, ...) are never published, but
    # what they hold is reported (and looked for in what is published).
    for table in ORUK_TABLES:
        for source_id, record_id, extras in _rows(con, f"""
                SELECT source_id, source_record_id, CAST(extras AS VARCHAR) FROM staging.{table}
                WHERE extras IS NOT NULL AND regexp_matches(CAST(extras AS VARCHAR), '@|7')"""):
            for f in find_in_text(extras, names=False):
                findings.append([run_id, source_id, record_id, table, "extras", f.kind, f.reason, mask(f.value)])
                values.add((f.kind, _normalised_value(f.kind, f.value)))
    unique = _one_per_value(findings)
    if unique:
        insert_rows(con, "quality.personal_data",
                    ["run_id", "source_id", "record_id", "table_name", "field", "kind", "reason", "masked"], unique)
    if issues:
        insert_rows(con, "quality.issue", ["run_id", "source_id", "record_id", "table_name", "field", "rule",
                                           "severity", "message"], issues)
    stage_rows(con, "personal_value", {"kind": "VARCHAR", "value": "VARCHAR"}, [sorted(values)])
    # OpenActive organisers that are a Person: the connector records them as issues.
    con.execute("""
        INSERT INTO quality.personal_data
        SELECT run_id, source_id, record_id, table_name, coalesce(field, 'organizer'), 'person_organiser',
               'openactive_person', NULL
        FROM quality.issue WHERE run_id = ? AND rule = 'personal_data' AND NOT starts_with(message, 'publishing: ')
    """, [run_id])
    return con.execute("SELECT count(*) FROM quality.personal_data WHERE run_id = ?", [run_id]).fetchone()[0]


def _one_per_value(rows: list[list]) -> list[list]:
    """One finding per value per record: a description's plain-text copy in extras is the same one."""
    seen, unique = set(), []
    for r in sorted(rows, key=lambda r: r[4] == "extras"):
        key = (r[1], r[2], r[5], r[7])
        if key not in seen:
            seen.add(key)
            unique.append(r)
    return unique


# -- 2. the catalogue as published ----------------------------------------------------------------
def scrub_catalogue(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, int]:
    """Rewrite catalogue.* with the publishing policy; returns what changed."""
    changed = {"values_rewritten": 0, "phones_left_out": 0, "contact_names_left_out": 0}
    # Roles written after a contact's name become its title before the name is left out.
    roles = stage_rows(con, "contact_role", {"id": "VARCHAR", "role": "VARCHAR"}, (
        [(cid, role) for cid, name in rows if (role := policy.role_in_name(name))]
        for rows in fetch_batches(con, "SELECT id, name FROM catalogue.contact WHERE name IS NOT NULL AND title IS NULL")))
    if roles:
        con.execute("UPDATE catalogue.contact c SET title = r.role FROM contact_role r WHERE r.id = c.id")
    for table in ORUK_TABLES:
        for column, kind in policy.publishable_fields(table):
            col = f'"{column}"'
            n = stage_rows(con, "publish_update", {"id": "VARCHAR", "value": "VARCHAR"}, (
                [(rid, new) for rid, v in rows if (new := policy.publishable(kind, v)[0]) != v]
                for rows in fetch_batches(con, f"SELECT id, {col} FROM catalogue.{table} t "
                                               f"WHERE {_candidate_sql(kind, 't.' + col)}")))
            if not n:
                continue
            if kind == "phone":
                changed["phones_left_out"] += con.execute(
                    "SELECT count(*) FROM publish_update WHERE value IS NULL").fetchone()[0]
                con.execute("DELETE FROM catalogue.phone WHERE id IN (SELECT id FROM publish_update WHERE value IS NULL)")
            if kind == "person" and table == "contact":
                changed["contact_names_left_out"] += con.execute(
                    "SELECT count(*) FROM publish_update WHERE value IS NULL").fetchone()[0]
            con.execute(f"UPDATE catalogue.{table} t SET {col} = u.value FROM publish_update u WHERE u.id = t.id")
            changed["values_rewritten"] += n
    changed["values_rewritten"] += _scrub_conflicts(con) + _scrub_other_columns(con)
    return changed


def _scrub_conflicts(con: duckdb.DuckDBPyConnection) -> int:
    """catalogue.conflict shows each source's value of a disputed service field: the same policy."""
    def updates(rows: list[tuple]) -> list[tuple[int, str | None]]:
        return [(rid, new) for rid, f, v in rows
                if (new := policy.publishable(policy.field_kind("service", f) or "text", v)[0]) != v]
    n = stage_rows(con, "scrub_conflict", {"rid": "BIGINT", "value": "VARCHAR"}, (
        updates(rows) for rows in fetch_batches(con, "SELECT rowid AS rid, field, value FROM catalogue.conflict "
                                                     "WHERE value IS NOT NULL")))
    if n:
        con.execute("UPDATE catalogue.conflict t SET value = u.value FROM scrub_conflict u WHERE t.rowid = u.rid")
    return n


def _catalogue_text_columns(con: duckdb.DuckDBPyConnection, ours: bool = False) -> list[tuple[str, str]]:
    """Every VARCHAR column of the catalogue tables other stages add (not the ORUK tables), except
    identifiers: about one UUID in 10,000 reads like a mobile number ("07392238-152c-...")."""
    rows = con.execute("""SELECT table_name, column_name FROM duckdb_columns()
                          WHERE database_name = current_database() AND schema_name = 'catalogue'
                            AND data_type = 'VARCHAR' AND column_name <> 'id' AND NOT ends_with(column_name, '_id')
                          ORDER BY 1, 2""").fetchall()
    return [(t, c) for t, c in rows if (t in ORUK_TABLES) == ours and (t, c) != ("conflict", "value")]


def _scrub_other_columns(con: duckdb.DuckDBPyConnection) -> int:
    """E-mails and mobiles in the text of other catalogue tables (match explanations, labels, ...)
    replaced with placeholders, so that a new table can never leak them."""
    n = 0
    for table, column in _catalogue_text_columns(con):
        col = f'"{column}"'
        staged = stage_rows(con, "scrub_other", {"rid": "BIGINT", "value": "VARCHAR"}, (
            [(rid, new) for rid, v in rows if (new := scrub_text(v, names=False)) != v]
            for rows in fetch_batches(con, f"SELECT t.rowid AS rid, {col} FROM catalogue.{table} t "
                                           f"WHERE regexp_matches({col}, '[@7]')")))
        if staged:
            con.execute(f"UPDATE catalogue.{table} t SET {col} = u.value FROM scrub_other u WHERE t.rowid = u.rid")
            n += staged
    return n


# -- 3. the final check, and withholding -----------------------------------------------------------
# Which golden service(s) a row of each ORUK table belongs to (SQL over catalogue, `r` = the row).
_SERVICES_OF = {
    "service": "SELECT r.id",
    "organization": "SELECT s.id FROM catalogue.service s WHERE s.organization_id = r.id",
    "organization_identifier": "SELECT s.id FROM catalogue.service s WHERE s.organization_id = r.organization_id",
    "location": "SELECT sal.service_id FROM catalogue.service_at_location sal WHERE sal.location_id = r.id",
    "address": "SELECT sal.service_id FROM catalogue.service_at_location sal WHERE sal.location_id = r.location_id",
    "accessibility": "SELECT sal.service_id FROM catalogue.service_at_location sal WHERE sal.location_id = r.location_id",
    "service_at_location": "SELECT r.service_id",
    "schedule": "SELECT coalesce(r.service_id, (SELECT sal.service_id FROM catalogue.service_at_location sal "
                "WHERE sal.id = r.service_at_location_id))",
    "phone": "SELECT coalesce(r.service_id, (SELECT c.service_id FROM catalogue.contact c WHERE c.id = r.contact_id))",
    "attribute": "SELECT r.link_id",
    "taxonomy_term": "SELECT a.link_id FROM catalogue.attribute a WHERE a.taxonomy_term_id = r.id",
    "taxonomy": "SELECT a.link_id FROM catalogue.attribute a JOIN catalogue.taxonomy_term t ON t.id = a.taxonomy_term_id "
                "WHERE t.taxonomy_id = r.id",
}


def _published_texts(con: duckdb.DuckDBPyConnection) -> Iterator[tuple[str, str, str, str, str]]:
    """(table, field, kind, row id, text as a reader sees it) of every published text value."""
    for table in ORUK_TABLES:
        for column, kind in policy.publishable_fields(table):
            for rid, v in _rows(con, f'SELECT id, "{column}" FROM catalogue.{table} WHERE "{column}" IS NOT NULL'):
                yield table, column, kind, rid, policy.published_text(kind, v)
    if _exists(con, "catalogue", "plain_text"):
        for t, rid, field, text in _rows(con, "SELECT table_name, id, field, text FROM catalogue.plain_text "
                                              "WHERE text IS NOT NULL"):
            yield t, field, "html", rid, text


def _exists(con, schema: str, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                            "AND schema_name = ? AND table_name = ?", [schema, table]).fetchone()[0])


class _KnownValues:
    """The personal values found in the sources this run, looked for in published text."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        rows = con.execute("SELECT kind, value FROM personal_value").fetchall() if _temp_exists(con, "personal_value") else []
        self.emails = {v for k, v in rows if k == "personal_email"}
        self.mobiles = {v for k, v in rows if k == "mobile_number"}

    def find(self, text: str) -> str | None:
        if self.emails and "@" in text:
            for m in EMAIL_RE.finditer(text):
                if m.group(0).lower() in self.emails:
                    return "personal_email"
        if self.mobiles:
            for m in re.finditer(r"\d[\d\s.()\-]{8,}\d", text):
                if re.sub(r"\D", "", m.group(0))[-10:] in self.mobiles:
                    return "mobile_number"
        return None


def _temp_exists(con, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'temp' AND table_name = ?",
                            [name]).fetchone()[0])


def _residue(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str, str]]:
    """(table, field, row id, kind) of every published value that still holds personal data."""
    known = _KnownValues(con)
    out = []
    for table, field, kind, rid, text in _published_texts(con):
        if not text:
            continue
        found = find_in_text(text, names=kind in ("html", "free_text", "person"))
        if kind == "person" and not found and is_named_individual(text):
            found = [Finding("named_individual", text, "contact_name")]
        hit = found[0].kind if found else known.find(text)
        if kind == "email" and not hit and email_finding(text):
            hit = "personal_email"
        if kind == "phone" and not hit and is_mobile(text):
            hit = "mobile_number"
        if hit:
            out.append((table, field, rid, hit))
    return out


def withhold_residue(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, int]:
    """Withhold each golden service whose published text still holds personal data; a value in a
    row that belongs to no service (a taxonomy's description) is left out instead."""
    con.execute(WITHHELD_DDL)
    con.execute("DELETE FROM quality.withheld WHERE run_id = ?", [run_id])
    residue = _residue(con)
    if not residue:
        return {"records_withheld": 0, "values_left_out": 0}
    stage_rows(con, "residue", {"table_name": "VARCHAR", "field": "VARCHAR", "row_id": "VARCHAR", "kind": "VARCHAR"},
               [residue])
    owners = " UNION ALL ".join(
        f"SELECT r.table_name, r.field, r.row_id, r.kind, o.sid AS service_id FROM residue r "
        f"JOIN catalogue.{t} x ON x.id = r.row_id AND r.table_name = '{t}' "
        f"CROSS JOIN LATERAL ({_SERVICES_OF[t].replace('r.', 'x.')}) o(sid)"
        for t in _SERVICES_OF)
    # A plain_text row belongs to the service, organisation or location it was made from.
    owners += """ UNION ALL SELECT r.table_name, r.field, r.row_id, r.kind, s.id FROM residue r
                  JOIN catalogue.service s ON s.id = r.row_id OR s.organization_id = r.row_id
                    OR s.id IN (SELECT service_id FROM catalogue.service_at_location WHERE location_id = r.row_id)
                  WHERE r.table_name IN ('service', 'organization', 'location')"""
    con.execute(f"CREATE OR REPLACE TEMP TABLE residue_owner AS SELECT DISTINCT * FROM ({owners}) "
                f"WHERE service_id IN (SELECT id FROM catalogue.service)")
    con.execute("""INSERT INTO quality.withheld SELECT DISTINCT ?, service_id, table_name, field, kind
                   FROM residue_owner""", [run_id])
    orphans = con.execute("""SELECT DISTINCT table_name, field, row_id FROM residue r WHERE NOT EXISTS (
                                 SELECT 1 FROM residue_owner o WHERE o.table_name = r.table_name AND o.row_id = r.row_id)
                             """).fetchall()
    left_out = 0
    for table, field, rid in orphans:
        if table in ORUK_TABLES:
            con.execute(f'UPDATE catalogue.{table} SET "{field}" = NULL WHERE id = ?', [rid])
            left_out += 1
    con.execute("""INSERT INTO quality.issue (run_id, source_id, record_id, table_name, field, rule, severity, message)
                   SELECT DISTINCT w.run_id, ss.source_id, ss.source_record_id, w.table_name, w.field,
                          'personal_data_withheld', 'blocking',
                          'publishing: ' || w.table_name || '.' || w.field || ' still held a ' || replace(w.kind, '_', ' ')
                          || ' after scrubbing; golden service ' || w.service_id || ' was withheld from the catalogue'
                   FROM quality.withheld w JOIN catalogue.service_source ss ON ss.service_id = w.service_id
                   WHERE w.run_id = ?""", [run_id])
    # Their source records leave the catalogue with them: quarantined, so that the night's checks
    # (every record not quarantined is in one golden service) hold and the reason is listed.
    con.execute("""INSERT INTO quality.quarantine
                   SELECT DISTINCT w.run_id, ss.source_id, ss.source_record_id, ['personal_data_withheld']
                   FROM quality.withheld w JOIN catalogue.service_source ss ON ss.service_id = w.service_id
                   WHERE w.run_id = ? AND NOT EXISTS (
                       SELECT 1 FROM quality.quarantine q WHERE q.run_id = w.run_id
                       AND q.source_id = ss.source_id AND q.record_id = ss.source_record_id)""", [run_id])
    n = drop_services(con, f"SELECT service_id FROM quality.withheld WHERE run_id = '{run_id}'")
    return {"records_withheld": n, "values_left_out": left_out}


def drop_services(con: duckdb.DuckDBPyConnection, ids_sql: str) -> int:
    """Remove golden services and everything only they reach from catalogue.*; returns how many."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE dropped AS SELECT DISTINCT * FROM ({ids_sql}) d(id)")
    n = con.execute("SELECT count(*) FROM dropped").fetchone()[0]
    if not n:
        return 0
    by_service = ("schedule", "service_area", "language", "funding", "cost_option", "contact", "phone",
                  "service_at_location", "service_source", "field_provenance", "conflict", "service_type")
    con.execute("DELETE FROM catalogue.phone WHERE contact_id IN (SELECT id FROM catalogue.contact "
                "WHERE service_id IN (SELECT id FROM dropped))")
    con.execute("DELETE FROM catalogue.schedule WHERE service_at_location_id IN (SELECT id FROM "
                "catalogue.service_at_location WHERE service_id IN (SELECT id FROM dropped))")
    for table in by_service:
        if _exists(con, "catalogue", table):
            con.execute(f"DELETE FROM catalogue.{table} WHERE service_id IN (SELECT id FROM dropped)")
    con.execute("DELETE FROM catalogue.attribute WHERE link_id IN (SELECT id FROM dropped)")
    con.execute("DELETE FROM catalogue.replaced_by WHERE entity = 'service' AND replaced_by_id IN (SELECT id FROM dropped)")
    con.execute("DELETE FROM catalogue.service WHERE id IN (SELECT id FROM dropped)")
    # What no published service reaches any more.
    con.execute("DELETE FROM catalogue.location WHERE id NOT IN (SELECT location_id FROM catalogue.service_at_location)")
    for table in ("address", "accessibility"):
        con.execute(f"DELETE FROM catalogue.{table} WHERE location_id NOT IN (SELECT id FROM catalogue.location)")
    con.execute("DELETE FROM catalogue.organization WHERE id NOT IN (SELECT organization_id FROM catalogue.service "
                "WHERE organization_id IS NOT NULL)")
    con.execute("DELETE FROM catalogue.organization_identifier WHERE organization_id NOT IN (SELECT id FROM catalogue.organization)")
    con.execute("""DELETE FROM catalogue.replaced_by WHERE (entity = 'organization' AND replaced_by_id NOT IN
                       (SELECT id FROM catalogue.organization))
                    OR (entity = 'location' AND replaced_by_id NOT IN (SELECT id FROM catalogue.location))""")
    if _exists(con, "catalogue", "plain_text"):
        con.execute("""DELETE FROM catalogue.plain_text WHERE id NOT IN (SELECT id FROM catalogue.service UNION ALL
                       SELECT id FROM catalogue.organization UNION ALL SELECT id FROM catalogue.location
                       UNION ALL SELECT id FROM catalogue.accessibility)""")
    return n


def record_residue(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Re-scan the published catalogue; anything found goes to quality.personal_data_residue (the
    catalogue suite expects it to be empty, and that expectation is blocking)."""
    con.execute(RESIDUE_DDL)
    con.execute("DELETE FROM quality.personal_data_residue WHERE run_id = ?", [run_id])
    rows = [[run_id, t, f, rid, kind] for t, f, rid, kind in _residue(con)]
    for table, column in _catalogue_text_columns(con):
        col = f'"{column}"'
        for rowid, v in _rows(con, f"SELECT t.rowid, {col} FROM catalogue.{table} t WHERE regexp_matches({col}, '[@7]')"):
            for finding in find_in_text(v, names=False):
                rows.append([run_id, table, column, str(rowid), finding.kind])
    if rows:
        insert_rows(con, "quality.personal_data_residue", ["run_id", "table_name", "field", "row_id", "kind"], rows)
    return len(rows)
