"""Gap analysis tables (``gap.*``): where services are, against who lives there and how deprived it is.

* ``gap.location_geo``   every service location placed: coordinates (from the source, or the centroid
                          of its postcode, recorded as derived) and its LSOA, MSOA, ward and LA.
* ``gap.coverage``        area × service type: services, services per 10,000 people, share drop-in /
                          by referral, age bands covered; at LSOA, MSOA, ward and local-authority level.
* ``gap.need_vs_supply``  services per 10,000 people for each type by IMD 2019 decile.
* ``gap.need_vs_supply_areas``  areas whose supply of a type is in the bottom quintile while their
                          need (IMD) is in England's most deprived quintile.
* ``gap.access``          for each LSOA's (population-weighted) centroid, the distance to the nearest
                          service of each type, and whether it is beyond the threshold; rolled up to
                          MSOA, ward and LA as population beyond.
* ``gap.overlap``         source × source: services in both, only in one, conflicting fields.
* ``gap.note``            what could not be built and why (e.g. no reference data loaded).

The "study area" is the set of local authorities in which the catalogue has at least one located
service: areas elsewhere are not listed as gaps just because no source covers them. Wards: the
shared ONS lookups carry no ward, so ward rows exist only when ``ref.lsoa_ward`` has rows (loaded
with ``--wards``, or derived from the postcode directory's ``osward``: the ward holding most of an
LSOA's postcodes); otherwise a note says so.
"""
from __future__ import annotations

import math
import os

import duckdb
import numpy as np

DEFAULT_ACCESS_KM = 2.0  # override per deployment with PLACECAT_ACCESS_KM
EARTH_KM = 6371.0088
# England's most deprived fifth of LSOAs by IMD 2019 rank (1 = most deprived).
NATIONAL_LSOAS = 32844
NEED_TOP_QUINTILE_RANK = NATIONAL_LSOAS * 0.2
AGE_BANDS = (("0-15", 0, 15), ("16-59", 16, 59), ("60+", 60, 200))
LEVELS = ("lsoa", "msoa", "ward", "lad")

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
DDL = {
    "note": "CREATE OR REPLACE TABLE gap.note (table_name VARCHAR, note VARCHAR)",
    "location_geo": """CREATE OR REPLACE TABLE gap.location_geo (
        service_id VARCHAR, location_id VARCHAR, postcode VARCHAR, latitude DOUBLE, longitude DOUBLE,
        coordinates_from VARCHAR,   -- source | postcode centroid | NULL (not placed)
        lsoa11 VARCHAR, lsoa_from VARCHAR, msoa11 VARCHAR, ward VARCHAR, lad VARCHAR)""",
    "coverage": """CREATE OR REPLACE TABLE gap.coverage (
        level VARCHAR, area_code VARCHAR, area_name VARCHAR, lad_code VARCHAR, esd_id VARCHAR, label VARCHAR,
        services BIGINT, population DOUBLE, services_per_10k DOUBLE, drop_in_share DOUBLE, referral_share DOUBLE,
        age_bands VARCHAR[], imd_rank DOUBLE)""",
    "need_vs_supply": """CREATE OR REPLACE TABLE gap.need_vs_supply (
        esd_id VARCHAR, label VARCHAR, imd_decile INTEGER, lsoas BIGINT, population DOUBLE, services BIGINT,
        services_per_10k DOUBLE)""",
    "need_vs_supply_areas": """CREATE OR REPLACE TABLE gap.need_vs_supply_areas (
        level VARCHAR, area_code VARCHAR, area_name VARCHAR, lad_code VARCHAR, esd_id VARCHAR, label VARCHAR,
        services BIGINT, population DOUBLE, services_per_10k DOUBLE, supply_quintile_cutoff DOUBLE,
        imd_rank DOUBLE)""",
    "access": """CREATE OR REPLACE TABLE gap.access (
        level VARCHAR, area_code VARCHAR, area_name VARCHAR, lad_code VARCHAR, esd_id VARCHAR, label VARCHAR,
        population DOUBLE, distance_km DOUBLE, population_beyond DOUBLE, share_beyond DOUBLE, beyond BOOLEAN,
        threshold_km DOUBLE)""",
}


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


def build_gap_tables(con: duckdb.DuckDBPyConnection, access_km: float | None = None) -> dict:
    if access_km is None:
        access_km = float(os.environ.get("PLACECAT_ACCESS_KM") or DEFAULT_ACCESS_KM)
    con.execute("CREATE SCHEMA IF NOT EXISTS gap")
    for ddl in DDL.values():
        con.execute(ddl)
    out: dict = {"overlap_pairs": build_overlap(con)}
    missing = missing_reference(con)
    if missing:
        note = ("no reference data loaded (" + ", ".join(missing) + "): gap.coverage, gap.need_vs_supply and "
                "gap.access are empty; run `placecat reference load --db FILE --postcodes ... --areas ... --imd ... "
                "--population ...` and the next run fills them")
        for table in ("coverage", "need_vs_supply", "access"):
            con.execute("INSERT INTO gap.note VALUES (?, ?)", [f"gap.{table}", note])
        out["note"] = note
        if "ref.postcode" not in missing:
            out["located_services"] = place_locations(con)
        return out
    out["located_services"] = place_locations(con)
    _prepare_areas(con)
    wards = con.execute("SELECT count(*) FROM work.gap_area WHERE level = 'ward'").fetchone()[0]
    if not wards:
        con.execute("INSERT INTO gap.note VALUES ('gap.coverage', ?)",
                    ["no LSOA → ward lookup loaded and the postcode file has no ward column: no ward rows; load one "
                     "with `placecat reference load --wards FILE` (ONS LSOA to electoral ward lookup)"])
    out["coverage_rows"] = build_coverage(con)
    out["need_vs_supply_rows"], out["underserved_rows"] = build_need_vs_supply(con)
    out["access_rows"] = build_access(con, access_km)
    return out


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                            "AND schema_name = ? AND table_name = ?", [schema, table]).fetchone()[0])


def missing_reference(con: duckdb.DuckDBPyConnection) -> list[str]:
    missing = []
    for table in ("postcode", "lsoa_area", "imd", "population"):
        if not _exists(con, "ref", table) or not con.execute(f"SELECT count(*) FROM ref.{table}").fetchone()[0]:
            missing.append(f"ref.{table}")
    return missing


def _service_type_table(con: duckdb.DuckDBPyConnection) -> str:
    if _exists(con, "catalogue", "service_type"):
        return "catalogue.service_type"
    return "(SELECT NULL::VARCHAR AS service_id, NULL::VARCHAR AS esd_id, NULL::VARCHAR AS label WHERE false)"


def place_locations(con: duckdb.DuckDBPyConnection) -> int:
    """Coordinates and LSOA for every service location; postcode centroids fill missing lat/long."""
    con.execute("""
        INSERT INTO gap.location_geo
        WITH addr AS (
            SELECT location_id, arg_min(postal_code, CASE address_type WHEN 'physical' THEN 0 ELSE 1 END) AS postcode
            FROM catalogue.address WHERE postal_code IS NOT NULL GROUP BY location_id)
        SELECT sal.service_id, l.id, a.postcode,
               coalesce(l.latitude, p.latitude), coalesce(l.longitude, p.longitude),
               CASE WHEN l.latitude IS NOT NULL AND l.longitude IS NOT NULL THEN 'source'
                    WHEN p.latitude IS NOT NULL THEN 'postcode centroid' END,
               p.lsoa11, CASE WHEN p.lsoa11 IS NOT NULL THEN 'postcode' END, NULL, NULL, NULL
        FROM (SELECT DISTINCT service_id, location_id FROM catalogue.service_at_location) sal
        JOIN catalogue.location l ON l.id = sal.location_id
        LEFT JOIN addr a ON a.location_id = l.id
        LEFT JOIN ref.postcode p ON p.postcode_key = upper(replace(a.postcode, ' ', ''))
    """)
    _nearest_lsoa_for_unmatched(con)
    # Rewriting the table with its areas is much cheaper than updating a million rows in place.
    ward = ("(SELECT lsoa11, ward FROM ref.lsoa_ward)" if _exists(con, "ref", "lsoa_ward")
            else "(SELECT NULL::VARCHAR AS lsoa11, NULL::VARCHAR AS ward WHERE false)")
    con.execute(f"""
        CREATE OR REPLACE TABLE gap.location_geo AS
        SELECT g.* REPLACE (a.msoa11 AS msoa11, w.ward AS ward, a.lad AS lad)
        FROM gap.location_geo g LEFT JOIN ref.lsoa_area a ON a.lsoa11 = g.lsoa11
        LEFT JOIN {ward} w ON w.lsoa11 = g.lsoa11""")
    # The derived coordinates go into the catalogue too (so the republished feed can be mapped);
    # gap.location_geo.coordinates_from records that they came from the postcode centroid.
    con.execute("""
        UPDATE catalogue.location l SET latitude = g.latitude, longitude = g.longitude
        FROM (SELECT DISTINCT location_id, latitude, longitude FROM gap.location_geo
              WHERE coordinates_from = 'postcode centroid') g
        WHERE g.location_id = l.id AND (l.latitude IS NULL OR l.longitude IS NULL)""")
    return con.execute("SELECT count(DISTINCT service_id) FROM gap.location_geo WHERE lsoa11 IS NOT NULL").fetchone()[0]


def _nearest_lsoa_for_unmatched(con: duckdb.DuckDBPyConnection) -> None:
    """Locations with coordinates but no known postcode: the LSOA whose centroid is nearest."""
    if not _exists(con, "ref", "lsoa_centroid"):
        return
    todo = con.execute("SELECT DISTINCT location_id, latitude, longitude FROM gap.location_geo "
                       "WHERE lsoa11 IS NULL AND latitude IS NOT NULL").fetchnumpy()
    cents = con.execute("SELECT lsoa11, latitude, longitude FROM ref.lsoa_centroid").fetchnumpy()
    if len(todo["location_id"]) == 0 or len(cents["lsoa11"]) == 0:
        return
    from scipy.spatial import cKDTree
    tree = cKDTree(unit_xyz(cents["latitude"], cents["longitude"]))
    chord, idx = tree.query(unit_xyz(todo["latitude"], todo["longitude"]))
    km = chord_to_km(chord)
    # Only near ones: a location 5 km from every LSOA centroid is outside the loaded reference area.
    keep = km <= 5.0
    import pandas as pd
    df = pd.DataFrame({"location_id": todo["location_id"][keep], "lsoa11": cents["lsoa11"][idx[keep]]})
    con.register("nearest_lsoa", df)
    try:
        con.execute("""UPDATE gap.location_geo g SET lsoa11 = n.lsoa11, lsoa_from = 'nearest LSOA centroid'
                       FROM nearest_lsoa n WHERE n.location_id = g.location_id AND g.lsoa11 IS NULL""")
    finally:
        con.unregister("nearest_lsoa")


def unit_xyz(lat, lon) -> np.ndarray:
    phi, lam = np.radians(np.asarray(lat, float)), np.radians(np.asarray(lon, float))
    return np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])


def chord_to_km(chord) -> np.ndarray:
    return 2 * EARTH_KM * np.arcsin(np.clip(np.asarray(chord, float) / 2, 0, 1))


def _prepare_areas(con: duckdb.DuckDBPyConnection) -> None:
    """work.gap_lsoa (LSOAs of the study area with population and IMD) and work.gap_area (LSOA → area at each level)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS work")
    ward_join = ("LEFT JOIN ref.lsoa_ward w ON w.lsoa11 = a.lsoa11" if _exists(con, "ref", "lsoa_ward")
                 else "LEFT JOIN (SELECT NULL::VARCHAR AS lsoa11, NULL::VARCHAR AS ward, NULL::VARCHAR AS ward_name) w ON false")
    con.execute(f"""
        CREATE OR REPLACE TABLE work.gap_lsoa AS
        SELECT a.lsoa11, coalesce(a.lsoa11_name, i.lsoa11_name, a.lsoa11) AS lsoa11_name, a.msoa11,
               coalesce(a.msoa11_name, a.msoa11) AS msoa11_name, a.lad, coalesce(a.lad_name, a.lad) AS lad_name,
               w.ward, coalesce(w.ward_name, w.ward) AS ward_name,
               coalesce(p.population, 0) AS population, i.imd_rank, i.imd_decile
        FROM ref.lsoa_area a
        LEFT JOIN ref.imd i ON i.lsoa11 = a.lsoa11
        LEFT JOIN ref.population p ON p.lsoa11 = a.lsoa11
        {ward_join}
        WHERE a.lad IN (SELECT DISTINCT lad FROM gap.location_geo WHERE lad IS NOT NULL)
    """)
    con.execute("""
        CREATE OR REPLACE TABLE work.gap_area AS
        SELECT 'lsoa' AS level, lsoa11, lsoa11 AS area_code, lsoa11_name AS area_name, lad, population, imd_rank FROM work.gap_lsoa
        UNION ALL SELECT 'msoa', lsoa11, msoa11, msoa11_name, lad, population, imd_rank FROM work.gap_lsoa WHERE msoa11 IS NOT NULL
        UNION ALL SELECT 'ward', lsoa11, ward, ward_name, lad, population, imd_rank FROM work.gap_lsoa WHERE ward IS NOT NULL
        UNION ALL SELECT 'lad', lsoa11, lad, lad_name, lad, population, imd_rank FROM work.gap_lsoa
    """)
    con.execute("""
        CREATE OR REPLACE TABLE work.gap_area_total AS
        SELECT level, area_code, any_value(area_name) AS area_name,
               -- a ward can straddle LA boundaries in best-fit lookups: name the LA holding most people
               arg_max(lad, population) AS lad_code, sum(population) AS population,
               sum(imd_rank * population) / nullif(sum(population), 0) AS imd_rank
        FROM work.gap_area GROUP BY level, area_code
    """)
    st = _service_type_table(con)
    # Age bands as bits (cheap to OR together per area), turned into names only for the output rows.
    bits = " + ".join(f"CASE WHEN coalesce(s.minimum_age, 0) <= {hi} AND coalesce(s.maximum_age, 200) >= {lo} "
                      f"THEN {1 << i} ELSE 0 END" for i, (name, lo, hi) in enumerate(AGE_BANDS))
    con.execute(f"""
        CREATE OR REPLACE TABLE work.gap_service AS
        WITH attending AS (
            SELECT service_id, string_agg(lower(coalesce(attending_type, '') || ' ' || coalesce(description, '') || ' '
                                                || coalesce(notes, '')), ' ') AS txt
            FROM catalogue.schedule GROUP BY service_id)
        SELECT s.id AS service_id,
               regexp_matches(lower(coalesce(s.name, '') || ' ' || coalesce(s.description, '') || ' ' || coalesce(sch.txt, '')),
                              'drop[ -]?in') AS drop_in,
               regexp_matches(lower(coalesce(s.description, '') || ' ' || coalesce(sch.txt, '')),
                              'referr(al|ed)|refer you|by referral|voucher') AS referral,
               {bits} AS age_bits
        FROM catalogue.service s LEFT JOIN attending sch ON sch.service_id = s.id
    """)
    con.execute(f"""
        CREATE OR REPLACE TABLE work.gap_supply AS
        SELECT DISTINCT g.lsoa11, t.esd_id, g.service_id
        FROM gap.location_geo g JOIN {st} t ON t.service_id = g.service_id
        WHERE g.lsoa11 IS NOT NULL
    """)
    con.execute(f"""
        CREATE OR REPLACE TABLE work.gap_type AS
        SELECT esd_id, any_value(label) AS label FROM {st} GROUP BY esd_id
    """)


def build_coverage(con: duckdb.DuckDBPyConnection) -> int:
    age_list = "list_filter([" + ", ".join(f"CASE WHEN agg.age_bits & {1 << i} <> 0 THEN '{name}' END"
                                           for i, (name, _, _) in enumerate(AGE_BANDS)) + "], lambda b: b IS NOT NULL)"
    con.execute(f"""
        INSERT INTO gap.coverage
        WITH per_area AS (
            SELECT a.level, a.area_code, s.esd_id, s.service_id
            FROM work.gap_supply s JOIN work.gap_area a ON a.lsoa11 = s.lsoa11
            GROUP BY ALL),
        agg AS (
            SELECT p.level, p.area_code, p.esd_id, count(*) AS services,
                   avg(v.drop_in::INT) AS drop_in_share, avg(v.referral::INT) AS referral_share,
                   bit_or(v.age_bits) AS age_bits
            FROM per_area p JOIN work.gap_service v USING (service_id)
            GROUP BY ALL)
        SELECT t.level, t.area_code, t.area_name, t.lad_code, ty.esd_id, ty.label,
               coalesce(agg.services, 0), t.population,
               CASE WHEN t.population > 0 THEN coalesce(agg.services, 0) * 10000.0 / t.population END,
               agg.drop_in_share, agg.referral_share, {age_list}, t.imd_rank
        FROM work.gap_area_total t CROSS JOIN work.gap_type ty
        LEFT JOIN agg ON agg.level = t.level AND agg.area_code = t.area_code AND agg.esd_id = ty.esd_id
    """)
    return con.execute("SELECT count(*) FROM gap.coverage").fetchone()[0]


def build_need_vs_supply(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    con.execute("""
        INSERT INTO gap.need_vs_supply
        WITH lsoa_supply AS (SELECT lsoa11, esd_id, count(*) AS n FROM work.gap_supply GROUP BY ALL),
        deciles AS (SELECT imd_decile, count(*) AS lsoas, sum(population) AS population
                    FROM work.gap_lsoa WHERE imd_decile IS NOT NULL GROUP BY 1)
        SELECT ty.esd_id, ty.label, d.imd_decile, d.lsoas, d.population, coalesce(sum(s.n), 0),
               coalesce(sum(s.n), 0) * 10000.0 / nullif(d.population, 0)
        FROM deciles d CROSS JOIN work.gap_type ty
        LEFT JOIN (SELECT s.*, l.imd_decile FROM lsoa_supply s JOIN work.gap_lsoa l USING (lsoa11)) s
               ON s.imd_decile = d.imd_decile AND s.esd_id = ty.esd_id
        GROUP BY ty.esd_id, ty.label, d.imd_decile, d.lsoas, d.population
    """)
    # Supply: the bottom fifth of the study area's areas at that level, for that type (ties at the
    # cut-off count in, so every area with no service at all is "bottom" when a fifth have none).
    # Need: population-weighted IMD rank in England's most deprived fifth (for an LSOA: decile 1-2).
    con.execute(f"""
        INSERT INTO gap.need_vs_supply_areas
        WITH cut AS (SELECT level, esd_id, quantile_disc(services_per_10k, 0.2) AS cutoff
                     FROM gap.coverage WHERE services_per_10k IS NOT NULL GROUP BY ALL)
        SELECT c.level, c.area_code, c.area_name, c.lad_code, c.esd_id, c.label, c.services, c.population,
               c.services_per_10k, cut.cutoff, c.imd_rank
        FROM gap.coverage c JOIN cut USING (level, esd_id)
        WHERE c.services_per_10k <= cut.cutoff AND c.imd_rank <= {NEED_TOP_QUINTILE_RANK}
    """)
    return (con.execute("SELECT count(*) FROM gap.need_vs_supply").fetchone()[0],
            con.execute("SELECT count(*) FROM gap.need_vs_supply_areas").fetchone()[0])


def nearest_distances(service_lat, service_lon, service_type_codes, n_types: int,
                      centroid_lat, centroid_lon) -> np.ndarray:
    """km from each centroid to the nearest service of each type: array (n_types, n_centroids), inf if none."""
    from scipy.spatial import cKDTree
    targets = unit_xyz(centroid_lat, centroid_lon)
    points = unit_xyz(service_lat, service_lon)
    codes = np.asarray(service_type_codes)
    out = np.full((n_types, len(targets)), np.inf)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n_types + 1))
    for t in range(n_types):
        members = order[bounds[t]:bounds[t + 1]]
        if len(members) == 0:
            continue
        chord, _ = cKDTree(points[members]).query(targets, workers=-1)
        out[t] = chord_to_km(chord)
    return out


def build_access(con: duckdb.DuckDBPyConnection, threshold_km: float) -> int:
    st = _service_type_table(con)
    if not _exists(con, "ref", "lsoa_centroid"):
        con.execute("INSERT INTO gap.note VALUES ('gap.access', 'no LSOA centroids: load postcodes with coordinates or --lsoa-centroids')")
        return 0
    svc = con.execute(f"""
        SELECT g.latitude, g.longitude, ty.code
        FROM (SELECT DISTINCT service_id, latitude, longitude FROM gap.location_geo WHERE latitude IS NOT NULL) g
        JOIN {st} t ON t.service_id = g.service_id
        JOIN (SELECT esd_id, row_number() OVER (ORDER BY esd_id) - 1 AS code FROM work.gap_type) ty ON ty.esd_id = t.esd_id
    """).fetchnumpy()
    types = con.execute("SELECT esd_id, label FROM work.gap_type ORDER BY esd_id").fetchall()
    cents = con.execute("""SELECT l.lsoa11, c.latitude, c.longitude FROM work.gap_lsoa l
                           JOIN ref.lsoa_centroid c USING (lsoa11) ORDER BY l.lsoa11""").fetchnumpy()
    if not types or len(cents["lsoa11"]) == 0:
        con.execute("INSERT INTO gap.note VALUES ('gap.access', 'no service types or no LSOA centroids in the study area')")
        return 0
    dist = nearest_distances(svc["latitude"], svc["longitude"], svc["code"].astype(int), len(types),
                             cents["latitude"], cents["longitude"])
    import pandas as pd
    n_c = len(cents["lsoa11"])
    # Integer codes, not strings, cross into DuckDB: 3 million rows for England x 100 types.
    frame = pd.DataFrame({
        "lsoa_idx": np.tile(np.arange(n_c, dtype=np.int32), len(types)),
        "type_idx": np.repeat(np.arange(len(types), dtype=np.int32), n_c),
        "distance_km": np.where(np.isfinite(dist), dist, np.nan).ravel(),
    })
    con.register("lsoa_distance", frame)
    con.register("lsoa_codes", pd.DataFrame({"lsoa_idx": np.arange(n_c, dtype=np.int32), "lsoa11": cents["lsoa11"]}))
    con.register("type_codes", pd.DataFrame({"type_idx": np.arange(len(types), dtype=np.int32),
                                             "esd_id": [t[0] for t in types], "label": [t[1] for t in types]}))
    try:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE lsoa_access AS
            SELECT c.lsoa11, t.esd_id, t.label, x.distance_km,
                   (x.distance_km IS NULL OR x.distance_km > {threshold_km}) AS beyond
            FROM lsoa_distance x JOIN lsoa_codes c USING (lsoa_idx) JOIN type_codes t USING (type_idx)""")
        con.execute(f"""
            INSERT INTO gap.access
            SELECT 'lsoa', a.lsoa11, l.lsoa11_name, l.lad, a.esd_id, a.label, l.population, a.distance_km,
                   CASE WHEN a.beyond THEN l.population ELSE 0 END, CASE WHEN a.beyond THEN 1.0 ELSE 0.0 END,
                   a.beyond, {threshold_km}
            FROM lsoa_access a JOIN work.gap_lsoa l USING (lsoa11)""")
        # Larger areas: population-weighted mean distance of their LSOAs, and the people beyond;
        # an area counts as beyond when more than half its people are.
        con.execute(f"""
            INSERT INTO gap.access
            WITH d AS (
                SELECT g.level, g.area_code, g.population, a.esd_id, a.label, a.distance_km, a.beyond
                FROM lsoa_access a JOIN work.gap_area g ON g.lsoa11 = a.lsoa11 WHERE g.level <> 'lsoa'),
            agg AS (
                SELECT level, area_code, esd_id, any_value(label) AS label,
                       sum(distance_km * population) / nullif(sum(population) FILTER (WHERE distance_km IS NOT NULL), 0) AS km,
                       coalesce(sum(population) FILTER (WHERE beyond), 0) AS beyond_pop
                FROM d GROUP BY level, area_code, esd_id)
            SELECT agg.level, agg.area_code, t.area_name, t.lad_code, agg.esd_id, agg.label, t.population, agg.km,
                   agg.beyond_pop, agg.beyond_pop / nullif(t.population, 0), agg.beyond_pop > 0.5 * t.population,
                   {threshold_km}
            FROM agg JOIN work.gap_area_total t USING (level, area_code)""")
    finally:
        for name in ("lsoa_distance", "lsoa_codes", "type_codes"):
            con.unregister(name)
        con.execute("DROP TABLE IF EXISTS lsoa_access")
    return con.execute("SELECT count(*) FROM gap.access").fetchone()[0]
