"""`placecat match` reads its JSON Lines file in batches: the staging it loads is the same as all at once."""
import json

import duckdb
import pytest

from dedupe.match_cli import InputError, load_staging, read_batches, read_services
from warehouse.schema import create_staging_tables


def service(source: str, n: int, org: str) -> dict:
    # one organisation embedded in services that fall in different batches: staged once per source
    return {"source_id": source, "id": f"{source}-{n}", "name": f"Service {n}",
            "organization": {"id": org, "name": f"Organisation {org}"},
            "phones": [{"id": f"p-{source}-{n}", "number": f"0113 496 0{n:03d}"}],
            "service_at_locations": [{"id": f"sal-{source}-{n}", "location": {
                "id": f"loc-{n % 3}", "name": f"Hall {n % 3}",
                "addresses": [{"id": f"a-{n % 3}", "address_1": f"{n % 3} High St", "city": "Leeds", "postal_code": "LS1 1AA"}]}}]}


def staged(path, batch: int | None) -> dict[str, list[tuple]]:
    con = duckdb.connect()
    create_staging_tables(con)
    batches = [read_services(path)] if batch is None else read_batches(path, batch)
    for per_source in batches:
        load_staging(con, per_source)
    tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'staging'").fetchall()]
    return {t: sorted(con.execute(f"SELECT * FROM staging.{t}").fetchall(), key=repr) for t in tables}


def test_reading_in_batches_stages_what_reading_at_once_does(tmp_path):
    path = tmp_path / "services.jsonl"
    lines = [service(src, n, org=f"org-{n % 2}") for n in range(7) for src in ("council", "nhs")]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    at_once = staged(path, None)
    assert len(at_once["service"]) == 14 and len(at_once["organization"]) == 4 and len(at_once["location"]) == 6
    for batch in (1, 3, 5, 14, 100):
        assert staged(path, batch) == at_once


def test_an_empty_file_is_one_clear_error(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    with pytest.raises(InputError, match="no services in the file"):
        list(read_batches(path, 2))
    with pytest.raises(InputError, match="no such file"):
        read_services(tmp_path / "missing.jsonl")
