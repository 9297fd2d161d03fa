"""Record-level quarantine: a record that fails a blocking rule stays out of the catalogue.

Only that record: its source and the run carry on. Records that fail only warnings stay in, and
``quality.record_flag`` lists their flags (one row per record per run) so that a reviewer or the
publisher's report can see them without reading every issue.
"""
from __future__ import annotations

import duckdb

RECORD_FLAG_DDL = """
CREATE TABLE IF NOT EXISTS quality.record_flag (
    run_id      VARCHAR NOT NULL,
    source_id   VARCHAR NOT NULL,
    record_id   VARCHAR NOT NULL,     -- the source record (a service) that stays in, flagged
    flags       VARCHAR[]             -- 'table.field:rule' of every warning it raised
)
"""


def quarantine_blocking(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Hold out every staging service with a blocking issue in this run; returns how many."""
    con.execute("DELETE FROM quality.quarantine WHERE run_id = ?", [run_id])
    con.execute("""
        INSERT INTO quality.quarantine
        SELECT i.run_id, i.source_id, i.record_id, list(DISTINCT i.rule ORDER BY i.rule)
        FROM quality.issue i
        WHERE i.run_id = ? AND i.severity = 'blocking' AND i.record_id IS NOT NULL
        GROUP BY 1, 2, 3
    """, [run_id])
    return con.execute("SELECT count(*) FROM quality.quarantine WHERE run_id = ?", [run_id]).fetchone()[0]


def flag_warnings(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Record the warning flags of each record that stays in; returns how many records are flagged."""
    con.execute(RECORD_FLAG_DDL)
    con.execute("DELETE FROM quality.record_flag WHERE run_id = ?", [run_id])
    con.execute("""
        INSERT INTO quality.record_flag
        SELECT i.run_id, i.source_id, i.record_id,
               list(DISTINCT coalesce(i.table_name || '.', '') || coalesce(i.field || ':', '') || i.rule
                    ORDER BY coalesce(i.table_name || '.', '') || coalesce(i.field || ':', '') || i.rule)
        FROM quality.issue i
        WHERE i.run_id = ? AND i.severity = 'warning' AND i.record_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM quality.quarantine q WHERE q.run_id = i.run_id
                          AND q.source_id = i.source_id AND q.record_id = i.record_id)
        GROUP BY 1, 2, 3
    """, [run_id])
    return con.execute("SELECT count(*) FROM quality.record_flag WHERE run_id = ?", [run_id]).fetchone()[0]


def quarantined_per_source(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, int]:
    return dict(con.execute("""
        SELECT q.source_id, count(*) FROM quality.quarantine q
        WHERE q.run_id = ? AND EXISTS (SELECT 1 FROM staging.service s
                                       WHERE s.source_id = q.source_id AND s.source_record_id = q.record_id)
        GROUP BY 1
    """, [run_id]).fetchall())
