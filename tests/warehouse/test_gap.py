"""Gap tables for the four sample authorities in ../shared (Leeds, Manchester, Bristol, Cornwall).

A catalogue is generated at real postcodes of the four authorities, classified, and the gap tables
built; the figures are then recomputed here independently with pandas straight from the shared
CSV files (postcode → LSOA, IMD, population), not from the code under test.
"""
from __future__ import annotations

import math
import shutil

import numpy as np
import pandas as pd
import pytest

from tests.support.gap_catalogue import LADS
from warehouse.build import Build, start_build
from warehouse.gap import build_gap_tables
from warehouse.reference import reference_path
from warehouse.taxonomy.classify import classify_catalogue

pytestmark = pytest.mark.slow  # one shared setup loads England's reference files (~10-20 s)


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


def test_reference_store_is_copied_into_each_new_build(sample_gap_catalogue, tmp_path):
    build, _, _ = sample_gap_catalogue
    assert reference_path(build.db_path).exists()
    # Another catalogue with a copy of that reference store: the shared catalogue's own build is
    # left alone (a new build in its state folder would remove it, and the report tests read it).
    db = tmp_path / "placecat.duckdb"
    reference_path(db).parent.mkdir(parents=True)
    shutil.copyfile(reference_path(build.db_path), reference_path(db))
    second = start_build(db, "run-2")
    with second.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM ref.imd").fetchone()[0] == 32844
        assert con.execute("SELECT count(*) FROM ref.lga_service_type").fetchone()[0] == 1519
