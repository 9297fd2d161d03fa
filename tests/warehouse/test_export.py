"""`placecat export`: static API, ORUK tabular data package, Parquet; atomic switch; no formulas."""
from __future__ import annotations

import csv
import json
import os
import threading

import duckdb
import pytest

from pipelines.cli import main
from warehouse.export import CSV_PATHS, ExportError, export_catalogue, neutralise_formula
from warehouse.model import oruk_columns
from tests.support.published import (FORBIDDEN_STRINGS, FORMULA_LOCATION, FORMULA_NAME, FORMULA_ORG, OrukSchemas)


@pytest.fixture(scope="module")
def exported(published_sample, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    export_catalogue(published_sample, out, per_page=10, item_files=True)
    return out


def catalogue(db, sql):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_layout_and_current_pointer(exported, published_sample):
    current = exported / "current"
    assert current.is_symlink() and not os.path.isabs(os.readlink(current))
    manifest = json.loads((current / "manifest.json").read_text())
    n = catalogue(published_sample, "SELECT count(*) FROM catalogue.service")[0][0]
    assert manifest["counts"]["services"] == n
    pages = sorted((current / "api" / "services").glob("page-*.json"))
    assert len(pages) == -(-n // 10)
    ids = [i["id"] for p in pages for i in json.loads(p.read_text())["contents"]]
    assert sorted(ids) == sorted(r[0] for r in catalogue(published_sample, "SELECT id FROM catalogue.service"))
    for sid in ids:
        assert json.loads((current / "api" / "services" / f"{sid}.json").read_text())["id"] == sid


def test_static_api_validates_against_the_official_schemas(exported, fixtures_dir):
    schemas = OrukSchemas(fixtures_dir)
    api = exported / "current" / "api"
    assert schemas.errors(schemas.api_details, json.loads((api / "index.json").read_text())) == []
    for folder, path in (("services", "/services"), ("service_at_locations", "/service_at_locations"),
                         ("taxonomies", "/taxonomies"), ("taxonomy_terms", "/taxonomy_terms")):
        for page in (api / folder).glob("page-*.json"):
            assert schemas.errors(schemas.response_schema(path), json.loads(page.read_text())) == [], page
    dump = json.loads((api / "services.json").read_text())
    assert dump["total_items"] == len(dump["contents"]) > 0
    for service in dump["contents"]:
        assert schemas.errors("compiled/service.json", service) == []
        assert service == json.loads((api / "services" / f"{service['id']}.json").read_text())
    for f in (api / "service_at_locations").glob("*.json"):
        if not f.name.startswith("page-"):
            assert schemas.errors("compiled/service_at_location.json", json.loads(f.read_text())) == []


def test_tabular_package_follows_the_official_one(exported, fixtures_dir, published_sample):
    official = json.loads((fixtures_dir / "oruk" / "schema" / "v3-uk" / "datapackage.json").read_text())
    official_paths = {r["name"]: r["path"] for r in official["resources"]}
    tabular = exported / "current" / "tabular"
    package = json.loads((tabular / "datapackage.json").read_text())
    ours = {r["name"]: r for r in package["resources"]}
    assert {name: ours[name]["path"] for name in official_paths} == official_paths
    for resource in official["resources"]:
        ours_fields = [f["name"] for f in ours[resource["name"]]["schema"]["fields"]]
        # Every official field, in the official order (HSDS core extras may follow).
        assert ours_fields[:len(resource["schema"]["fields"])] == [f["name"] for f in resource["schema"]["fields"]]
        key = lambda fk: (fk["fields"], fk["reference"]["resource"])  # noqa: E731
        assert sorted(map(key, ours[resource["name"]]["schema"].get("foreignKeys", []))) == \
            sorted(map(key, resource["schema"].get("foreignKeys", []))), resource["name"]
    for name, resource in ours.items():
        with open(tabular / resource["path"], newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        assert rows[0] == [fld["name"] for fld in resource["schema"]["fields"]]
        if name in CSV_PATHS:
            assert len(rows) - 1 == catalogue(published_sample, f"SELECT count(*) FROM catalogue.{name}")[0][0]


def test_csv_cells_cannot_run_as_formulas(exported):
    tabular = exported / "current" / "tabular"
    cells = []
    for path in tabular.glob("*.csv"):
        with open(path, newline="", encoding="utf-8") as f:
            cells += [(path.name, c) for row in csv.reader(f) for c in row]
    dangerous = [(p, c) for p, c in cells if c[:1] in ("=", "+", "@", "\t", "\r")
                 or (c[:1] == "-" and not _is_number(c))]
    assert dangerous == []
    values = {c for _, c in cells}
    for formula in (FORMULA_NAME, FORMULA_ORG, FORMULA_LOCATION, "-2+3 people per session"):
        assert "'" + formula in values
    assert any(c.startswith("-1.") for c in values)  # longitudes stay numbers
    assert neutralise_formula("=1+1") == "'=1+1" and neutralise_formula("Food bank") == "Food bank"


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def test_parquet_matches_the_published_tables(exported, published_sample):
    parquet = exported / "current" / "parquet"
    with duckdb.connect() as con:
        for table in ("service", "location", "schedule", "taxonomy_term", "replaced_by"):
            n = con.execute(f"SELECT count(*) FROM read_parquet('{parquet / (table + '.parquet')}')").fetchall()[0][0]
            assert n == catalogue(published_sample, f"SELECT count(*) FROM catalogue.{table}")[0][0]
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{parquet / 'service.parquet'}')").fetchall()]
        assert cols == oruk_columns("service")


def test_no_personal_data_or_script_in_any_exported_file(exported):
    root = exported / "current"
    texts = [p.read_text(encoding="utf-8") for p in root.rglob("*") if p.is_file() and p.suffix in (".json", ".csv")]
    with duckdb.connect() as con:
        for p in (root / "parquet").glob("*.parquet"):
            texts += [r[0] for r in con.execute(f"SELECT to_json(t)::VARCHAR FROM read_parquet('{p}') t").fetchall()]
    assert len(texts) > 50
    for text in texts:
        for bad in FORBIDDEN_STRINGS:
            assert bad not in text


def test_export_is_atomic_and_keeps_the_last_versions(published_sample, tmp_path):
    out = tmp_path / "exp"
    first = export_catalogue(published_sample, out)["version"]
    (out / "versions" / ".building-killed").mkdir()  # what a killed export leaves behind
    stop, errors = threading.Event(), []

    def reader():
        while not stop.is_set():
            try:
                manifest = json.loads((out / "current" / "manifest.json").read_text())
                assert manifest["counts"]["services"] > 0
                assert (out / "current" / "api" / "services.json").stat().st_size > 0
            except Exception as exc:  # noqa: BLE001 - any failure to read is what we look for
                errors.append(repr(exc))

    t = threading.Thread(target=reader)
    t.start()
    try:
        versions = [export_catalogue(published_sample, out, keep=2)["version"] for _ in range(2)]
    finally:
        stop.set()
        t.join()
    assert errors == []
    assert os.path.realpath(out / "current") == os.path.realpath(versions[-1])
    kept = sorted(p.name for p in (out / "versions").iterdir())
    assert kept == sorted(os.path.basename(v) for v in versions) and os.path.basename(first) not in kept


def test_export_errors_are_one_line(published_sample, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="file"):
        export_catalogue(published_sample, blocker / "out")
    assert main(["export", "--db", str(tmp_path / "nope.duckdb"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope.duckdb" in err
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text("profiles:\n  hub: {status: [open]}\n")
    assert main(["export", "--db", str(published_sample), "--out", str(tmp_path / "o"), "--profile", "hub",
                 "--profiles", str(profiles)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "profiles.yaml" in err and "'open'" in err


def test_static_dump_round_trips_through_the_oruk_connector(exported, published_sample, tmp_path):
    """The exported full dump, read by the ORUK connector (local files), gives back the catalogue."""
    from tests.support.roundtrip import assert_staging_equals_published, harvest_to_staging

    sources = tmp_path / "sources.yaml"
    sources.write_text(f"sources:\n  - id: from-export\n    kind: oruk\n    path: {exported / 'current' / 'api' / 'services.json'}\n"
                       f"    publisher: placecat export\n    role: none\n")
    snapshot = harvest_to_staging(sources, tmp_path / "state", "from-export")
    assert_staging_equals_published(snapshot, "from-export", published_sample)
