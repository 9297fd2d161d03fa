"""Publishing profiles: the YAML, its one-line errors, and which golden records each filter keeps."""
from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import pytest

from warehouse.profiles import (DEFAULT_PROFILE, ProfileError, load_profiles, load_published, parse_age,
                                resolve_profile)


def write(tmp_path, text):
    path = tmp_path / "profiles.yaml"
    path.write_text(text)
    return path


def published_ids(db, profile):
    con = load_published(db, profile)
    try:
        return {r[0] for r in con.execute("SELECT id FROM catalogue.service").fetchall()}
    finally:
        con.close()


def sql(db, query, args=()):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(query, list(args)).fetchall()


def test_profiles_file_is_read(tmp_path):
    path = write(tmp_path, """
profiles:
  two-counties:
    description: West and North Yorkshire hub
    areas: [West Yorkshire, North Yorkshire]
  fresh:
    max_assurance_age: 6 months
  clean:
    status: [active]
    assured_only: true
    sources: [leeds-council, leeds-nhs-directory]
    exclude_sources: [old-import]
    service_types: [Food banks]
""")
    profiles = load_profiles(path)
    assert profiles["two-counties"].areas == ("West Yorkshire", "North Yorkshire")
    assert profiles["fresh"].max_assurance_age_days == 183
    assert profiles["clean"].status == ("active",) and profiles["clean"].assured_only
    assert resolve_profile("clean", path).sources == ("leeds-council", "leeds-nhs-directory")
    assert resolve_profile(None, None) == DEFAULT_PROFILE
    assert [parse_age(v, "x") for v in (30, "30", "2 weeks", "1 year", "26w")] == [30, 30, 14, 365, 182]


@pytest.mark.parametrize("text, expected", [
    ("profiles:\n  hub: {areaz: [Leeds]}\n", "unknown field 'areaz'"),
    ("profiles:\n  hub: {status: [open]}\n", "'open' is not a service status"),
    ("profiles:\n  hub: {max_assurance_age: soon}\n", "'soon' is not an age"),
    ("profiles:\n  hub: {areas: {a: b}}\n", "field 'areas' must be a list"),
    ("hub: {}\n", "top-level 'profiles:'"),
    ("profiles: [\n", "not valid YAML at line"),
])
def test_mistakes_get_one_line_naming_the_file(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ProfileError) as err:
        load_profiles(path)
    msg = str(err.value)
    assert expected in msg and str(path) in msg and "\n" not in msg


def test_unknown_profile_names_the_known_ones(tmp_path):
    path = write(tmp_path, "profiles:\n  a: {}\n  b: {}\n")
    with pytest.raises(ProfileError, match="no profile named 'c'; known: a, b"):
        resolve_profile("c", path)
    with pytest.raises(ProfileError, match="not found"):
        resolve_profile("a", tmp_path / "missing.yaml")


def test_source_status_and_assurance_filters(published_sample, tmp_path):
    db = tmp_path / "c.duckdb"
    shutil.copyfile(published_sample, db)
    ids = [r[0] for r in sql(db, "SELECT id FROM catalogue.service ORDER BY id")]
    today = dt.date.today()
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE catalogue.service SET status = 'inactive' WHERE id = ?", [ids[0]])
        con.execute("UPDATE catalogue.service SET assured_date = NULL WHERE id = ?", [ids[1]])
        con.execute("UPDATE catalogue.service SET assured_date = ? WHERE id = ?", [today - dt.timedelta(days=400), ids[2]])
        con.execute("UPDATE catalogue.service SET assured_date = ? WHERE id = ?", [today - dt.timedelta(days=10), ids[3]])
    path = write(tmp_path, """
profiles:
  active: {status: [active]}
  assured: {assured_only: true}
  fresh: {max_assurance_age: 6 months}
  nhs: {sources: [leeds-nhs-directory]}
  not-nhs: {exclude_sources: [leeds-nhs-directory]}
""")
    everything = published_ids(db, DEFAULT_PROFILE)
    assert everything == set(ids)
    assert published_ids(db, resolve_profile("active", path)) == set(ids) - {ids[0]}
    assured = {r[0] for r in sql(db, "SELECT id FROM catalogue.service WHERE assured_date IS NOT NULL")}
    assert published_ids(db, resolve_profile("assured", path)) == assured and ids[1] not in assured
    fresh = published_ids(db, resolve_profile("fresh", path))
    assert ids[3] in fresh and ids[2] not in fresh and ids[1] not in fresh
    assert fresh == {r[0] for r in sql(db, "SELECT id FROM catalogue.service WHERE assured_date >= ?",
                                       [today - dt.timedelta(days=183)])}
    nhs = {r[0] for r in sql(db, "SELECT service_id FROM catalogue.service_source WHERE source_id = 'leeds-nhs-directory'")}
    assert published_ids(db, resolve_profile("nhs", path)) == nhs and 0 < len(nhs) < len(ids)
    assert published_ids(db, resolve_profile("not-nhs", path)) == set(ids) - nhs


def test_area_and_service_type_filters(published_sample, tmp_path):
    db = tmp_path / "c.duckdb"
    shutil.copyfile(published_sample, db)
    some = [r[0] for r in sql(db, """SELECT DISTINCT sal.service_id FROM catalogue.service_at_location sal
                                     ORDER BY 1 LIMIT 2""")]
    with duckdb.connect(str(db)) as con:
        # Move two services' addresses to Harrogate, North Yorkshire.
        con.execute("""UPDATE catalogue.address SET city = 'Harrogate', state_province = 'North Yorkshire',
                       postal_code = 'HG1 2RS' WHERE location_id IN (
                         SELECT location_id FROM catalogue.service_at_location WHERE service_id IN (?, ?))""", some)
    path = write(tmp_path, """
profiles:
  north: {areas: [north yorkshire]}
  hg: {areas: [HG]}
  hg1: {areas: [HG1]}
  ls1: {areas: [LS1]}
  food: {service_types: [food banks]}
  ons: {areas: [E08000035]}
""")
    north = published_ids(db, resolve_profile("north", path))
    # Locations are shared (a leisure centre's classes), so every service at a moved location counts.
    moved = {r[0] for r in sql(db, """SELECT DISTINCT sal.service_id FROM catalogue.service_at_location sal
                                      JOIN catalogue.address a ON a.location_id = sal.location_id
                                      WHERE a.state_province = 'North Yorkshire'""")}
    assert north == moved and set(some) <= moved
    assert published_ids(db, resolve_profile("hg", path)) == north == published_ids(db, resolve_profile("hg1", path))
    ls1 = {r[0] for r in sql(db, """SELECT DISTINCT sal.service_id FROM catalogue.service_at_location sal
                                    JOIN catalogue.address a ON a.location_id = sal.location_id
                                    WHERE a.postal_code LIKE 'LS1 %'""")}
    assert published_ids(db, resolve_profile("ls1", path)) == ls1 and ls1  # LS1 is not LS11 or LS12
    food = {r[0] for r in sql(db, """SELECT a.link_id FROM catalogue.attribute a JOIN catalogue.taxonomy_term t
                                     ON t.id = a.taxonomy_term_id WHERE t.name = 'Food banks'""")}
    assert published_ids(db, resolve_profile("food", path)) == food and food
    has_ref = sql(db, "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'ref' AND table_name = 'postcode'")[0][0]
    if not has_ref:
        with pytest.raises(Exception, match="reference postcode table"):
            published_ids(db, resolve_profile("ons", path))


def test_ons_area_codes_use_the_reference_postcodes(published_sample, tmp_path):
    db = tmp_path / "c.duckdb"
    shutil.copyfile(published_sample, db)
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS ref")
        con.execute("CREATE OR REPLACE TABLE ref.postcode (postcode VARCHAR, lad VARCHAR, latitude DOUBLE, longitude DOUBLE)")
        con.execute("INSERT INTO ref.postcode VALUES ('LS1 5AB', 'E08000035', 53.8, -1.55), ('LS2 7EY', 'E08000099', 53.8, -1.54)")
    path = write(tmp_path, "profiles:\n  leeds: {areas: [E08000035]}\n")
    expected = {r[0] for r in sql(db, """SELECT DISTINCT sal.service_id FROM catalogue.service_at_location sal
                                         JOIN catalogue.address a ON a.location_id = sal.location_id
                                         WHERE a.postal_code = 'LS1 5AB'""")}
    assert published_ids(db, resolve_profile("leeds", path)) == expected and expected
