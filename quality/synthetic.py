"""Staging data made up in bulk with SQL, for the quality tests and the benchmark.

``make_staging(con, services=N)`` fills a fresh build schema with N well-formed services per
source (organisation, location in Leeds with an address, phone, schedule, contact, taxonomy
term), every one of which passes every staging rule; tests then break one value at a time.
"""
from __future__ import annotations

import duckdb

from warehouse.schema import create_all


def make_staging(con: duckdb.DuckDBPyConnection, services: int = 1, sources: tuple[str, ...] = ("src-a",),
                 kind: str = "oruk") -> None:
    create_all(con)
    for s in sources:
        con.execute("INSERT INTO ops.source (source_id, kind, publisher, role, locator) VALUES (?, ?, 'Publisher', 'owner', NULL)", [s, kind])
        con.execute("""INSERT INTO ops.source_status (run_id, source_id, kind, status, snapshot_version, records_in)
                       VALUES ('run-1', ?, ?, 'ok', 'v1', ?)""", [s, kind, services])
    con.execute("INSERT INTO ops.run (run_id, started_at, status) VALUES ('run-1', now()::TIMESTAMP, 'building')")
    src = "(SELECT unnest(?::VARCHAR[]) AS source_id)"
    # md5-based UUIDs: deterministic, distinct per source and row.
    u = "CAST(md5({x}) AS UUID)::VARCHAR"
    params = [list(sources), services]
    con.execute(f"""
        INSERT INTO staging.organization (id, name, email, website, source_id, source_record_id)
        SELECT {u.format(x="source_id || '/org/' || i")}, 'Organisation ' || i, 'info@org' || i || '.org.uk',
               'https://org' || i || '.org.uk/', source_id, 'org-' || i
        FROM {src}, range(?) t(i)""", params)
    con.execute(f"""
        INSERT INTO staging.service (id, organization_id, name, description, url, email, status, minimum_age, maximum_age,
                                     assured_date, last_modified, source_id, source_record_id)
        SELECT {u.format(x="source_id || '/svc/' || i")}, {u.format(x="source_id || '/org/' || i")},
               'Service ' || i, '<p>Support and advice for families in Leeds, number ' || i || '.</p>',
               'https://service' || i || '.org.uk/', 'hello@service' || i || '.org.uk', 'active', 5, 18,
               current_date - 30, now()::TIMESTAMP - INTERVAL 10 DAY, source_id, {u.format(x="source_id || '/rec/' || i")}
        FROM {src}, range(?) t(i)""", params)
    svc = u.format(x="source_id || '/svc/' || i")
    loc = u.format(x="source_id || '/loc/' || i")
    con.execute(f"""
        INSERT INTO staging.location (id, location_type, name, latitude, longitude, source_id, source_record_id)
        SELECT {loc}, 'physical', 'Community centre ' || i, 53.7997, -1.5492, source_id, 'loc-' || i
        FROM {src}, range(?) t(i)""", params)
    con.execute(f"""
        INSERT INTO staging.address (id, location_id, address_1, city, postal_code, country, address_type, source_id, source_record_id)
        SELECT {u.format(x="source_id || '/addr/' || i")}, {loc}, i || ' Park Row', 'Leeds', 'LS1 5HD', 'GB', 'physical',
               source_id, 'addr-' || i
        FROM {src}, range(?) t(i)""", params)
    con.execute(f"""
        INSERT INTO staging.service_at_location (id, service_id, location_id, source_id, source_record_id)
        SELECT {u.format(x="source_id || '/sal/' || i")}, {svc}, {loc}, source_id, 'sal-' || i FROM {src}, range(?) t(i)""", params)
    con.execute(f"""
        INSERT INTO staging.phone (id, service_id, number, source_id, source_record_id)
        SELECT {u.format(x="source_id || '/phone/' || i")}, {svc}, '0113 222 ' || lpad(CAST(i % 10000 AS VARCHAR), 4, '0'),
               source_id, 'phone-' || i FROM {src}, range(?) t(i)""", params)
    con.execute(f"""
        INSERT INTO staging.schedule (id, service_id, freq, byday, opens_at, closes_at, valid_from, valid_to, schedule_link,
                                      source_id, source_record_id)
        SELECT {u.format(x="source_id || '/sched/' || i")}, {svc}, 'WEEKLY', 'MO,WE', TIME '09:00', TIME '17:00',
               DATE '2026-01-01', DATE '2026-12-31', 'https://service' || i || '.org.uk/times', source_id, 'sched-' || i
        FROM {src}, range(?) t(i)""", params)
    con.execute(f"""
        INSERT INTO staging.contact (id, service_id, name, title, email, source_id, source_record_id)
        SELECT {u.format(x="source_id || '/contact/' || i")}, {svc}, 'Reception', 'Duty team', 'reception@service' || i || '.org.uk',
               source_id, 'contact-' || i FROM {src}, range(?) t(i)""", params)
    con.execute(f"""
        INSERT INTO staging.taxonomy_term (id, name, taxonomy, source_id, source_record_id)
        SELECT {u.format(x="source_id || '/term/' || i")}, 'Family support', 'esdServiceTypes', source_id, 'term-' || i
        FROM {src}, range(?) t(i)""", params)
    con.execute(f"""
        INSERT INTO staging.attribute (id, link_id, taxonomy_term_id, link_type, link_entity, source_id, source_record_id)
        SELECT {u.format(x="source_id || '/attr/' || i")}, {svc}, {u.format(x="source_id || '/term/' || i")}, 'service',
               'service', source_id, 'attr-' || i FROM {src}, range(?) t(i)""", params)
