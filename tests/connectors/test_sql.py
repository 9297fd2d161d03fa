"""SQL sources against real PostgreSQL and MariaDB on 127.0.0.1, and SQLite, each holding a
100,000-row directory table (created under a test-unique name and dropped afterwards)."""
from __future__ import annotations

import json
import uuid

import duckdb
import pytest
import sqlalchemy as sa
import yaml

from connectors.config import load_sources
from connectors.refresh import harvest_source
from connectors.sql import expand_env, stream_rows
from tests.support.environment import require_service
from tests.support.sheets import harvest_and_normalise, sources_yaml
from tests.support.sql_tables import CREATE, FILL
from warehouse.snapshots import SourceStore

ROWS = 100_000
BAD_EVERY = 1000  # every 1000th row has no service name
NULL_NAMES = "UPDATE {t} SET service_name = NULL WHERE ref % " + str(BAD_EVERY) + " = 0"

MAPPING = {
    "id": "ref",
    "columns": {"service.name": "service_name", "organization.name": "org_name", "address.postal_code": "postcode",
                "phone.number": "phone", "schedule.byday": {"column": "meets", "split": ","},
                "schedule.opens_at": "opens", "service.last_modified": "updated"},
}


def _url(kind: str, tmp_path) -> str:
    if kind == "postgresql":
        require_service("PostgreSQL", "127.0.0.1", 5432)
        return "postgresql+psycopg://${PLACECAT_TEST_PGUSER}@127.0.0.1:5432/test"
    if kind == "mariadb":
        require_service("MariaDB", "127.0.0.1", 3306)
        return "mysql+pymysql://root@127.0.0.1:3306/test"
    return f"sqlite:///{tmp_path / 'directory.db'}"


@pytest.fixture(params=[
    pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.integration]),
    pytest.param("mariadb", marks=[pytest.mark.mariadb, pytest.mark.integration]),
    "sqlite",
])
def directory_table(request, tmp_path, monkeypatch):
    """(sources file, source id, table name, url) for a 100,000-row table in that database."""
    kind = request.param
    monkeypatch.setenv("PLACECAT_TEST_PGUSER", "postgres")
    url = _url(kind, tmp_path)
    table = f"placecat_dir_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(expand_env(url, "test"))
    with engine.begin() as con:
        con.execute(sa.text(CREATE.format(t=table, time="TIME" if kind != "sqlite" else "VARCHAR(8)")))
        con.execute(sa.text(FILL[kind].format(t=table, rows=ROWS)))
        con.execute(sa.text(NULL_NAMES.format(t=table)))
    (tmp_path / "mapping.yaml").write_text(yaml.safe_dump(MAPPING), encoding="utf-8")
    sources = sources_yaml(tmp_path, [{"id": f"{kind}-directory", "kind": "sql", "url": url, "table": table,
                                       "mapping": "mapping.yaml", "publisher": "Supplier database",
                                       "chunk_size": 2000}])
    try:
        yield sources, f"{kind}-directory", table, url
    finally:
        with engine.begin() as con:
            con.execute(sa.text(f"DROP TABLE {table}"))
        engine.dispose()


@pytest.mark.slow
def test_a_100k_row_table_is_streamed_into_raw_records(directory_table, tmp_path):
    sources, source_id, _table, _url = directory_table
    source = load_sources(sources).get(source_id)
    h = harvest_source(source, tmp_path / "state", "run-1")
    assert h.status == "ok", h.message
    assert h.stats["rows"] == ROWS and h.stats["without_id"] == 0 and h.stats["duplicates"] == 0
    pending = SourceStore(tmp_path / "state", source_id).snapshots / f"{h.version}.duckdb.partial"
    with duckdb.connect(str(pending), read_only=True) as con:
        count, nulls = con.execute("""SELECT count(*), count(*) FILTER (WHERE payload->>'service_name' IS NULL)
                                      FROM raw.record""").fetchone()
        payload = json.loads(con.execute("SELECT payload FROM raw.record WHERE record_id = '7'").fetchone()[0])
    assert (count, nulls) == (ROWS, ROWS // BAD_EVERY)
    # each driver's types arrive as plain JSON values
    assert payload == {"ref": 7, "service_name": "Service 7", "org_name": "Org 7", "postcode": "TW8 8AB",
                       "phone": "020 8007 1234", "meets": "Mon", "opens": "16:00:00", "updated": "2024-01-08",
                       "cost": 10.5}


def test_good_rows_load_and_bad_rows_are_reported(directory_table, tmp_path):
    sources, source_id, table, _url = directory_table
    doc = yaml.safe_load(sources.read_text())
    doc["sources"][0].pop("table")
    doc["sources"][0]["query"] = f"SELECT * FROM {table} WHERE ref <= 3000 ORDER BY ref"
    sources.write_text(yaml.safe_dump(doc), encoding="utf-8")
    h, n, snap = harvest_and_normalise(sources, tmp_path / "state", source_id)
    assert h.status == "ok" and n.status == "ok", h.message
    assert n.records_in == 3000 - 3
    with duckdb.connect(str(snap), read_only=True) as con:
        row = con.execute("""SELECT s.name, o.name, a.postal_code, p.number, c.byday, c.opens_at, s.last_modified
                             FROM staging.service s JOIN staging.organization o ON o.id = s.organization_id
                             JOIN staging.service_at_location sl ON sl.service_id = s.id
                             JOIN staging.address a ON a.location_id = sl.location_id
                             JOIN staging.phone p ON p.service_id = s.id
                             JOIN staging.schedule c ON c.service_id = s.id
                             WHERE s.source_record_id = '1'""").fetchone()
        issues = con.execute("SELECT record_id, severity, message FROM quality.issue ORDER BY record_id::INT").fetchall()
    assert tuple(map(str, row)) == ("Service 1", "Org 1", "TW2 2AB", "020 8001 1234", "TU,TH", "10:00:00",
                                    "2024-01-02 00:00:00")
    assert [i[:2] for i in issues] == [("1000", "blocking"), ("2000", "blocking"), ("3000", "blocking")]
    assert issues[0][2].endswith(" query, row 1000: service.name (column 'service_name') is empty; the row was not loaded")


def test_rows_are_streamed_in_chunks_from_a_query(directory_table):
    sources, source_id, table, _url = directory_table
    source = load_sources(sources).get(source_id)
    source.options["query"] = f"SELECT ref, service_name FROM {table} WHERE ref <= 5000 ORDER BY ref"
    columns, rows, engine = stream_rows(source, chunk_size=500)
    try:
        assert columns == ["ref", "service_name"]
        first = next(rows)
        assert first == (1, {"ref": 1, "service_name": "Service 1"})
        assert sum(1 for _ in rows) == 4999
    finally:
        rows.close()
        engine.dispose()


def test_credentials_come_from_the_environment(tmp_path, monkeypatch):
    (tmp_path / "mapping.yaml").write_text(yaml.safe_dump(MAPPING), encoding="utf-8")
    sources = sources_yaml(tmp_path, [{"id": "db", "kind": "sql", "mapping": "mapping.yaml", "table": "t",
                                       "url": "postgresql+psycopg://reader:${PLACECAT_NO_SUCH_VAR}@127.0.0.1/test",
                                       "publisher": "Supplier"}])
    monkeypatch.delenv("PLACECAT_NO_SUCH_VAR", raising=False)
    h, _n, snap = harvest_and_normalise(sources, tmp_path / "state")
    assert h.status == "failed" and snap is None
    assert "environment variable PLACECAT_NO_SUCH_VAR is not set" in h.message


def test_a_missing_table_is_one_line_without_the_password(tmp_path, monkeypatch):
    (tmp_path / "mapping.yaml").write_text(yaml.safe_dump(MAPPING), encoding="utf-8")
    monkeypatch.setenv("PLACECAT_TEST_SECRET", "hunter2")
    db = tmp_path / "empty.db"
    sa.create_engine(f"sqlite:///{db}").connect().close()
    sources = sources_yaml(tmp_path, [{"id": "db", "kind": "sql", "mapping": "mapping.yaml", "table": "no_such_table",
                                       "url": f"sqlite:///{db}", "publisher": "Supplier"}])
    h, _n, _snap = harvest_and_normalise(sources, tmp_path / "state")
    assert h.status == "failed" and "no such table: no_such_table" in h.message and "\n" not in h.message
