"""Golden records: stable ids for clusters, field-by-field survivorship, conflicts, trust register.

Input: ``work.service_cluster`` (filled by a matcher) and ``staging.*``. Output: the
``catalogue.*`` ORUK tables, ``catalogue.service_source``, ``catalogue.field_provenance``,
``catalogue.conflict`` and ``catalogue.replaced_by``.
"""
from __future__ import annotations

import json
import uuid

import duckdb

from connectors.staging import PLACECAT_NS
from warehouse.bulk import insert_rows
from warehouse.model import ORUK_TABLES, oruk_columns

ROLE_RANK = {"owner": 0, "regulator": 1, "assurer": 2, "none": 3}

# Fields compared for catalogue.conflict (normalised before comparing, so that case and spacing
# differences are not reported as disagreements).
CONFLICT_FIELDS = ("name", "description", "url", "email", "status", "minimum_age", "maximum_age", "fees")

ENTITY_CLUSTER_DDL = "CREATE TABLE IF NOT EXISTS work.{table} (staging_id VARCHAR PRIMARY KEY, cluster_key VARCHAR)"

DET_UUID_MACRO = """
CREATE OR REPLACE MACRO det_uuid(x) AS (
    substr(md5(x), 1, 8) || '-' || substr(md5(x), 9, 4) || '-5' || substr(md5(x), 14, 3) || '-8'
    || substr(md5(x), 18, 3) || '-' || substr(md5(x), 21, 12))
"""


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                            "AND schema_name = ? AND table_name = ?", [schema, table]).fetchone()[0])


def assign_golden_ids(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Give every cluster a golden id that survives from night to night while the cluster does.

    A cluster inherits the previous golden id held by most of its members; each previous id goes
    to one cluster only (the one that kept most of its members). New clusters get an id derived
    from their key, so a re-run on the same data gives the same ids.
    """
    keys = [r[0] for r in con.execute("SELECT DISTINCT cluster_key FROM work.service_cluster ORDER BY 1").fetchall()]
    inherited: dict[str, str] = {}
    if _table_exists(con, "previous", "service_source"):
        votes = con.execute("""
            SELECT c.cluster_key, p.service_id, count(*) AS n
            FROM work.service_cluster c
            JOIN previous.service_source p USING (source_id, source_record_id)
            GROUP BY 1, 2 ORDER BY n DESC, 2, 1
        """).fetchall()
        used: set[str] = set()
        for key, prev_id, _n in votes:
            if key in inherited or prev_id in used:
                continue
            inherited[key] = prev_id
            used.add(prev_id)
    else:
        used = set()
    rows = []
    for key in keys:
        gid = inherited.get(key)
        if gid is None:
            gid = str(uuid.uuid5(PLACECAT_NS, f"golden-service/{key}"))
            while gid in used:
                gid = str(uuid.uuid5(PLACECAT_NS, f"golden-service/{key}/{gid}"))
        used.add(gid)
        rows.append((key, gid))
    record_id_events(con, dict(rows))
    con.execute("CREATE OR REPLACE TABLE work.golden_id (cluster_key VARCHAR PRIMARY KEY, service_id VARCHAR)")
    if rows:
        insert_rows(con, "work.golden_id", ["cluster_key", "service_id"], rows)  # executemany: 16 s per 17,000 rows
    return {"clusters": len(keys), "inherited": len(inherited)}


ID_EVENT_DDL = """
CREATE TABLE IF NOT EXISTS catalogue.id_event (
    run_id              VARCHAR,
    event               VARCHAR,   -- split: a golden service's records now form several; merge: several now form one
    service_id          VARCHAR,   -- the golden id that lives on
    related_service_id  VARCHAR,   -- split: the previous id the records came from; merge: the previous id absorbed
    records             BIGINT     -- source records that moved
)
"""


def record_id_events(con: duckdb.DuckDBPyConnection, golden_of: dict[str, str]) -> None:
    """Splits and merges of golden services since the previous run, for the trust register."""
    con.execute(ID_EVENT_DDL)
    if not _table_exists(con, "previous", "service_source"):
        return
    run = con.execute("SELECT run_id FROM ops.run ORDER BY started_at DESC LIMIT 1").fetchone()
    run_id = run[0] if run else None
    con.execute("DELETE FROM catalogue.id_event WHERE run_id = ?", [run_id])
    moves = con.execute("""
        SELECT c.cluster_key, p.service_id, count(*) FROM work.service_cluster c
        JOIN previous.service_source p USING (source_id, source_record_id) GROUP BY 1, 2
    """).fetchall()
    clusters_of: dict[str, list[tuple[str, int]]] = {}
    previous_in: dict[str, list[tuple[str, int]]] = {}
    for key, prev, n in moves:
        clusters_of.setdefault(prev, []).append((key, n))
        previous_in.setdefault(key, []).append((prev, n))
    events = []
    for prev, parts in clusters_of.items():
        if len(parts) > 1:
            for key, n in parts:
                if golden_of[key] != prev:
                    events.append((run_id, "split", golden_of[key], prev, n))
    for key, prevs in previous_in.items():
        if len(prevs) > 1:
            for prev, n in prevs:
                if golden_of[key] != prev:
                    events.append((run_id, "merge", golden_of[key], prev, n))
    if events:
        insert_rows(con, "catalogue.id_event", ["run_id", "event", "service_id", "related_service_id", "records"], events)


def rank_members(con: duckdb.DuckDBPyConnection) -> None:
    """Order each cluster's members: provenance role, then freshness, then completeness."""
    completeness = " + ".join(f"(CASE WHEN s.\"{c}\" IS NOT NULL THEN 1 ELSE 0 END)" for c in oruk_columns("service"))
    role_case = " ".join(f"WHEN '{r}' THEN {n}" for r, n in ROLE_RANK.items())
    con.execute(f"""
        CREATE OR REPLACE TABLE work.member AS
        SELECT g.service_id, c.staging_id, c.source_id, c.source_record_id, c.match_score, c.match_reason,
               row_number() OVER (
                   PARTITION BY g.service_id
                   ORDER BY CASE coalesce(src.role, 'none') {role_case} ELSE 9 END,
                            coalesce(s.assured_date, CAST(s.last_modified AS DATE)) DESC NULLS LAST,
                            ({completeness}) DESC, c.source_id, c.source_record_id) AS rnk
        FROM work.service_cluster c
        JOIN work.golden_id g USING (cluster_key)
        JOIN staging.service s ON s.id = c.staging_id
        LEFT JOIN ops.source src ON src.source_id = c.source_id
    """)


def build_services(con: duckdb.DuckDBPyConnection) -> None:
    fields = [c for c in oruk_columns("service") if c not in ("id", "organization_id")]
    picks = ",\n".join(
        f"arg_min(s.\"{f}\", m.rnk) FILTER (WHERE s.\"{f}\" IS NOT NULL) AS \"{f}\"" for f in fields)
    con.execute(f"""
        CREATE OR REPLACE TABLE work.golden_service AS
        SELECT m.service_id AS id,
               arg_min(s.organization_id, m.rnk) FILTER (WHERE s.organization_id IS NOT NULL) AS staging_org_id,
               {picks}
        FROM work.member m JOIN staging.service s ON s.id = m.staging_id
        GROUP BY m.service_id
    """)
    prov = " UNION ALL ".join(
        f"SELECT m.service_id, '{f}' AS field, arg_min(m.source_id, m.rnk) AS source_id, "
        f"arg_min(m.source_record_id, m.rnk) AS source_record_id FROM work.member m "
        f"JOIN staging.service s ON s.id = m.staging_id WHERE s.\"{f}\" IS NOT NULL GROUP BY m.service_id"
        for f in fields)
    con.execute("DELETE FROM catalogue.field_provenance")
    con.execute(f"INSERT INTO catalogue.field_provenance {prov}")
    con.execute("DELETE FROM catalogue.service_source")
    con.execute("""
        INSERT INTO catalogue.service_source
        SELECT service_id, source_id, source_record_id, staging_id, match_score, match_reason FROM work.member
    """)


def _best_member_with(con: duckdb.DuckDBPyConnection, table: str, fk: str) -> str:
    """SQL for (service_id, staging service id) of the best-ranked member that has rows in table."""
    return f"""
        SELECT m.service_id, arg_min(m.staging_id, m.rnk) AS staging_id
        FROM work.member m
        WHERE EXISTS (SELECT 1 FROM staging.{table} t WHERE t.{fk} = m.staging_id)
        GROUP BY m.service_id
    """


def _entity_map_sql(entity: str, cluster_table: str) -> str:
    """staging id -> golden id (+ whether it is the representative) for organisations or locations.

    A cluster keeps the golden id that most of its members had in the previous catalogue (the trust
    register), so a new member does not change it; its representative row is last night's
    representative when it is still a member (else a member that was already there), so the golden
    row does not change either: not the night a member arrives, nor the nights after, when the
    newcomer has a previous id too and would otherwise win on its staging id.
    """
    return f"""
        WITH cl AS (
            SELECT t.id AS staging_id, t.source_id, t.source_record_id, coalesce(c.cluster_key, t.id) AS key
            FROM staging.{entity} t LEFT JOIN work.{cluster_table} c ON c.staging_id = t.id),
        prev AS (
            SELECT cl.staging_id, p.replaced_by_id AS pid, starts_with(p.reason, 'preferred record') AS was_rep FROM cl
            JOIN previous_register p ON p.entity = '{entity}' AND p.source_id = cl.source_id AND p.source_record_id = cl.source_record_id),
        votes AS (SELECT cl.key, prev.pid, count(*) AS n FROM cl JOIN prev USING (staging_id) GROUP BY 1, 2),
        inherit AS (SELECT key, arg_max(pid, n) AS pid FROM votes GROUP BY key)
        SELECT cl.staging_id, coalesce(inherit.pid, det_uuid('{entity}/' || cl.key)) AS id,
               row_number() OVER (PARTITION BY cl.key ORDER BY NOT coalesce(prev.was_rep AND prev.pid = inherit.pid, false),
                                  (prev.pid IS NULL), cl.staging_id) = 1 AS rep
        FROM cl LEFT JOIN inherit USING (key) LEFT JOIN prev USING (staging_id)
    """


def build_children(con: duckdb.DuckDBPyConnection) -> None:
    """Copy each golden service's child objects from its best member that has them."""
    for table in ORUK_TABLES:
        con.execute(f"DELETE FROM catalogue.{table}")

    if _table_exists(con, "previous", "replaced_by"):
        con.execute("CREATE OR REPLACE TEMP VIEW previous_register AS SELECT * FROM previous.replaced_by")
    else:
        con.execute("CREATE OR REPLACE TEMP VIEW previous_register AS SELECT * FROM catalogue.replaced_by WHERE false")
    # Organisations: one golden organisation per matched organisation (dedupe.entities) that a
    # golden service uses; its row comes from the cluster's representative, its identifiers from all.
    con.execute(ENTITY_CLUSTER_DDL.format(table="org_cluster"))
    con.execute("""
        CREATE OR REPLACE TABLE work.org_map AS
        """ + _entity_map_sql("organization", "org_cluster") + """
    """)
    org_cols = [c for c in oruk_columns("organization") if c not in ("id", "parent_organization_id")]
    con.execute(f"""
        INSERT INTO catalogue.organization (id, {', '.join(org_cols)})
        SELECT om.id, {', '.join('o.' + c for c in org_cols)}
        FROM work.org_map om JOIN staging.organization o ON o.id = om.staging_id
        WHERE om.rep AND om.id IN (SELECT m.id FROM work.golden_service g JOIN work.org_map m ON m.staging_id = g.staging_org_id)
    """)
    oi_cols = [c for c in oruk_columns("organization_identifier") if c not in ("id", "organization_id")]
    con.execute(f"""
        INSERT INTO catalogue.organization_identifier (id, organization_id, {', '.join(oi_cols)})
        SELECT DISTINCT ON (om.id, i.identifier_type, i.identifier)
               det_uuid('organization_identifier/' || om.id || '/' || coalesce(i.identifier_type, '') || '/' || i.identifier),
               om.id, {', '.join('i.' + c for c in oi_cols)}
        FROM staging.organization_identifier i JOIN work.org_map om ON om.staging_id = i.organization_id
        WHERE om.id IN (SELECT id FROM catalogue.organization)
    """)
    svc_cols = [c for c in oruk_columns("service") if c not in ("id", "organization_id")]
    con.execute(f"""
        INSERT INTO catalogue.service (id, organization_id, {', '.join(svc_cols)})
        SELECT g.id, om.id, {', '.join('g.' + c for c in svc_cols)}
        FROM work.golden_service g LEFT JOIN work.org_map om ON om.staging_id = g.staging_org_id
    """)

    # Tables hanging directly off a service.
    for table in ("schedule", "service_area", "language", "funding", "cost_option", "contact"):
        cols = [c for c in oruk_columns(table) if c not in ("id", "service_id", "service_at_location_id",
                                                             "organization_id", "location_id", "phone_id")]
        con.execute(f"""
            INSERT INTO catalogue.{table} (id, service_id, {', '.join(cols)})
            SELECT det_uuid('{table}/' || b.service_id || '/' || t.id), b.service_id, {', '.join('t.' + c for c in cols)}
            FROM ({_best_member_with(con, table, 'service_id')}) b
            JOIN staging.{table} t ON t.service_id = b.staging_id
        """)
    # Phones: of the member whose contacts were kept, or the service's own phones.
    con.execute("""
        INSERT INTO catalogue.phone (id, contact_id, service_id, number, description)
        SELECT det_uuid('phone/' || b.service_id || '/' || p.id),
               CASE WHEN p.contact_id IS NOT NULL THEN det_uuid('contact/' || b.service_id || '/' || p.contact_id) END,
               b.service_id, p.number, p.description
        FROM (""" + _best_member_with(con, "phone", "service_id") + """) b
        JOIN staging.phone p ON p.service_id = b.staging_id
    """)

    # Locations: the best member's service_at_locations; one golden location per staging location.
    con.execute(f"""
        CREATE OR REPLACE TABLE work.sal AS
        SELECT b.service_id, sal.id AS staging_sal_id, sal.location_id AS staging_location_id
        FROM ({_best_member_with(con, 'service_at_location', 'service_id')}) b
        JOIN staging.service_at_location sal ON sal.service_id = b.staging_id
    """)
    # One golden location per matched venue (dedupe.entities); its rows come from the representative.
    con.execute(ENTITY_CLUSTER_DDL.format(table="location_cluster"))
    con.execute("""
        CREATE OR REPLACE TABLE work.location_map AS
        """ + _entity_map_sql("location", "location_cluster") + """
    """)
    con.execute("""
        INSERT INTO catalogue.service_at_location (id, service_id, location_id)
        SELECT DISTINCT ON (s.service_id, lm.id) det_uuid('service_at_location/' || s.service_id || '/' || s.staging_sal_id), s.service_id, lm.id
        FROM work.sal s JOIN work.location_map lm ON lm.staging_id = s.staging_location_id
    """)
    loc_cols = [c for c in oruk_columns("location") if c != "id"]
    con.execute(f"""
        INSERT INTO catalogue.location (id, {', '.join(loc_cols)})
        SELECT lm.id, {', '.join('l.' + c for c in loc_cols)}
        FROM work.location_map lm JOIN staging.location l ON l.id = lm.staging_id
        WHERE lm.rep AND lm.id IN (SELECT location_id FROM catalogue.service_at_location)
    """)
    for table in ("address", "accessibility"):
        cols = [c for c in oruk_columns(table) if c not in ("id", "location_id")]
        con.execute(f"""
            INSERT INTO catalogue.{table} (id, location_id, {', '.join(cols)})
            SELECT det_uuid('{table}/' || t.id), lm.id, {', '.join('t.' + c for c in cols)}
            FROM staging.{table} t JOIN work.location_map lm ON lm.staging_id = t.location_id
            WHERE lm.rep AND lm.id IN (SELECT id FROM catalogue.location)
        """)

    # Taxonomy: the attributes of the best member that has any, with their terms and taxonomies.
    con.execute(f"""
        CREATE OR REPLACE TABLE work.attr AS
        SELECT b.service_id, a.*
        FROM ({_best_member_with(con, 'attribute', 'link_id')}) b
        JOIN staging.attribute a ON a.link_id = b.staging_id
    """)
    con.execute("""
        INSERT INTO catalogue.attribute (id, link_id, taxonomy_term_id, link_type, link_entity, value)
        SELECT det_uuid('attribute/' || service_id || '/' || id), service_id,
               CASE WHEN taxonomy_term_id IS NOT NULL THEN det_uuid('taxonomy_term/' || taxonomy_term_id) END,
               link_type, 'service', value
        FROM work.attr
    """)
    term_cols = [c for c in oruk_columns("taxonomy_term") if c not in ("id", "parent_id", "taxonomy_id")]
    # The terms services point at and all their broader terms, so that every parent_id republished
    # resolves (an OpenActive activity's hierarchy is how consumers roll "Aqua Aerobics" up to "Swimming").
    con.execute("""
        CREATE OR REPLACE TEMP TABLE used_term AS
        WITH RECURSIVE used(id) AS (
            SELECT DISTINCT taxonomy_term_id FROM work.attr WHERE taxonomy_term_id IS NOT NULL
            UNION
            SELECT t.parent_id FROM staging.taxonomy_term t JOIN used u ON t.id = u.id WHERE t.parent_id IS NOT NULL)
        SELECT id FROM used
    """)
    con.execute(f"""
        INSERT INTO catalogue.taxonomy_term (id, parent_id, taxonomy_id, {', '.join(term_cols)})
        SELECT det_uuid('taxonomy_term/' || t.id),
               CASE WHEN t.parent_id IS NOT NULL THEN det_uuid('taxonomy_term/' || t.parent_id) END,
               CASE WHEN t.taxonomy_id IS NOT NULL THEN det_uuid('taxonomy/' || t.taxonomy_id) END,
               {', '.join('t.' + c for c in term_cols)}
        FROM staging.taxonomy_term t WHERE t.id IN (SELECT id FROM used_term)
    """)
    tax_cols = [c for c in oruk_columns("taxonomy") if c != "id"]
    con.execute(f"""
        INSERT INTO catalogue.taxonomy (id, {', '.join(tax_cols)})
        SELECT det_uuid('taxonomy/' || t.id), {', '.join('t.' + c for c in tax_cols)}
        FROM staging.taxonomy t WHERE t.id IN (
            SELECT taxonomy_id FROM staging.taxonomy_term WHERE id IN (SELECT id FROM used_term))
    """)


def record_conflicts_and_trust(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DELETE FROM catalogue.conflict")
    for f in CONFLICT_FIELDS:
        norm = f"lower(trim(regexp_replace(CAST(s.\"{f}\" AS VARCHAR), '\\s+', ' ', 'g')))"
        con.execute(f"""
            INSERT INTO catalogue.conflict
            SELECT m.service_id, '{f}', m.source_id, m.source_record_id, CAST(s."{f}" AS VARCHAR),
                   p.source_id = m.source_id AND p.source_record_id = m.source_record_id
            FROM work.member m JOIN staging.service s ON s.id = m.staging_id
            LEFT JOIN catalogue.field_provenance p ON p.service_id = m.service_id AND p.field = '{f}'
            WHERE m.service_id IN (
                SELECT m2.service_id FROM work.member m2 JOIN staging.service s2 ON s2.id = m2.staging_id
                GROUP BY 1 HAVING count(DISTINCT {norm.replace('s.', 's2.')}) > 1)
        """)
    con.execute("DELETE FROM catalogue.replaced_by WHERE entity = 'service'")
    con.execute("""
        INSERT INTO catalogue.replaced_by
        SELECT 'service', m.source_id, m.source_record_id, m.service_id,
               CASE WHEN m.rnk = 1 THEN 'preferred record of its golden service'
                    ELSE 'merged into the golden service; the preferred record comes from '
                         || (SELECT m1.source_id FROM work.member m1 WHERE m1.service_id = m.service_id AND m1.rnk = 1) END
        FROM work.member m
    """)


def record_entity_trust(con: duckdb.DuckDBPyConnection) -> None:
    """Trust register rows for organisations and locations: each source record and its golden record."""
    con.execute("DELETE FROM catalogue.replaced_by WHERE entity IN ('organization', 'location')")
    for entity, table, mapping in (("organization", "organization", "org_map"), ("location", "location", "location_map")):
        con.execute(f"""
            INSERT INTO catalogue.replaced_by
            SELECT '{entity}', t.source_id, t.source_record_id, m.id,
                   CASE WHEN m.rep THEN 'preferred record of its golden {entity}'
                        ELSE 'the same {entity} as ' || r.source_id || '/' || r.source_record_id
                             || ' ({"shared identifier, or same name and web or email domain" if entity == "organization" else "shared UPRN, or same postcode and address, or within 30 m"})' END
            FROM work.{mapping} m JOIN staging.{table} t ON t.id = m.staging_id
            JOIN work.{mapping} m2 ON m2.id = m.id AND m2.rep JOIN staging.{table} r ON r.id = m2.staging_id
        """)


def golden_id_churn(con: duckdb.DuckDBPyConnection) -> dict[str, int] | None:
    """How far tonight's golden ids moved from last night's (None on a first night).

    ``moved`` counts the source records present both nights whose golden service id differs: what a
    consumer who stored an id per record sees change. It is 0 when nothing changed, and a changed
    night should move at most ``changed`` records (new, changed in a matched field, or gone: a
    merge moves the records of the side whose id retires). ``retired`` counts last night's ids no
    longer served (their records gone, or merged into another service: see catalogue.id_event).
    """
    if not _table_exists(con, "previous", "service_source"):
        return None
    moved, both = con.execute("""
        SELECT count(*) FILTER (WHERE m.service_id <> p.service_id), count(*)
        FROM work.member m JOIN previous.service_source p USING (source_id, source_record_id)""").fetchone()
    retired, new = con.execute("""
        WITH now AS (SELECT DISTINCT service_id FROM work.member),
             before AS (SELECT DISTINCT service_id FROM previous.service_source)
        SELECT (SELECT count(*) FROM before ANTI JOIN now USING (service_id)),
               (SELECT count(*) FROM now ANTI JOIN before USING (service_id))""").fetchone()
    counted = con.execute("SELECT new_or_changed + gone FROM work.night_changes").fetchone() \
        if _table_exists(con, "work", "night_changes") else None
    if counted is not None:     # the matcher counted the records new, changed in a matched field, or gone
        changed = counted[0]
    else:                       # records new or gone, by their ids
        changed = con.execute("""
            SELECT count(*) FROM (SELECT source_id, source_record_id FROM work.member) n
            FULL JOIN previous.service_source p USING (source_id, source_record_id)
            WHERE n.source_id IS NULL OR p.source_id IS NULL""").fetchone()[0]
    return {"records_both_nights": both, "moved": moved, "retired": retired, "new": new, "changed": changed}


def build_golden_records(con: duckdb.DuckDBPyConnection, run_id: str | None = None) -> dict:
    """The catalogue from work.service_cluster and staging. With ``run_id``, the golden-id churn
    (``golden_id_churn``) is added to that run's ``ops.run.summary`` for the night's summary."""
    con.execute(DET_UUID_MACRO)
    ids = assign_golden_ids(con)
    rank_members(con)
    build_services(con)
    build_children(con)
    record_conflicts_and_trust(con)
    record_entity_trust(con)
    golden = con.execute("SELECT count(*) FROM catalogue.service").fetchone()[0]
    members = con.execute("SELECT count(*) FROM catalogue.service_source").fetchone()[0]
    churn = golden_id_churn(con)
    if churn is not None and run_id is not None:
        con.execute("UPDATE ops.run SET summary = json_merge_patch(coalesce(summary, '{}'), ?) WHERE run_id = ?",
                    [json.dumps({"golden_id_churn": churn}), run_id])
    return {"golden_services": golden, "source_records": members, "duplicates_merged": members - golden, **ids,
            **({"golden_id_churn": churn} if churn is not None else {})}
