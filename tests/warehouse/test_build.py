"""The catalogue build's DuckDB memory limit (PLACECAT_DUCKDB_MEMORY_LIMIT) and its spill directory."""
from __future__ import annotations

import duckdb
import pytest

from tests.support.nights import copy_sample, fail_run, last_line
from warehouse.build import DEFAULT_MEMORY_LIMIT, MEMORY_LIMIT_ENV, connect_build, start_build
from warehouse.state import PublishError, state_dir_for


def shown_as(size: str) -> str:
    """How DuckDB shows a memory limit of `size` (e.g. 3GB is '2.7 GiB')."""
    with duckdb.connect() as con:
        con.execute(f"SET memory_limit = '{size}'")
        return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def settings(con: duckdb.DuckDBPyConnection) -> tuple[str, str]:
    return con.execute("SELECT current_setting('memory_limit'), current_setting('temp_directory')").fetchone()


def test_a_build_connection_has_the_default_limit_and_spills_beside_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)
    path = tmp_path / "build.duckdb"
    with connect_build(path) as con:
        assert settings(con) == (shown_as(DEFAULT_MEMORY_LIMIT), f"{path}.tmp")
        # A second connection to the same file in this process (as other code opens one) works.
        with duckdb.connect(str(path), read_only=False) as other:
            assert settings(other)[0] == shown_as(DEFAULT_MEMORY_LIMIT)


def test_the_limit_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "500MB")
    with connect_build(tmp_path / "build.duckdb") as con:
        assert settings(con)[0] == shown_as("500MB")


def test_a_limit_duckdb_cannot_read_is_named_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "lots")
    with pytest.raises(PublishError) as err:
        connect_build(tmp_path / "build.duckdb")
    assert MEMORY_LIMIT_ENV in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow
def test_a_night_with_a_bad_limit_says_so_in_one_line(tmp_path):
    sources, db = copy_sample(tmp_path), tmp_path / "out" / "placecat.duckdb"
    code, out, err = fail_run(sources, db, env={MEMORY_LIMIT_ENV: "lots"})
    assert code != 0 and "Traceback" not in out + err
    assert MEMORY_LIMIT_ENV in last_line(out, err)
    assert not db.exists()


def test_the_spill_directory_of_a_killed_build_is_removed_by_the_next(tmp_path):
    db = tmp_path / "placecat.duckdb"
    spill = state_dir_for(db) / "build" / "killed-run.duckdb.tmp"
    spill.mkdir(parents=True)
    (spill / "duckdb_temp_storage-0.tmp").write_bytes(b"\0" * 1024)
    build = start_build(db, "run-2")
    assert not spill.exists() and build.path.exists()
