"""The DuckDB model matches the official ORUK v3 (UK profile) schemas in ../shared."""
import json

import duckdb

from warehouse.model import ORUK_TABLES
from warehouse.schema import SCHEMAS, create_all


def test_every_uk_profile_column_is_in_the_model(fixtures_dir):
    schema_dir = fixtures_dir / "oruk" / "schema" / "v3-uk"
    for table, columns in ORUK_TABLES.items():
        official = json.loads((schema_dir / f"{table}.json").read_text())
        scalar = {name for name, spec in official["properties"].items()
                  if spec.get("type") != "array" and "$ref" not in spec and name not in ("taxonomy_term", "location", "organization")}
        ours_uk = {name for name, _t, origin in columns if origin == "uk"}
        assert scalar == ours_uk, f"{table}: missing {scalar - ours_uk}, extra {ours_uk - scalar}"


def test_numbers_in_the_schema_are_numbers_in_the_model(fixtures_dir):
    schema_dir = fixtures_dir / "oruk" / "schema" / "v3-uk"
    for table, columns in ORUK_TABLES.items():
        official = json.loads((schema_dir / f"{table}.json").read_text())["properties"]
        for name, typ, origin in columns:
            if origin == "uk" and official[name].get("type") == "number":
                assert typ == "DOUBLE", f"{table}.{name}"


def test_create_all_makes_the_stage_schemas(tmp_path):
    con = duckdb.connect(str(tmp_path / "x.duckdb"))
    create_all(con)
    schemas = {r[0] for r in con.execute("SELECT schema_name FROM duckdb_schemas()").fetchall()}
    assert set(SCHEMAS) <= schemas
    cols = {r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name='staging' AND table_name='service'").fetchall()}
    assert {"source_id", "source_record_id", "extras", "name", "assured_date"} <= cols
    create_all(con)  # idempotent
