"""The change feed: what changed in the golden records since the previous run, and reading it as RPDE.

``record_changes`` (called by the publish stage) writes one ``publish.change`` row per golden
service that was added, updated or removed, with the fields that changed. Besides the service's
own columns, the nested parts a consumer sees (``organization``, ``contacts``, ``phones``,
``schedules``, ``service_areas``, ``languages``, ``funding``, ``cost_options``, ``attributes``,
``service_at_locations``, and the extension's ``replaces`` and ``provenance``) are compared through a per-service digest kept in
``publish.service_digest``, so a new opening time is a change too. A changed English
``description`` (or any other translatable text) is listed by name, so translators know what to redo.

``rpde_page`` reads the feed the way OpenActive's RPDE does: every service once, at its latest
change, ordered by ``modified`` then ``id``; deletions (and services that left the profile) are
tombstones. A consumer that follows ``next`` from the start and applies each item ends up with
exactly the published catalogue.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb

from warehouse.model import oruk_columns

# Text a translation or easy-read service must redo when it changes.
TRANSLATABLE_FIELDS = ("name", "description", "alert", "fees", "accreditations", "schedules",
                       "service_areas", "cost_options", "contacts")

# Nested parts of a published service and the SQL that lists each part's rows with their service.
DIGEST_PARTS = {
    "organization": "SELECT s.id AS sid, to_json(o)::VARCHAR AS j, o.id AS k FROM catalogue.service s "
                    "JOIN catalogue.organization o ON o.id = s.organization_id",
    "contacts": "SELECT service_id AS sid, to_json(t)::VARCHAR AS j, t.id AS k FROM catalogue.contact t",
    "phones": "SELECT c.service_id AS sid, to_json(p)::VARCHAR AS j, p.id AS k FROM catalogue.phone p "
              "JOIN catalogue.contact c ON c.id = p.contact_id UNION ALL "
              "SELECT service_id, to_json(p)::VARCHAR, p.id FROM catalogue.phone p "
              "WHERE service_id IS NOT NULL AND contact_id IS NULL",
    "schedules": "SELECT service_id AS sid, to_json(t)::VARCHAR AS j, t.id AS k FROM catalogue.schedule t "
                 "WHERE service_id IS NOT NULL",
    "service_areas": "SELECT service_id AS sid, to_json(t)::VARCHAR AS j, t.id AS k FROM catalogue.service_area t",
    "languages": "SELECT service_id AS sid, to_json(t)::VARCHAR AS j, t.id AS k FROM catalogue.language t",
    "funding": "SELECT service_id AS sid, to_json(t)::VARCHAR AS j, t.id AS k FROM catalogue.funding t",
    "cost_options": "SELECT service_id AS sid, to_json(t)::VARCHAR AS j, t.id AS k FROM catalogue.cost_option t",
    "attributes": "SELECT a.link_id AS sid, to_json(a)::VARCHAR || coalesce(to_json(tt)::VARCHAR, '') AS j, a.id AS k "
                  "FROM catalogue.attribute a LEFT JOIN catalogue.taxonomy_term tt ON tt.id = a.taxonomy_term_id",
    # The published extension: which source records the golden record replaces, and where each
    # field came from (a different winning source is a change a hub should see).
    "replaces": "SELECT replaced_by_id AS sid, source_id || '/' || source_record_id || '/' || coalesce(reason, '') AS j, "
                "source_id || '/' || source_record_id AS k FROM catalogue.replaced_by WHERE entity = 'service'",
    "provenance": "SELECT service_id AS sid, field || '=' || source_id || '/' || source_record_id AS j, field AS k "
                  "FROM catalogue.field_provenance",
    "service_at_locations": """
        SELECT sal.service_id AS sid,
               to_json(sal)::VARCHAR || coalesce(to_json(l)::VARCHAR, '')
               || coalesce((SELECT string_agg(to_json(ad)::VARCHAR, '|' ORDER BY ad.id) FROM catalogue.address ad
                            WHERE ad.location_id = sal.location_id), '')
               || coalesce((SELECT string_agg(to_json(ac)::VARCHAR, '|' ORDER BY ac.id) FROM catalogue.accessibility ac
                            WHERE ac.location_id = sal.location_id), '') AS j,
               sal.id AS k
        FROM catalogue.service_at_location sal LEFT JOIN catalogue.location l ON l.id = sal.location_id""",
}

DIGEST_DDL = """
CREATE OR REPLACE TABLE publish.service_digest (
    service_id  VARCHAR NOT NULL,
    part        VARCHAR NOT NULL,   -- a nested part of the published service (schedules, contacts, ...)
    digest      VARCHAR NOT NULL    -- md5 of the part's rows
)
"""


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ? "
                            "AND database_name = current_database()", [schema, table]).fetchall()[0][0])


def build_service_digest(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS publish")
    con.execute(DIGEST_DDL)
    for part, sql in DIGEST_PARTS.items():
        con.execute(f"""INSERT INTO publish.service_digest
                        SELECT sid, '{part}', md5(string_agg(j, '|' ORDER BY k)) FROM ({sql}) WHERE sid IS NOT NULL
                        GROUP BY sid""")


def record_changes(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, int]:
    if not _table_exists(con, "previous", "service"):
        con.execute("CREATE SCHEMA IF NOT EXISTS previous")
        con.execute("CREATE TABLE previous.service AS SELECT * FROM catalogue.service LIMIT 0")
    # A golden record's last_modified: its source's when the source gives one; otherwise carried
    # from the previous catalogue, and set to this run's time when the record changed tonight, so
    # that every published service has one and modified_after finds what changed.
    con.execute("CREATE OR REPLACE TEMP TABLE _no_last_modified AS SELECT id FROM catalogue.service WHERE last_modified IS NULL")
    if "last_modified" in [c for c in _columns(con, "previous", "service")]:
        con.execute("""UPDATE catalogue.service s SET last_modified = p.last_modified FROM previous.service p
                       WHERE p.id = s.id AND s.last_modified IS NULL""")
    build_service_digest(con)
    modified = int(time.time() * 1000)
    fields = [c for c in oruk_columns("service") if c != "id"]
    own = ", ".join(f"CASE WHEN n.\"{f}\" IS DISTINCT FROM p.\"{f}\" THEN '{f}' END" for f in fields)
    con.execute("CREATE OR REPLACE TEMP TABLE _part_changes (service_id VARCHAR, parts VARCHAR[])")
    if _table_exists(con, "previous", "service_digest"):
        # Nested parts whose digest differs, appeared or disappeared. (The first run with digests
        # can only compare the service's own columns.)
        con.execute("""
            INSERT INTO _part_changes
            SELECT coalesce(c.service_id, p.service_id), list(coalesce(c.part, p.part) ORDER BY coalesce(c.part, p.part))
            FROM publish.service_digest c FULL OUTER JOIN previous.service_digest p
              ON c.service_id = p.service_id AND c.part = p.part
            WHERE c.digest IS DISTINCT FROM p.digest
            GROUP BY 1""")
    con.execute("DELETE FROM publish.change WHERE run_id = ?", [run_id])
    con.execute(f"""
        INSERT INTO publish.change
        WITH pairs AS (
            SELECT n.id AS n_id, p.id AS p_id,
                   CASE WHEN p.id IS NULL OR n.id IS NULL THEN []
                        ELSE list_concat(list_filter([{own}], lambda x: x IS NOT NULL), coalesce(pc.parts, []))
                   END AS fields
            FROM catalogue.service n FULL OUTER JOIN previous.service p ON n.id = p.id
            LEFT JOIN _part_changes pc ON pc.service_id = n.id)
        SELECT ?, coalesce(n_id, p_id),
               CASE WHEN p_id IS NULL THEN 'added' WHEN n_id IS NULL THEN 'removed' ELSE 'updated' END,
               fields, ?
        FROM pairs
        WHERE p_id IS NULL OR n_id IS NULL OR len(fields) > 0
    """, [run_id, modified])
    con.execute("""UPDATE catalogue.service SET last_modified = make_timestamp(? * 1000)
                   WHERE id IN (SELECT id FROM _no_last_modified)
                     AND (last_modified IS NULL OR id IN (SELECT service_id FROM publish.change WHERE run_id = ?))""",
                [modified, run_id])
    return dict(con.execute("SELECT change, count(*) FROM publish.change WHERE run_id = ? GROUP BY 1",
                            [run_id]).fetchall())


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    return [r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
                                      "AND schema_name = ? AND table_name = ?", [schema, table]).fetchall()]


# -- the RPDE reader --------------------------------------------------------------------------------
FEED_DDL = """
CREATE OR REPLACE TABLE publish.feed AS
WITH latest AS (
    SELECT service_id AS id, max(modified) AS modified,
           arg_max(change, modified) AS change, arg_max(fields_changed, modified) AS fields_changed,
           arg_max(run_id, modified) AS run_id
    FROM publish.change GROUP BY service_id
), live AS (SELECT id FROM catalogue.service)
SELECT l.id, l.modified, l.change, l.fields_changed, l.run_id, l.id IN (SELECT id FROM live) AS live
FROM latest l
UNION ALL
-- Published services the change log doesn't know (a catalogue older than the feed): modified 0.
SELECT s.id, 0, 'added', [], NULL, TRUE FROM catalogue.service s WHERE s.id NOT IN (SELECT id FROM latest)
"""


@dataclass
class FeedItem:
    id: str
    modified: int
    change: str
    fields_changed: list[str]
    run_id: str | None
    live: bool

    @property
    def state(self) -> str:
        return "updated" if self.live else "deleted"

    def translatable_changes(self) -> list[str]:
        return [f for f in self.fields_changed if f in TRANSLATABLE_FIELDS]


def prepare_feed(con: duckdb.DuckDBPyConnection) -> None:
    """Build ``publish.feed`` (latest change per service) in a published copy (see load_published)."""
    con.execute(FEED_DDL)


def rpde_page(con: duckdb.DuckDBPyConnection, after_timestamp: int | None, after_id: str | None,
              limit: int) -> list[FeedItem]:
    """Items after (after_timestamp, after_id) in (modified, id) order; needs prepare_feed first."""
    if after_timestamp is None:
        rows = con.execute("SELECT id, modified, change, fields_changed, run_id, live FROM publish.feed "
                           "ORDER BY modified, id LIMIT ?", [limit]).fetchall()
    else:
        rows = con.execute("SELECT id, modified, change, fields_changed, run_id, live FROM publish.feed "
                           "WHERE modified > ? OR (modified = ? AND id > ?) ORDER BY modified, id LIMIT ?",
                           [after_timestamp, after_timestamp, after_id or "", limit]).fetchall()
    return [FeedItem(r[0], int(r[1]), r[2], list(r[3] or []), r[4], bool(r[5])) for r in rows]
