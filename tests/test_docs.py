"""The documentation: a short README that guides, and docs/ that is complete and current.

docs/cli.md is generated from the commands' own `--help` (pipelines/cli_reference.py), every table
placecat publishes is in docs/tables.md, every environment variable the code reads is in docs/,
and no link leads outside the repository.
"""
import ast
import re
import subprocess
import sys

import duckdb
import pytest

from pipelines.cli import COMMANDS, available_commands
from pipelines.cli_reference import render
from tests.support.environment import REPO
from warehouse.model import ORUK_TABLES

README = REPO / "README.md"
DOCS = REPO / "docs"
PRODUCT = ("connectors", "dedupe", "quality", "warehouse", "pipelines")


def docs_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md")))


def test_the_readme_is_a_short_guide():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; reference material belongs in docs/"
    text = "\n".join(lines)
    for must in ("make demo", "make test", "## Your first spreadsheet", "## Adding a feed", "## Where to go next"):
        assert must in text


def test_docs_cli_md_is_what_the_commands_print():
    assert (DOCS / "cli.md").read_text(encoding="utf-8") == render(), (
        "docs/cli.md is stale: run `make docs` (python -m pipelines.cli_reference > docs/cli.md)")


def test_every_command_is_installed_documented_and_named_in_the_readme():
    assert set(available_commands()) == set(COMMANDS)
    cli_md = (DOCS / "cli.md").read_text(encoding="utf-8")
    readme = README.read_text(encoding="utf-8")
    for name in COMMANDS:
        assert f"## placecat {name}\n" in cli_md
        assert f"`placecat {name}`" in readme, f"README does not name `placecat {name}`"


def test_the_installed_command_prints_its_help():
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "--help"], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0 and "usage: placecat" in proc.stdout, proc.stderr


@pytest.mark.slow  # a whole night (the published sample)
def test_every_published_table_is_documented(published_sample):
    with duckdb.connect(str(published_sample), read_only=True) as con:
        tables = con.execute("""SELECT schema_name, table_name FROM duckdb_tables()
                                WHERE schema_name NOT IN ('work', 'previous', 'main')""").fetchall()
    documented = set(re.findall(r"`([a-z_]+\.[a-z_<>]+)", (DOCS / "tables.md").read_text(encoding="utf-8")))
    missing = []
    for schema, table in tables:
        name = f"{schema}.{table}"
        if table in ORUK_TABLES and schema in ("staging", "catalogue") and f"{schema}.<object>" in documented:
            continue
        if name not in documented:
            missing.append(name)
    assert not missing, f"tables missing from docs/tables.md: {missing}"


def environment_variables_read() -> set[str]:
    """Every PLACECAT_* string literal in the product code (the names it reads from the environment)."""
    names = set()
    for package in PRODUCT:
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    names.update(re.findall(r"^(PLACECAT_[A-Z_]+)$", node.value))
    return names


def test_every_environment_variable_is_documented():
    found = environment_variables_read()
    assert {"PLACECAT_DB", "PLACECAT_STATE", "PLACECAT_DUCKDB_MEMORY_LIMIT"} <= found  # the scan finds them
    text = docs_text()
    missing = sorted(n for n in found if f"`{n}`" not in text)
    assert not missing, f"environment variables missing from docs/: {missing}"


def test_no_link_leads_outside_the_repository():
    outside = []
    for page in [README, *sorted(DOCS.glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            path = target.split("#")[0]
            if not path:
                continue
            if re.match(r"^[a-z]+:", path) or not (page.parent / path).resolve().is_relative_to(REPO):
                outside.append(f"{page.relative_to(REPO)}: {target}")
            elif not (page.parent / path).exists():
                outside.append(f"{page.relative_to(REPO)}: {target} (no such file)")
    assert not outside, outside
