"""The README documents every command and every table that placecat publishes."""
import re
import subprocess
import sys

import duckdb
import pytest

from pipelines.cli import COMMANDS, available_commands
from tests.support.environment import REPO
from warehouse.model import ORUK_TABLES

README = (REPO / "README.md").read_text(encoding="utf-8")


def test_every_command_is_installed_and_documented():
    assert set(available_commands()) == set(COMMANDS)
    for name in COMMANDS:
        assert f"placecat {name}" in README, f"README does not document `placecat {name}`"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help(name):
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", name, "--help"], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"usage: placecat {name}" in proc.stdout


def test_every_published_table_is_documented(published_sample):
    with duckdb.connect(str(published_sample), read_only=True) as con:
        tables = con.execute("""SELECT schema_name, table_name FROM duckdb_tables()
                                WHERE schema_name NOT IN ('work', 'previous', 'main')""").fetchall()
    documented = set(re.findall(r"`([a-z_]+\.[a-z_<>]+)", README))
    missing = []
    for schema, table in tables:
        name = f"{schema}.{table}"
        if table in ORUK_TABLES and schema in ("staging", "catalogue") and f"{schema}.<object>" in documented:
            continue
        if name not in documented:
            missing.append(name)
    assert not missing, f"tables missing from README: {missing}"
