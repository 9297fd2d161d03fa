"""Gap analysis tables (``gap.*``).

``gap.overlap`` compares every pair of sources: services in both, services only in each, and
the fields on which the shared services conflict (the Hull study, done every night).
"""
from __future__ import annotations

import duckdb

OVERLAP_DDL = """
CREATE OR REPLACE TABLE gap.overlap (
    source_a            VARCHAR NOT NULL,
    source_b            VARCHAR NOT NULL,
    services_a          BIGINT,     -- golden services listed by source_a
    services_b          BIGINT,
    in_both             BIGINT,     -- golden services listed by both
    only_a              BIGINT,
    only_b              BIGINT,
    conflicting_fields  BIGINT      -- (service, field) pairs where a and b disagree
)
"""


def build_overlap(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(OVERLAP_DDL)
    con.execute("""
        INSERT INTO gap.overlap
        WITH per AS (SELECT DISTINCT source_id, service_id FROM catalogue.service_source),
        sizes AS (SELECT source_id, count(*) AS n FROM per GROUP BY 1),
        pairs AS (SELECT a.source_id AS source_a, b.source_id AS source_b FROM sizes a, sizes b
                  WHERE a.source_id < b.source_id),
        shared AS (SELECT a.source_id AS source_a, b.source_id AS source_b, count(*) AS n
                   FROM per a JOIN per b ON a.service_id = b.service_id AND a.source_id < b.source_id
                   GROUP BY 1, 2),
        conflicts AS (SELECT a.source_id AS source_a, b.source_id AS source_b, count(*) AS n
                      FROM catalogue.conflict a JOIN catalogue.conflict b
                        ON a.service_id = b.service_id AND a.field = b.field AND a.source_id < b.source_id
                       AND a.value IS DISTINCT FROM b.value
                      GROUP BY 1, 2)
        SELECT p.source_a, p.source_b, sa.n, sb.n, coalesce(s.n, 0), sa.n - coalesce(s.n, 0),
               sb.n - coalesce(s.n, 0), coalesce(c.n, 0)
        FROM pairs p JOIN sizes sa ON sa.source_id = p.source_a JOIN sizes sb ON sb.source_id = p.source_b
        LEFT JOIN shared s USING (source_a, source_b) LEFT JOIN conflicts c USING (source_a, source_b)
    """)
    return con.execute("SELECT count(*) FROM gap.overlap").fetchone()[0]


def build_gap_tables(con: duckdb.DuckDBPyConnection) -> dict:
    return {"overlap_pairs": build_overlap(con)}
