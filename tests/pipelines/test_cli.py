"""`placecat` dispatching: the command table and the one line for a user's mistake."""
from __future__ import annotations

import csv
import importlib
from pathlib import Path

import pytest

from pipelines.cli import COMMANDS, main

REPO = Path(__file__).resolve().parents[2]


def test_every_command_in_the_table_names_a_module_that_can_run_it():
    # Read the table independently of pipelines.cli, so a parsing slip there cannot hide a row.
    with (REPO / "pipelines" / "commands.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["command"] for r in rows] == list(COMMANDS)
    for row in rows:
        module = importlib.import_module(row["module"])
        assert callable(module.configure_parser) and callable(module.run), row["module"]
        assert row["help"] and "\n" not in row["help"]


@pytest.mark.parametrize("command", ["explain", "review", "health"])
def test_a_command_given_no_catalogue_says_so_in_one_line(command, tmp_path, capsys):
    missing = tmp_path / "nowhere.duckdb"
    argv = [command, "--db", str(missing)] + (["some-service-id"] if command == "explain" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"placecat {command}: {missing}: no such catalogue")
    assert "placecat run --sources" in err  # what to do
    assert not missing.exists()  # reading never creates a catalogue
