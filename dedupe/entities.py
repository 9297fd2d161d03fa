"""Organisations and locations (venues), matched as entities of their own.

Services are matched by ``dedupe.matcher``; the organisations that run them and the venues they
run at are matched here, with deterministic rules in DuckDB, because for them an identifier or
an address is decisive:

* two locations are one venue when they share a UPRN, or share a postcode and their addresses
  (or names) agree, or lie within 30 m of each other with agreeing addresses;
* two organisations are one when they share a charity or company number, or have the same
  normalised name and the same website or email domain.

Outputs ``work.location_cluster`` and ``work.org_cluster`` (staging id -> cluster key, the
smallest member staging id), which ``dedupe.golden`` uses for golden organisations and
locations and for their rows in the trust register. Services at one merged venue stay apart
unless their names (and schedules) say they are one service.
"""
from __future__ import annotations

import duckdb

from dedupe.keys import install_key_macros
from warehouse.bulk import insert_rows


def _components(pairs: list[tuple[str, str]], nodes: list[str]) -> dict[str, str]:
    parent = {n: n for n in nodes}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {n: find(n) for n in nodes}


def match_locations(con: duckdb.DuckDBPyConnection) -> int:
    install_key_macros(con)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE loc_key AS
        SELECT l.id, l.source_id, name_norm(l.name) AS name, name_norm(a.address_1) AS addr,
               regexp_extract(coalesce(a.address_1, ''), '([0-9]+[a-zA-Z]?)', 1) AS num,
               pc_norm(a.postal_code) AS postcode, l.latitude AS lat, l.longitude AS lon, geo_cell(l.latitude, l.longitude) AS cell,
               CASE WHEN lower(coalesce(l.external_identifier_type, '')) LIKE '%uprn%' THEN ident_value(l.external_identifier) END AS uprn
        FROM staging.location l
        LEFT JOIN (SELECT location_id, arg_min(address_1, id) AS address_1, arg_min(postal_code, id) AS postal_code
                   FROM staging.address GROUP BY 1) a ON a.location_id = l.id
    """)
    # One equality join per rule, not one join on "rule OR rule OR rule": DuckDB can only run the
    # latter by comparing every location with every other (quadratic: 21 s at 20,000 locations).
    pairs = con.execute("""
        SELECT a.id, b.id FROM loc_key a JOIN loc_key b ON a.uprn = b.uprn AND a.id < b.id
        UNION
        SELECT a.id, b.id FROM loc_key a JOIN loc_key b ON a.postcode = b.postcode AND a.id < b.id
            AND (jaro_winkler_similarity(coalesce(a.addr, ''), coalesce(b.addr, '')) >= 0.9
                 OR (a.num <> '' AND a.num = b.num) OR a.name = b.name)
        UNION
        SELECT a.id, b.id FROM loc_key a JOIN loc_key b ON a.cell = b.cell AND a.id < b.id
            AND metres(a.lat, a.lon, b.lat, b.lon) <= 30
            AND jaro_winkler_similarity(coalesce(a.addr, ''), coalesce(b.addr, '')) >= 0.85
    """).fetchall()
    nodes = [r[0] for r in con.execute("SELECT id FROM loc_key").fetchall()]
    return _store_clusters(con, "work.location_cluster", _components(pairs, nodes))


def _store_clusters(con: duckdb.DuckDBPyConnection, table: str, roots: dict[str, str]) -> int:
    con.execute(f"CREATE OR REPLACE TABLE {table} (staging_id VARCHAR PRIMARY KEY, cluster_key VARCHAR)")
    insert_rows(con, table, ["staging_id", "cluster_key"], list(roots.items()))
    return len(set(roots.values()))


def match_organisations(con: duckdb.DuckDBPyConnection) -> int:
    install_key_macros(con)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE org_key AS
        SELECT o.id, name_norm(o.name) AS name, web_key(o.website) AS web, email_domain_key(o.email) AS mail,
               coalesce(list(DISTINCT ident_norm(coalesce(i.identifier_type, i.identifier_scheme), i.identifier))
                        FILTER (WHERE ident_norm(coalesce(i.identifier_type, i.identifier_scheme), i.identifier) IS NOT NULL), []) AS ids
        FROM staging.organization o LEFT JOIN staging.organization_identifier i ON i.organization_id = o.id
        GROUP BY o.id, o.name, o.website, o.email
    """)
    # Equality joins, one per rule (see match_locations).
    pairs = con.execute("""
        WITH org_id AS (SELECT id, unnest(ids) AS ident FROM org_key)
        SELECT a.id, b.id FROM org_id a JOIN org_id b ON a.ident = b.ident AND a.id < b.id
        UNION
        SELECT a.id, b.id FROM org_key a JOIN org_key b ON a.name = b.name AND a.web = b.web AND a.id < b.id
        UNION
        SELECT a.id, b.id FROM org_key a JOIN org_key b ON a.name = b.name AND a.mail = b.mail AND a.id < b.id
    """).fetchall()
    nodes = [r[0] for r in con.execute("SELECT id FROM org_key").fetchall()]
    return _store_clusters(con, "work.org_cluster", _components(pairs, nodes))


def match_entities(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {"golden_locations": match_locations(con), "golden_organizations": match_organisations(con)}
