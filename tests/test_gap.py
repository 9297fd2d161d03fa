"""Gap tables for the four sample authorities in ../shared (Leeds, Manchester, Bristol, Cornwall).

A catalogue is generated at real postcodes of the four authorities, classified, and the gap tables
built; the figures are then recomputed here independently with pandas straight from the shared
CSV files (postcode → LSOA, IMD, population), not from the code under test.
"""
from __future__ import annotations

import math
import random
import uuid
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from warehouse.build import Build, start_build
from warehouse.gap import build_gap_tables
from warehouse.reference import copy_reference_into, reference_path
from warehouse.schema import create_all
from warehouse.taxonomy import classify_catalogue

LADS = {"E08000035": "Leeds", "E08000003": "Manchester", "E06000023": "Bristol, City of", "E06000052": "Cornwall"}
# Real LGA (esd) service types from the 2015 list; the services carry them as publisher terms.
TYPES = {"163": "Counselling", "328": "Bereavement support", "651": "Debt counselling", "1284": "Mental health support",
         "640": "Older people's  activities", "1674": "Swimming pools"}
NS = uuid.UUID("2b0a9d9e-8d8e-4c55-a1d0-000000000008")
pytestmark = pytest.mark.slow  # one shared setup loads England's reference files (~10-20 s)


def load_shared_reference(db_path: Path, fixtures: Path) -> None:
    from pipelines.cli import main
    ref = fixtures / "reference"
    rc = main(["reference", "load", "--db", str(db_path),
               "--postcodes", str(ref / "postcode_lsoa11_lad22_sample.csv"),
               "--areas", str(ref / "lsoa11_msoa11_lad22_england.csv"),
               "--imd", str(ref / "imd2019_lsoa11_england.csv"),
               "--population", str(ref / "imd2019_lsoa11_england.csv"),
               "--lga-services", str(fixtures / "oruk" / "taxonomies" / "lga_esd_services_list_v4.csv"),
               "--coordinates-from-package"])
    assert rc == 0


def generate_services(fixtures: Path, n: int = 600, seed: int = 8) -> pd.DataFrame:
    """Services at real postcodes: some with lat/long, some only a postcode; ages, drop-in/referral, sources."""
    pcs = pd.read_csv(fixtures / "reference" / "postcode_lsoa11_lad22_sample.csv")
    pcs = pcs[pcs.usertype == 0]
    by_lad = {lad: frame.reset_index(drop=True) for lad, frame in pcs.groupby("lad22cd")}
    rng = random.Random(seed)
    # Leeds gets most, Cornwall few: coverage must differ between authorities.
    weights = {"E08000035": 0.45, "E08000003": 0.25, "E06000023": 0.2, "E06000052": 0.1}
    rows = []
    for i in range(n):
        lad = rng.choices(list(weights), list(weights.values()))[0]
        pc = by_lad[lad].iloc[rng.randrange(len(by_lad[lad]))]
        esd = rng.choice(list(TYPES))
        mode = rng.choice(["drop-in", "referral", "open"])
        rows.append({
            "service_id": str(uuid.uuid5(NS, f"s{i}")), "location_id": str(uuid.uuid5(NS, f"l{i}")),
            "name": f"{TYPES[esd]} {i}", "postcode": pc.postcode, "lsoa11": pc.lsoa11cd, "lad": lad, "esd_id": esd,
            "with_coordinates": i % 3 != 0, "mode": mode,
            "min_age": rng.choice([None, 0, 18, 60]), "max_age": None,
            "description": {"drop-in": "A weekly drop-in, just come along.",
                            "referral": "Places by referral from your GP.", "open": "Open to all."}[mode],
            "sources": ["council"] + (["nhs"] if i % 4 == 0 else []) + (["vcs"] if i % 5 == 0 else []),
        })
    return pd.DataFrame(rows)


def build_catalogue(db_path: Path, services: pd.DataFrame, run_id: str = "run-1") -> Build:
    """A catalogue build holding these services as golden records (real schema, real DuckDB file)."""
    build = start_build(db_path, run_id)
    with build.connect() as con:
        coords = con.execute("SELECT postcode, latitude, longitude FROM ref.postcode").df().set_index("postcode")
        svc = services.copy()
        # A venue a few metres from its postcode centroid, as publishers give it; the rest only a postcode.
        svc["lat"] = np.where(svc.with_coordinates, svc.postcode.map(coords.latitude) + 0.0002, np.nan)
        svc["lon"] = np.where(svc.with_coordinates, svc.postcode.map(coords.longitude) - 0.0002, np.nan)
        svc["min_age_d"] = svc.min_age.astype(float)
        links = svc[["service_id", "sources"]].explode("sources")
        con.register("svc", svc.drop(columns=["sources"]))
        con.register("links", links)
        con.execute("""INSERT INTO catalogue.service (id, name, description, status, minimum_age)
                       SELECT service_id, name, description, 'active', min_age_d FROM svc""")
        con.execute("""INSERT INTO catalogue.location (id, location_type, name, latitude, longitude)
                       SELECT location_id, 'physical', name, lat, lon FROM svc""")
        con.execute("""INSERT INTO catalogue.address (id, location_id, address_1, postal_code, address_type)
                       SELECT location_id || '-a', location_id, '1 High Street', postcode, 'physical' FROM svc""")
        con.execute("""INSERT INTO catalogue.service_at_location (id, service_id, location_id)
                       SELECT service_id || '-sal', service_id, location_id FROM svc""")
        con.execute("""INSERT INTO catalogue.attribute (id, link_id, taxonomy_term_id, link_entity)
                       SELECT service_id || '-attr', service_id, 'term-' || esd_id, 'service' FROM svc""")
        con.execute("""INSERT INTO catalogue.service_source (service_id, source_id, source_record_id, staging_id)
                       SELECT service_id, sources, service_id, service_id || sources FROM links""")
        con.executemany("INSERT INTO catalogue.taxonomy_term (id, name, taxonomy, term_uri) VALUES (?, ?, 'esdServiceTypes', ?)",
                        [(f"term-{e}", label, f"http://id.esd.org.uk/service/{e}") for e, label in TYPES.items()])
        con.unregister("svc")
        con.unregister("links")
        classify_catalogue(con)
    return build


@pytest.fixture(scope="session")
def sample_gap_catalogue(tmp_path_factory, fixtures_dir):
    """(build, services, summary): the four authorities' catalogue with its gap tables built."""
    db_path = tmp_path_factory.mktemp("gap") / "placecat.duckdb"
    load_shared_reference(db_path, fixtures_dir)
    services = generate_services(fixtures_dir)
    build = build_catalogue(db_path, services)
    with build.connect() as con:
        summary = build_gap_tables(con, access_km=1.0)
    return build, services, summary


@pytest.fixture(scope="session")
def independent(fixtures_dir):
    ref = fixtures_dir / "reference"
    imd = pd.read_csv(ref / "imd2019_lsoa11_england.csv")
    areas = pd.read_csv(ref / "lsoa11_msoa11_lad22_england.csv")
    return imd.merge(areas[["lsoa11cd", "msoa11cd", "lad22cd"]], on="lsoa11cd")


def _rows(build: Build, sql: str, params=()) -> pd.DataFrame:
    with build.connect(read_only=True) as con:
        return con.execute(sql, list(params)).df()


def test_gap_tables_build_for_the_four_sample_authorities(sample_gap_catalogue):
    build, services, summary = sample_gap_catalogue
    assert summary["located_services"] == len(services)
    lads = _rows(build, "SELECT DISTINCT area_code FROM gap.coverage WHERE level = 'lad'")
    assert set(lads.area_code) == set(LADS)
    levels = set(_rows(build, "SELECT DISTINCT level FROM gap.coverage").level)
    # The shared sample has no ward column and no ward lookup: no ward rows, and a note says so.
    assert levels == {"lsoa", "msoa", "lad"}
    notes = _rows(build, "SELECT note FROM gap.note").note.str.cat(sep=" ")
    assert "ward" in notes


def test_coverage_matches_an_independent_count(sample_gap_catalogue, independent):
    build, services, _ = sample_gap_catalogue
    # Per local authority and type: services and services per 10,000 people (IoD2019 population).
    expected = services.groupby(["lad", "esd_id"]).service_id.nunique().rename("services").reset_index()
    pop = independent[independent.lad22cd.isin(LADS)].groupby("lad22cd").pop_total_2015.sum()
    expected["per10k"] = expected.services * 10000 / expected.lad.map(pop)
    got = _rows(build, "SELECT area_code AS lad, esd_id, services, services_per_10k, population FROM gap.coverage "
                       "WHERE level = 'lad'")
    merged = expected.merge(got, on=["lad", "esd_id"], how="outer").fillna({"services_x": 0})
    assert (merged.services_x == merged.services_y).all()
    assert np.allclose(merged.per10k.fillna(0), merged.services_per_10k)
    assert np.allclose(got.groupby("lad").population.first().sort_index(), pop.sort_index())
    # Per MSOA for one type, including MSOAs with no service at all (zero rows are the gaps).
    msoa = services.merge(independent[["lsoa11cd", "msoa11cd"]], left_on="lsoa11", right_on="lsoa11cd")
    exp_m = msoa[msoa.esd_id == "1284"].groupby("msoa11cd").size()
    got_m = _rows(build, "SELECT area_code, services FROM gap.coverage WHERE level = 'msoa' AND esd_id = '1284'"
                  ).set_index("area_code").services
    n_msoas = independent[independent.lad22cd.isin(LADS)].msoa11cd.nunique()
    assert len(got_m) == n_msoas
    assert (got_m[got_m > 0].sort_index() == exp_m.sort_index()).all()
    assert got_m.sum() == exp_m.sum()


def test_drop_in_referral_shares_and_age_bands(sample_gap_catalogue):
    build, services, _ = sample_gap_catalogue
    leeds = services[services.lad == "E08000035"]
    for esd in ("163", "640"):
        sub = leeds[leeds.esd_id == esd]
        row = _rows(build, "SELECT drop_in_share, referral_share, age_bands FROM gap.coverage "
                           "WHERE level = 'lad' AND area_code = 'E08000035' AND esd_id = ?", [esd]).iloc[0]
        assert math.isclose(row.drop_in_share, (sub["mode"] == "drop-in").mean())
        assert math.isclose(row.referral_share, (sub["mode"] == "referral").mean())
        # Every band is covered: some services have no minimum age (all ages).
        assert list(row.age_bands) == ["0-15", "16-59", "60+"]


def test_need_vs_supply_by_decile_matches_pandas(sample_gap_catalogue, independent):
    build, services, _ = sample_gap_catalogue
    study = independent[independent.lad22cd.isin(LADS)]
    with_decile = services.merge(study[["lsoa11cd", "imd_decile"]], left_on="lsoa11", right_on="lsoa11cd")
    expected = (with_decile[with_decile.esd_id == "651"].groupby("imd_decile").size()
                .reindex(range(1, 11), fill_value=0) * 10000 / study.groupby("imd_decile").pop_total_2015.sum())
    got = _rows(build, "SELECT imd_decile, services_per_10k, population FROM gap.need_vs_supply WHERE esd_id = '651' "
                       "ORDER BY imd_decile").set_index("imd_decile")
    assert np.allclose(got.services_per_10k, expected)
    assert np.allclose(got.population, study.groupby("imd_decile").pop_total_2015.sum())


def test_underserved_areas_are_deprived_and_low_supply(sample_gap_catalogue, independent):
    build, services, _ = sample_gap_catalogue
    flagged = _rows(build, "SELECT area_code, esd_id, services_per_10k, supply_quintile_cutoff "
                           "FROM gap.need_vs_supply_areas WHERE level = 'lsoa'")
    assert len(flagged) > 0
    deciles = independent.set_index("lsoa11cd").imd_decile
    assert set(deciles[flagged.area_code.unique()]) <= {1, 2}
    assert (flagged.services_per_10k <= flagged.supply_quintile_cutoff).all()
    # Every most-deprived-fifth LSOA without any service of a type is flagged for that type.
    study = independent[independent.lad22cd.isin(LADS) & (independent.imd_decile <= 2)]
    with_1674 = set(services[services.esd_id == "1674"].lsoa11)
    expected = set(study.lsoa11cd) - with_1674
    assert expected <= set(flagged[flagged.esd_id == "1674"].area_code)


def test_access_distances_match_brute_force(sample_gap_catalogue):
    build, services, _ = sample_gap_catalogue
    with build.connect(read_only=True) as con:
        pcs = con.execute("SELECT postcode, lsoa11, latitude, longitude FROM ref.postcode WHERE usertype = 0").df()
        geo = con.execute("SELECT service_id, latitude, longitude, coordinates_from FROM gap.location_geo").df()
    # Postcode-only locations got their postcode's centroid, recorded as derived.
    assert set(geo.coordinates_from) == {"source", "postcode centroid"}
    derived = geo[geo.coordinates_from == "postcode centroid"].merge(services[["service_id", "postcode"]]).merge(
        pcs, on="postcode", suffixes=("", "_pc"))
    assert np.allclose(derived.latitude, derived.latitude_pc)
    # Centroid of an LSOA: the mean position of its residential postcodes (computed here on the sphere).
    rng = np.random.default_rng(1)
    lsoas = rng.choice(services.lsoa11.unique(), 5, replace=False)
    geo = geo.merge(services[["service_id", "esd_id"]])
    for lsoa in lsoas:
        p = pcs[pcs.lsoa11 == lsoa]
        phi, lam = np.radians(p.latitude), np.radians(p.longitude)
        x, y, z = (np.cos(phi) * np.cos(lam)).mean(), (np.cos(phi) * np.sin(lam)).mean(), np.sin(phi).mean()
        clat, clon = math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x))
        s = geo[geo.esd_id == "328"]
        dlat, dlon = np.radians(s.latitude - clat), np.radians(s.longitude - clon)
        a = np.sin(dlat / 2) ** 2 + math.cos(math.radians(clat)) * np.cos(np.radians(s.latitude)) * np.sin(dlon / 2) ** 2
        nearest = (2 * 6371.0088 * np.arcsin(np.sqrt(a))).min()
        row = _rows(build, "SELECT distance_km, beyond FROM gap.access WHERE level = 'lsoa' AND area_code = ? "
                           "AND esd_id = '328'", [lsoa]).iloc[0]
        assert math.isclose(row.distance_km, nearest, rel_tol=1e-6, abs_tol=1e-4)
        assert bool(row.beyond) == (nearest > 1.0)


def test_overlap_counts_shared_services(sample_gap_catalogue):
    build, services, _ = sample_gap_catalogue
    got = _rows(build, "SELECT * FROM gap.overlap WHERE source_a = 'council' AND source_b = 'nhs'").iloc[0]
    in_nhs = services.sources.apply(lambda s: "nhs" in s)
    assert got.in_both == in_nhs.sum()
    assert got.only_a == len(services) - in_nhs.sum()
    assert got.only_b == 0


def test_gap_stage_without_reference_data_builds_empty_tables_with_a_note(tmp_path):
    db_path = tmp_path / "placecat.duckdb"
    build = start_build(db_path, "run-empty")
    with build.connect() as con:
        con.execute("INSERT INTO catalogue.service (id, name, status) VALUES ('s1', 'Food bank', 'active')")
        classify_catalogue(con)
        summary = build_gap_tables(con)
        assert "no reference data loaded" in summary["note"]
        for table in ("coverage", "need_vs_supply", "access"):
            assert con.execute(f"SELECT count(*) FROM gap.{table}").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM gap.note WHERE note LIKE '%placecat reference load%'").fetchone()[0] == 3


def test_reference_store_is_copied_into_each_new_build(sample_gap_catalogue):
    build, _, _ = sample_gap_catalogue
    second = start_build(build.db_path, "run-2")
    with second.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM ref.imd").fetchone()[0] == 32844
        assert con.execute("SELECT count(*) FROM ref.lga_service_type").fetchone()[0] == 1519
    assert reference_path(build.db_path).exists()
