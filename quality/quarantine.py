"""Record-level quarantine: a record that fails a blocking rule stays out of the catalogue.

Only that record: its source and the run carry on. Records that fail only warnings stay in.
"""
from __future__ import annotations

import duckdb


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


def quarantined_per_source(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, int]:
    return dict(con.execute("""
        SELECT q.source_id, count(*) FROM quality.quarantine q
        WHERE q.run_id = ? AND EXISTS (SELECT 1 FROM staging.service s
                                       WHERE s.source_id = q.source_id AND s.source_record_id = q.record_id)
        GROUP BY 1
    """, [run_id]).fetchall())
