"""`placecat match` reads its JSON Lines file in batches, and a large one in parts side by side:
the staging it loads is the same as one reader's, all at once."""
import json
import os
import subprocess
import sys

import duckdb
import pytest

from dedupe.match_cli import InputError, load_file, load_staging, read_batches, read_services
from tests.support.environment import REPO
from warehouse.schema import create_staging_tables


def service(source: str, n: int, org: str) -> dict:
    # one organisation embedded in services that fall in different batches and parts: staged once per
    # source, as its first copy in the file says (the copies differ in their description)
    return {"source_id": source, "id": f"{source}-{n}", "name": f"Service {n}",
            "organization": {"id": org, "name": f"Organisation {org}", "description": f"as listed with service {n}"},
            "phones": [{"id": f"p-{source}-{n}", "number": f"0113 496 0{n:03d}"}],
            "service_at_locations": [{"id": f"sal-{source}-{n}", "location": {
                "id": f"loc-{n % 3}", "name": f"Hall {n % 3}",
                "addresses": [{"id": f"a-{n % 3}", "address_1": f"{n % 3} High St", "city": "Leeds", "postal_code": "LS1 1AA"}]}}]}


def tables(con) -> dict[str, list[tuple]]:
    names = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'staging'").fetchall()]
    return {t: sorted(con.execute(f"SELECT * FROM staging.{t}").fetchall(), key=repr) for t in names}


def staged(path, batch: int | None = None, parts: int | None = None) -> dict[str, list[tuple]]:
    con = duckdb.connect()
    if parts is not None:
        load_file(con, path, parts=parts)
        return tables(con)
    create_staging_tables(con)
    for per_source in [read_services(path)] if batch is None else read_batches(path, batch):
        load_staging(con, per_source)
    return tables(con)


@pytest.fixture
def services_file(tmp_path):
    path = tmp_path / "services.jsonl"
    lines = [service(src, n, org=f"org-{n % 2}") for n in range(7) for src in ("council", "nhs")]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    return path


def test_reading_in_batches_stages_what_reading_at_once_does(services_file):
    at_once = staged(services_file)
    assert len(at_once["service"]) == 14 and len(at_once["organization"]) == 4 and len(at_once["location"]) == 6
    orgs = {row for row in at_once["organization"]}
    assert any("as listed with service 0" in str(row) for row in orgs) and not any("service 2" in str(row) for row in orgs)
    for batch in (1, 3, 5, 14, 100):
        assert staged(services_file, batch) == at_once


def test_reading_in_parts_side_by_side_stages_what_one_reader_does(services_file):
    at_once = staged(services_file)
    for parts in (1, 3):
        assert staged(services_file, parts=parts) == at_once


def test_a_bad_line_in_a_later_part_is_named_by_its_line_in_the_file(tmp_path):
    path = tmp_path / "bad.jsonl"
    good = [json.dumps(service("council", n, "org-0")) for n in range(9)]
    path.write_text("\n".join(good[:7] + ["{oops"] + good[7:]) + "\n")
    with pytest.raises(InputError, match="line 8: not valid JSON"):
        load_file(duckdb.connect(), path, parts=2)
    path.write_text("\n".join(good[:7] + ['{"id": "x"}'] + good[7:]) + "\n")
    with pytest.raises(InputError, match="line 8: each service needs 'source_id' and 'id'"):
        load_file(duckdb.connect(), path, parts=2)


def test_an_empty_file_is_one_clear_error(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    with pytest.raises(InputError, match="no services in the file"):
        list(read_batches(path, 2))
    with pytest.raises(InputError, match="no services in the file"):
        load_file(duckdb.connect(), path, parts=2)
    with pytest.raises(InputError, match="no such file"):
        read_services(tmp_path / "missing.jsonl")


def test_a_memory_limit_duckdb_cannot_read_is_one_line(tmp_path, services_file):
    env = os.environ | {"PLACECAT_DUCKDB_MEMORY_LIMIT": "lots"}
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "match", str(services_file), "--out", str(tmp_path / "o.csv")],
                          capture_output=True, text=True, cwd=REPO, env=env)
    assert proc.returncode == 2
    assert "PLACECAT_DUCKDB_MEMORY_LIMIT='lots'" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
