"""First matching: services whose normalised name and postcode agree are the same service.

It fills ``work.service_cluster`` (one row per eligible staging service, with a cluster key and
the reason), the boundary that the real matcher also fills; golden ids and records are built
from it by ``dedupe.golden``.
"""
from __future__ import annotations

import json

import duckdb

from warehouse.bulk import insert_rows
from dedupe.keys import normalise_name_basic, normalise_postcode

CLUSTER_DDL = """
CREATE OR REPLACE TABLE work.service_cluster (
    staging_id        VARCHAR PRIMARY KEY,
    source_id         VARCHAR NOT NULL,
    source_record_id  VARCHAR NOT NULL,
    cluster_key       VARCHAR NOT NULL,   -- any stable key shared by the cluster's members
    match_score       DOUBLE,
    match_reason      VARCHAR
)
"""


def eligible_services_sql(run_id: str) -> str:
    """Staging services that are not quarantined in this run."""
    return f"""
        SELECT s.* FROM staging.service s
        WHERE NOT EXISTS (
            SELECT 1 FROM quality.quarantine q
            WHERE q.run_id = '{run_id}' AND q.source_id = s.source_id AND q.record_id = s.source_record_id)
    """


def service_postcodes(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """First postcode of each staging service's locations."""
    rows = con.execute("""
        SELECT sal.service_id, min(a.postal_code)
        FROM staging.service_at_location sal
        JOIN staging.address a ON a.location_id = sal.location_id AND a.source_id = sal.source_id
        GROUP BY 1
    """).fetchall()
    return {sid: pc for sid, pc in rows}


def match_exact(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    con.execute("CREATE SCHEMA IF NOT EXISTS work")
    con.execute(CLUSTER_DDL)
    services = con.execute(f"SELECT id, source_id, source_record_id, name FROM ({eligible_services_sql(run_id)}) ORDER BY id").fetchall()
    postcodes = service_postcodes(con)
    clusters: dict[tuple, list[tuple]] = {}
    singles = []
    for sid, source_id, rid, name in services:
        n, pc = normalise_name_basic(name), normalise_postcode(postcodes.get(sid))
        if n and pc:
            clusters.setdefault((n, pc), []).append((sid, source_id, rid))
        else:
            singles.append((sid, source_id, rid))
    rows = []
    for (n, pc), members in clusters.items():
        key = min(m[0] for m in members)
        for m in members:
            founding = m[0] == key
            reason = {"rule": "exact", "name": n, "postcode": pc} if not founding else {"rule": "founding record"}
            rows.append((m[0], m[1], m[2], key, 1.0, json.dumps(reason)))
    for sid, source_id, rid in singles:
        rows.append((sid, source_id, rid, sid, 1.0, json.dumps({"rule": "founding record"})))
    if rows:
        insert_rows(con, "work.service_cluster",
                    ["staging_id", "source_id", "source_record_id", "cluster_key", "match_score", "match_reason"], rows)
    return len({r[3] for r in rows})
