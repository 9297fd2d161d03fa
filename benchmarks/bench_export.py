"""`placecat export` of a 100,000-service catalogue: static API, tabular data package and Parquet.

    .venv/bin/python benchmarks/bench_export.py [--services 100000] [--repeat 3] [--keep-db FILE]

The catalogue is generated straight into a DuckDB file with the catalogue schema
(``warehouse.schema.create_all``): 100,000 golden services from 5,000 organisations at 60,000
locations (one address each), each with a schedule, a contact with a phone, a taxonomy term
(of 100), 1-2 source records in the trust register and field provenance, and an 'added' row in
the change log. Timed: ``export_catalogue`` end to end (loading the published copy with HTML
sanitising, every service's JSON, 200,000 per-id files, pages, the full dump, CSV per table,
Parquet, fsync and the atomic switch). Prints each run and the median; target < 60 s on 2 cores.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402

from warehouse.schema import create_all  # noqa: E402

UUID = ("substr(md5({x}), 1, 8) || '-' || substr(md5({x}), 9, 4) || '-5' || substr(md5({x}), 14, 3) || '-8' "
        "|| substr(md5({x}), 18, 3) || '-' || substr(md5({x}), 21, 12)")


def uid(kind: str, expr: str = "i") -> str:
    return UUID.format(x=f"'{kind}/' || {expr}")


def generate_catalogue(path: Path, services: int = 100_000) -> Path:
    """A published-catalogue-shaped DuckDB file with ``services`` golden services (written directly)."""
    if path.exists():
        path.unlink()
    orgs, locs = max(1, services // 20), max(1, services * 3 // 5)
    con = duckdb.connect(str(path))
    create_all(con)
    run = f"""
    INSERT INTO catalogue.organization (id, name, description, website)
        SELECT {uid('org')}, 'Organisation ' || i, 'A local charity number ' || i, 'https://org' || i || '.example.org'
        FROM range({orgs}) t(i);
    INSERT INTO catalogue.service (id, organization_id, name, description, url, email, status, minimum_age, maximum_age,
                                   assured_date, last_modified)
        SELECT {uid('svc')}, {uid('org', 'i % ' + str(orgs))},
               ['Food bank', 'Youth club', 'Debt advice', 'Memory cafe', 'Walking group', 'Carers support'][1 + i % 6]
                 || ' ' || i,
               '<p>Free, friendly help for <b>everyone</b> in the area. Session ' || i || '.</p>',
               'https://svc' || i || '.example.org', 'info@svc' || i || '.example.org',
               CASE WHEN i % 50 = 0 THEN 'inactive' ELSE 'active' END,
               CASE WHEN i % 4 = 0 THEN 11 END, CASE WHEN i % 4 = 0 THEN 19 END,
               DATE '2026-01-01' + CAST(i % 300 AS INTEGER), TIMESTAMP '2026-10-01 09:00:00' + to_seconds(i)
        FROM range({services}) t(i);
    INSERT INTO catalogue.location (id, location_type, name, latitude, longitude)
        SELECT {uid('loc')}, 'physical', 'Community centre ' || i, 50.5 + (i % 1000) / 250.0, -4.5 + (i // 1000) / 20.0
        FROM range({locs}) t(i);
    INSERT INTO catalogue.address (id, location_id, address_1, city, state_province, postal_code, country, address_type)
        SELECT {uid('addr')}, {uid('loc')}, i || ' High Street', 'Town ' || (i % 300), 'County ' || (i % 40),
               'LS' || (1 + i % 28) || ' ' || (i % 10) || chr(CAST(65 + i % 26 AS INTEGER)) || chr(CAST(65 + (i // 26) % 26 AS INTEGER)), 'GB', 'physical'
        FROM range({locs}) t(i);
    INSERT INTO catalogue.service_at_location (id, service_id, location_id)
        SELECT {uid('sal')}, {uid('svc')}, {uid('loc', 'i % ' + str(locs))} FROM range({services}) t(i);
    INSERT INTO catalogue.schedule (id, service_id, freq, interval, byday, opens_at, closes_at)
        SELECT {uid('sch')}, {uid('svc')}, 'WEEKLY', 1, ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'][1 + i % 7],
               TIME '09:00:00' + to_minutes(30 * (i % 12)), TIME '13:00:00' + to_minutes(30 * (i % 12))
        FROM range({services}) t(i);
    INSERT INTO catalogue.contact (id, service_id, title) SELECT {uid('con')}, {uid('svc')}, 'Enquiries' FROM range({services}) t(i);
    INSERT INTO catalogue.phone (id, contact_id, service_id, number)
        SELECT {uid('ph')}, {uid('con')}, {uid('svc')}, '0113 496 ' || lpad(CAST(i % 10000 AS VARCHAR), 4, '0')
        FROM range({services}) t(i);
    INSERT INTO catalogue.taxonomy (id, name, description, uri)
        VALUES ({uid('tax', "'esd'")}, 'LGA service types', 'Local Government Services List', 'http://id.esd.org.uk/list/services');
    INSERT INTO catalogue.taxonomy_term (id, name, description, taxonomy, taxonomy_id, term_uri)
        SELECT {uid('term')}, 'Service type ' || i, 'Service type ' || i, 'esdServiceTypes', {uid('tax', "'esd'")},
               'http://id.esd.org.uk/service/' || (1000 + i)
        FROM range(100) t(i);
    INSERT INTO catalogue.attribute (id, link_id, taxonomy_term_id, link_entity)
        SELECT {uid('attr')}, {uid('svc')}, {uid('term', 'i % 100')}, 'service' FROM range({services}) t(i);
    INSERT INTO catalogue.service_source (service_id, source_id, source_record_id, staging_id, match_score, match_reason)
        SELECT {uid('svc', 'i // 2')}, ['council', 'nhs', 'vcs'][1 + i % 3], 'rec-' || i, {uid('stg')}, 1.0, '{{}}'
        FROM range({services * 3 // 2}) t(i) WHERE i // 2 < {services};
    INSERT INTO catalogue.replaced_by
        SELECT 'service', source_id, source_record_id, service_id, 'merged into the golden service' FROM catalogue.service_source;
    INSERT INTO catalogue.field_provenance
        SELECT service_id, f, source_id, source_record_id FROM catalogue.service_source,
               unnest(['name', 'description', 'url', 'email']) t(f);
    INSERT INTO ops.source (source_id, kind, publisher, role, locator) VALUES ('council', 'oruk', 'A council', 'owner', NULL), ('nhs', 'oruk', 'The NHS', 'assurer', NULL),
                                  ('vcs', 'oruk', 'A VCS directory', 'none', NULL);
    INSERT INTO ops.run (run_id, started_at, finished_at, status) VALUES ('bench-run', now(), now(), 'published');
    INSERT INTO publish.change SELECT 'bench-run', id, 'added', [], 1795000000000 FROM catalogue.service;
    CHECKPOINT;
    """
    for statement in run.split(";\n"):
        if statement.strip():
            con.execute(statement)
    con.close()
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep-db", help="write the generated catalogue here (and reuse it if it exists)")
    args = ap.parse_args()
    from warehouse.export import export_catalogue

    work = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        db = Path(args.keep_db) if args.keep_db else work / "placecat.duckdb"  # not catalogue.duckdb: that catalog name clashes with the schema
        if not db.exists():
            t = time.perf_counter()
            generate_catalogue(db, args.services)
            print(f"generated {args.services:,} services in {time.perf_counter() - t:.1f}s -> {db}")
        times, cpu = [], []
        for n in range(max(1, args.repeat)):
            t, c = time.perf_counter(), time.process_time()
            res = export_catalogue(db, work / "export", keep=1)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            files = sum(1 for _ in Path(res["version"]).rglob("*"))
            print(f"run {n + 1}: {times[-1]:.1f}s wall, {cpu[-1]:.1f}s CPU  ({res['counts']['services']:,} services, "
                  f"{res['counts']['service_at_locations']:,} at locations, {files:,} files)")
        print(f"median export time: {statistics.median(times):.1f}s wall ({statistics.median(cpu):.1f}s CPU) "
              f"for {args.services:,} services (target < 60 s on 2 cores)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
