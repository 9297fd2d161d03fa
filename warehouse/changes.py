"""The change feed: what changed in the golden records since the previous run.

``publish.change`` gets one row per golden service that was added, updated or removed, with the
fields that changed, so that hubs can sync incrementally and translators know what to redo.
"""
from __future__ import annotations

import time

import duckdb

from warehouse.model import oruk_columns


def record_changes(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, int]:
    has_prev = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'previous' "
                           "AND table_name = 'service' AND database_name = current_database()").fetchone()[0]
    if not has_prev:
        con.execute("CREATE SCHEMA IF NOT EXISTS previous")
        con.execute("CREATE TABLE previous.service AS SELECT * FROM catalogue.service LIMIT 0")
    modified = int(time.time() * 1000)
    fields = [c for c in oruk_columns("service") if c != "id"]
    changed_list = ", ".join(
        f"CASE WHEN n.\"{f}\" IS DISTINCT FROM p.\"{f}\" THEN '{f}' END" for f in fields)
    con.execute("DELETE FROM publish.change WHERE run_id = ?", [run_id])
    con.execute(f"""
        INSERT INTO publish.change
        SELECT ?, coalesce(n.id, p.id),
               CASE WHEN p.id IS NULL THEN 'added' WHEN n.id IS NULL THEN 'removed' ELSE 'updated' END,
               CASE WHEN p.id IS NULL OR n.id IS NULL THEN []
                    ELSE list_filter([{changed_list}], lambda x: x IS NOT NULL) END,
               ?
        FROM catalogue.service n FULL OUTER JOIN previous.service p ON n.id = p.id
        WHERE p.id IS NULL OR n.id IS NULL
           OR len(list_filter([{changed_list}], lambda x: x IS NOT NULL)) > 0
    """, [run_id, modified])
    return dict(con.execute("SELECT change, count(*) FROM publish.change WHERE run_id = ? GROUP BY 1",
                            [run_id]).fetchall())
