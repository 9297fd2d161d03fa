"""Gap tables for all of England: 32,844 LSOAs, 1,000,000 services, 100 service types.

    .venv/bin/python benchmarks/bench_gap.py [--services 1000000] [--types 100] [--repeat 3] [--access-km 2]

The areas, IMD and population are the real ones from ../shared/fixtures/reference (every English
LSOA); the services are generated: each at a random LSOA, near its centroid, with one service type
(a tenth have a second one), 80 % with a postcode (joined to the postcode directory) and 20 % with
coordinates only (placed by the nearest LSOA centroid), listed by 1-3 of 5 sources. LSOA centroids
are generated around a random point per local authority (the shared files carry no coordinates
for all of England; distances therefore are not real, their cost is). Timed: ``build_gap_tables``
(location placing, coverage at 4 levels, need vs supply, access, overlap) on a fresh copy of the
catalogue each repeat. Prints each stage's median and the total's; target < 60 s on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from warehouse import gap  # noqa: E402
from warehouse.reference import create_reference_tables  # noqa: E402
from warehouse.schema import create_all  # noqa: E402

SHARED = Path(os.environ.get("PLACECAT_SHARED", REPO.parent / "shared")) / "fixtures" / "reference"


def make_reference(con: duckdb.DuckDBPyConnection, rng: np.random.Generator) -> int:
    create_reference_tables(con)
    con.execute(f"""INSERT INTO ref.lsoa_area SELECT lsoa11cd, lsoa11nm, msoa11cd, msoa11nm, lad22cd, lad22nm
                    FROM read_csv('{SHARED / 'lsoa11_msoa11_lad22_england.csv'}')""")
    con.execute(f"""INSERT INTO ref.imd SELECT lsoa11cd, lsoa11nm, lad19cd, imd_rank, imd_decile
                    FROM read_csv('{SHARED / 'imd2019_lsoa11_england.csv'}')""")
    con.execute(f"""INSERT INTO ref.population SELECT lsoa11cd, pop_total_2015, pop_0_15_2015, pop_16_59_2015, pop_60_plus_2015
                    FROM read_csv('{SHARED / 'imd2019_lsoa11_england.csv'}')""")
    lsoas = con.execute("SELECT lsoa11, lad FROM ref.lsoa_area ORDER BY lsoa11").df()
    lads = lsoas.lad.unique()
    centre = pd.DataFrame({"lad": lads, "clat": rng.uniform(50.3, 55.5, len(lads)), "clon": rng.uniform(-5.0, 1.5, len(lads))})
    lsoas = lsoas.merge(centre, on="lad")
    lsoas["latitude"] = lsoas.clat + rng.normal(0, 0.05, len(lsoas))
    lsoas["longitude"] = lsoas.clon + rng.normal(0, 0.08, len(lsoas))
    lsoas["idx"] = np.arange(len(lsoas))
    lsoas["postcode"] = [f"ZZ{i // 1000} {i % 1000:03d}" for i in range(len(lsoas))]
    con.register("lsoas_df", lsoas)
    con.execute("INSERT INTO ref.lsoa_centroid SELECT lsoa11, latitude, longitude, 'generated', 1 FROM lsoas_df")
    con.execute("""INSERT INTO ref.postcode SELECT postcode, replace(postcode, ' ', ''), NULL, lsoa11, NULL, NULL, lad, 0,
                   NULL, NULL, latitude, longitude, 'generated' FROM lsoas_df""")
    con.execute("CREATE TABLE lsoa_index AS SELECT idx, lsoa11, postcode, latitude, longitude FROM lsoas_df")
    con.unregister("lsoas_df")
    return len(lsoas)


def make_catalogue(con: duckdb.DuckDBPyConnection, n_services: int, n_types: int, n_lsoas: int) -> None:
    create_all(con)
    con.execute("SELECT setseed(0.8)")
    con.execute(f"""
        CREATE TABLE gen AS
        SELECT i, 's' || i AS id, (random() * {n_lsoas})::BIGINT % {n_lsoas} AS lsoa_idx,
               (random() * {n_types})::INT % {n_types} AS type_idx, random() AS r1, random() AS r2, random() AS r3
        FROM range({n_services}) t(i)""")
    con.execute("""INSERT INTO catalogue.service (id, name, description, status, minimum_age, maximum_age)
                   SELECT id, 'Service ' || i, CASE WHEN r1 < 0.3 THEN 'Weekly drop-in.' WHEN r1 < 0.5 THEN 'By referral only.'
                          ELSE 'Open to all.' END, 'active', CASE WHEN r2 < 0.3 THEN 60 WHEN r2 < 0.5 THEN 0 END,
                          CASE WHEN r2 BETWEEN 0.3 AND 0.5 THEN 15 END FROM gen""")
    con.execute("""INSERT INTO catalogue.location (id, location_type, latitude, longitude)
                   SELECT 'l' || g.i, 'physical', CASE WHEN g.r3 < 0.8 THEN NULL ELSE l.latitude + (g.r1 - 0.5) * 0.01 END,
                          CASE WHEN g.r3 < 0.8 THEN NULL ELSE l.longitude + (g.r2 - 0.5) * 0.01 END
                   FROM gen g JOIN lsoa_index l ON l.idx = g.lsoa_idx""")
    con.execute("""INSERT INTO catalogue.address (id, location_id, address_1, postal_code, address_type)
                   SELECT 'a' || g.i, 'l' || g.i, '1 High St', l.postcode, 'physical'
                   FROM gen g JOIN lsoa_index l ON l.idx = g.lsoa_idx WHERE g.r3 < 0.8""")
    con.execute("INSERT INTO catalogue.service_at_location (id, service_id, location_id) SELECT 'sal' || i, id, 'l' || i FROM gen")
    con.execute("""CREATE TABLE catalogue.service_type (service_id VARCHAR, esd_id VARCHAR, label VARCHAR, method VARCHAR,
                   confidence DOUBLE, rank INTEGER, keywords VARCHAR[])""")
    con.execute("""INSERT INTO catalogue.service_type SELECT id, (1000 + type_idx)::VARCHAR, 'Type ' || type_idx, 'source', 1, 1, []
                   FROM gen""")
    con.execute(f"""INSERT INTO catalogue.service_type SELECT id, (1000 + (type_idx + 7) % {n_types})::VARCHAR,
                    'Type ' || ((type_idx + 7) % {n_types}), 'inferred', 0.5, 2, [] FROM gen WHERE r1 > 0.9""")
    con.execute("""INSERT INTO catalogue.service_source (service_id, source_id, source_record_id, staging_id)
                   SELECT id, 'source-' || (i % 5), id, id FROM gen
                   UNION ALL SELECT id, 'source-' || ((i + 1) % 5), id, id || 'b' FROM gen WHERE r2 < 0.4
                   UNION ALL SELECT id, 'source-' || ((i + 2) % 5), id, id || 'c' FROM gen WHERE r2 < 0.1""")
    con.execute("DROP TABLE gen")
    con.execute("DROP TABLE lsoa_index")
    con.execute("CHECKPOINT")


def timed_build(path: Path, access_km: float) -> dict[str, float]:
    """build_gap_tables with each stage timed (the stages are the module's own functions)."""
    stages: dict[str, float] = {}
    originals = {}
    for name in ("build_overlap", "place_locations", "_prepare_areas", "build_coverage", "build_need_vs_supply", "build_access"):
        fn = getattr(gap, name)
        originals[name] = fn

        def wrapper(*a, _fn=fn, _name=name, **k):
            t, c = time.perf_counter(), time.process_time()
            try:
                return _fn(*a, **k)
            finally:
                stages[_name] = time.perf_counter() - t
                stages[_name + " (cpu)"] = time.process_time() - c
        setattr(gap, name, wrapper)
    try:
        with duckdb.connect(str(path)) as con:
            t, c = time.perf_counter(), time.process_time()
            summary = gap.build_gap_tables(con, access_km=access_km)
            stages["total"] = time.perf_counter() - t
            stages["total (cpu)"] = time.process_time() - c
    finally:
        for name, fn in originals.items():
            setattr(gap, name, fn)
    stages["_rows"] = summary
    return stages


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=1_000_000)
    ap.add_argument("--types", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--access-km", type=float, default=2.0)
    args = ap.parse_args()
    if not SHARED.exists():
        print(f"{SHARED} not found (set PLACECAT_SHARED)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench_gap_"))
    try:
        base = work / "base.duckdb"
        t = time.perf_counter()
        with duckdb.connect(str(base)) as con:
            n_lsoas = make_reference(con, np.random.default_rng(8))
            make_catalogue(con, args.services, args.types, n_lsoas)
        print(f"generated {args.services:,} services, {args.types} types, {n_lsoas:,} LSOAs in {time.perf_counter() - t:.1f} s "
              f"(cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f})")
        runs = []
        for n in range(args.repeat):
            copy = work / f"run{n}.duckdb"
            shutil.copyfile(base, copy)
            runs.append(timed_build(copy, args.access_km))
            print(f"  run {n + 1}: {runs[-1]['total']:.1f} s wall, {runs[-1]['total (cpu)']:.1f} s cpu, "
                  f"load average {os.getloadavg()[0]:.1f}")
            copy.unlink()
        print("rows:", {k: v for k, v in runs[-1]["_rows"].items() if k != "note"})
        # Wall time is what the night waits for; CPU time (all threads) shows the work when the
        # machine is shared and wall time is inflated by waiting for a core.
        print(f"{'stage':24} {'median wall s':>14} {'median cpu s':>13}")
        for stage in [k for k in runs[0] if k not in ("_rows", "total") and not k.endswith("(cpu)")] + ["total"]:
            print(f"{stage:24} {statistics.median(r[stage] for r in runs):>14.2f} "
                  f"{statistics.median(r[stage + ' (cpu)'] for r in runs):>13.2f}")
        median = statistics.median(r["total"] for r in runs)
        print(f"gap tables, all of England: median {median:.1f} s over {args.repeat} runs (target < 60 s on 2 cores)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
