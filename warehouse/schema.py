"""DuckDB schemas of the place catalogue.

Schemas are kept apart by stage: ``raw`` (as fetched), ``staging`` (each source normalised to
ORUK v3), ``quality``, ``catalogue`` (the merged result), ``gap``, ``ops`` (runs and source
status), ``publish`` (what changed for hubs) and ``ref`` (reference data). Each stage module
may add tables of its own with ``CREATE TABLE IF NOT EXISTS``; the ones here are the contract
tables that several stages share (see ``../shared/design/contracts.md``).
"""
from __future__ import annotations

import duckdb

from warehouse.model import ORUK_TABLES, staging_columns

SCHEMAS = ("raw", "staging", "quality", "catalogue", "gap", "ops", "publish", "ref")

RAW_RECORD_DDL = """
CREATE TABLE IF NOT EXISTS raw.record (
    source_id       VARCHAR NOT NULL,
    record_id       VARCHAR NOT NULL,   -- the source's own id for the record
    record_type     VARCHAR NOT NULL,   -- service, SessionSeries, row, ...
    payload         JSON,               -- the record as fetched (JSON text, not reinterpreted)
    fetched_from    VARCHAR,            -- URL, file path (and sheet/row), or SQL table
    fetched_at      TIMESTAMP,
    content_hash    VARCHAR             -- md5 of the payload, for change detection
)
"""

QUALITY_ISSUE_DDL = """
CREATE TABLE IF NOT EXISTS quality.issue (
    run_id      VARCHAR NOT NULL,
    source_id   VARCHAR NOT NULL,
    record_id   VARCHAR,               -- source record id (NULL for whole-source problems)
    table_name  VARCHAR,
    field       VARCHAR,
    rule        VARCHAR NOT NULL,
    severity    VARCHAR NOT NULL,      -- blocking | warning | info
    message     VARCHAR NOT NULL,
    detected_at TIMESTAMP DEFAULT current_timestamp
)
"""

QUARANTINE_DDL = """
CREATE TABLE IF NOT EXISTS quality.quarantine (
    run_id      VARCHAR NOT NULL,
    source_id   VARCHAR NOT NULL,
    record_id   VARCHAR NOT NULL,     -- the source record (a service) held out of the catalogue
    rules       VARCHAR[]             -- the blocking rules it failed
)
"""

CATALOGUE_LINK_DDL = [
    """
    CREATE TABLE IF NOT EXISTS catalogue.service_source (
        service_id        VARCHAR NOT NULL,   -- golden service id (UUID, stable while the cluster lives)
        source_id         VARCHAR NOT NULL,
        source_record_id  VARCHAR NOT NULL,
        staging_id        VARCHAR NOT NULL,   -- staging.service.id of the member
        match_score       DOUBLE,             -- 1.0 for the cluster's founding record
        match_reason      VARCHAR             -- JSON: comparison levels and weights that drove it
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS catalogue.conflict (
        service_id        VARCHAR NOT NULL,
        field             VARCHAR NOT NULL,
        source_id         VARCHAR NOT NULL,
        source_record_id  VARCHAR NOT NULL,
        value             VARCHAR,
        chosen            BOOLEAN             -- whether this value won survivorship
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS catalogue.replaced_by (
        entity            VARCHAR NOT NULL,   -- service | organization | location
        source_id         VARCHAR NOT NULL,
        source_record_id  VARCHAR NOT NULL,
        replaced_by_id    VARCHAR NOT NULL,   -- the preferred golden record
        reason            VARCHAR
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS catalogue.field_provenance (
        service_id        VARCHAR NOT NULL,
        field             VARCHAR NOT NULL,
        source_id         VARCHAR NOT NULL,
        source_record_id  VARCHAR NOT NULL
    )
    """,
]

OPS_DDL = [
    """
    CREATE TABLE IF NOT EXISTS ops.source (
        source_id   VARCHAR PRIMARY KEY,
        kind        VARCHAR NOT NULL,
        publisher   VARCHAR,
        role        VARCHAR NOT NULL,   -- owner | regulator | assurer | none
        locator     VARCHAR,            -- URL or path (never credentials)
        licence     VARCHAR,            -- the licence the publisher grants (sources file `licence:`)
        attribution VARCHAR             -- the attribution it asks for (sources file `attribution:`)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS ops.run (
        run_id        VARCHAR PRIMARY KEY,
        started_at    TIMESTAMP,
        finished_at   TIMESTAMP,
        status        VARCHAR,     -- published | failed
        sources_file  VARCHAR,
        summary       JSON
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS ops.source_status (
        run_id                VARCHAR NOT NULL,
        source_id             VARCHAR NOT NULL,
        kind                  VARCHAR,
        status                VARCHAR NOT NULL,  -- ok | unchanged | degraded | held | failed | stale | dropped | no-data
        message               VARCHAR,
        attempted_at          TIMESTAMP,
        snapshot_version      VARCHAR,           -- the snapshot in force for this run
        snapshot_harvested_at TIMESTAMP,
        records_in            BIGINT,
        records_quarantined   BIGINT
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS ops.harvest_state (
        source_id   VARCHAR NOT NULL,
        state       JSON,                        -- ETags, page hashes, RPDE positions
        updated_at  TIMESTAMP
    )
    """,
]

PUBLISH_DDL = [
    """
    CREATE TABLE IF NOT EXISTS publish.change (
        run_id          VARCHAR NOT NULL,
        service_id      VARCHAR NOT NULL,
        change          VARCHAR NOT NULL,   -- added | updated | removed
        fields_changed  VARCHAR[],
        modified        BIGINT NOT NULL     -- RPDE ordering key (epoch milliseconds)
    )
    """,
]


def oruk_table_ddl(schema: str, table: str, with_provenance: bool) -> str:
    cols = staging_columns(table) if with_provenance else [(n, t) for n, t, _ in ORUK_TABLES[table]]
    body = ",\n    ".join(f'"{n}" {t}' for n, t in cols)
    return f"CREATE TABLE IF NOT EXISTS {schema}.{table} (\n    {body}\n)"


def create_staging_tables(con: duckdb.DuckDBPyConnection, schema: str = "staging") -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for table in ORUK_TABLES:
        con.execute(oruk_table_ddl(schema, table, with_provenance=True))


def create_catalogue_schema(con: duckdb.DuckDBPyConnection) -> None:
    for table in ORUK_TABLES:
        con.execute(oruk_table_ddl("catalogue", table, with_provenance=False))
    for ddl in CATALOGUE_LINK_DDL:
        con.execute(ddl)


def create_all(con: duckdb.DuckDBPyConnection) -> None:
    for schema in SCHEMAS:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.execute(RAW_RECORD_DDL)
    con.execute(QUALITY_ISSUE_DDL)
    con.execute(QUARANTINE_DDL)
    create_staging_tables(con)
    create_catalogue_schema(con)
    for ddl in OPS_DDL + PUBLISH_DDL:
        con.execute(ddl)
