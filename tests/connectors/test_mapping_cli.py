"""`placecat mapping suggest`: at least 90% of columns right on five councils' exports of one directory."""
from __future__ import annotations

import re

import yaml

from connectors.mapping import load_mapping
from connectors.mapping_cli import suggest_mapping
from connectors.tabular import open_table
from pipelines.cli import main
from tests.support.sheets import (CANONICAL_TO_ORUK, COUNCIL_EXPORTS, council_export, directory_rows, write_csv,
                                  write_xlsx)


def _write_exports(tmp_path):
    """The five exports as councils send them: CSV and XLSX, some with title rows, one in Windows-1252."""
    rows = directory_rows(120, seed=11)
    files = {}
    for n, council in enumerate(COUNCIL_EXPORTS):
        header, body = council_export(council, rows)
        if n % 2:
            files[council] = write_xlsx(tmp_path / f"{council}.xlsx", header, body, sheet="Directory",
                                        title_rows=[[f"{council.title()} Council services"], []] if n == 1 else ())
        else:
            files[council] = write_csv(tmp_path / f"{council}.csv", header, body,
                                       encoding="cp1252" if n == 2 else "utf-8",
                                       title_rows=[["Exported from the directory"], ["Do not edit"]] if n == 4 else ())
    return files


def test_suggest_places_at_least_90_percent_of_columns(tmp_path):
    files = _write_exports(tmp_path)
    right = total = 0
    wrong = []
    for council, path in files.items():
        suggestion = suggest_mapping(open_table(path))
        for header, canonical in COUNCIL_EXPORTS[council]:
            want = CANONICAL_TO_ORUK[canonical] if canonical else None
            got = suggestion.placed.get(header, (None, 0))[0]
            total += 1
            if got == want:
                right += 1
            else:
                wrong.append(f"{council}: {header!r} -> {got} (want {want})")
    assert total == sum(len(c) for c in COUNCIL_EXPORTS.values())
    assert right / total >= 0.9, wrong


def test_suggested_yaml_is_a_mapping_that_fits_the_file(tmp_path, capsys):
    files = _write_exports(tmp_path)
    assert main(["mapping", "suggest", str(files["leeds"])]) == 0
    out = capsys.readouterr().out
    doc = yaml.safe_load(out)
    assert doc["id"] == "ID"
    assert doc["columns"]["phone.number"] == "Tel" and doc["columns"]["address.postal_code"] == "Post Code"
    assert '# Columns not placed' in out and '"Last checked by"' in out
    assert all(re.search(r"# [01]\.\d\d$", line) for line in out.splitlines() if line.startswith("  "))
    # what it prints is a mapping placecat accepts, and it fits the file
    (tmp_path / "leeds.yaml").write_text(out, encoding="utf-8")
    table = open_table(files["leeds"])
    load_mapping(str(tmp_path / "leeds.yaml")).bind(table.columns, table.where)


def test_suggest_writes_header_row_and_sheet_when_needed(tmp_path, capsys):
    files = _write_exports(tmp_path)
    out_file = tmp_path / "kent-mapping.yaml"
    assert main(["mapping", "suggest", str(files["kent"]), "--out", str(out_file)]) == 0
    assert "mapping written to" in capsys.readouterr().out
    path = files["leeds"]  # XLSX with title rows
    assert main(["mapping", "suggest", str(path)]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    assert doc["sheet"] == "Directory" and doc["header_row"] == 3


def test_suggest_on_a_bad_file_is_one_line_and_exit_2(tmp_path, capsys):
    p = tmp_path / "old.xls"
    p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64)
    assert main(["mapping", "suggest", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "save it as .xlsx or CSV" in err

import re  # noqa: E402  (used in the YAML line check above)


def test_a_column_of_time_ranges_is_proposed_for_both_opening_and_closing_times(tmp_path, capsys):
    """"10:00-13:00" used to be placed on schedule.closes_at alone (confidence 0.98) and stored as
    closes_at 10:00 with no opening time."""
    rows = [[f"S{i}", f"Group {i}", "Monday", f"{9 + i % 3}:00-{12 + i % 4}:30"] for i in range(30)]
    p = write_csv(tmp_path / "sessions.csv", ["Ref", "Service Name", "Day", "Session times"], rows)
    assert main(["mapping", "suggest", str(p)]) == 0
    out = capsys.readouterr().out
    doc = yaml.safe_load(out)
    assert doc["columns"]["schedule.opens_at"] == "Session times"
    assert doc["columns"]["schedule.closes_at"] == "Session times"
    assert '"Session times" holds time ranges' in out
    assert out.count("holds time ranges") == 1  # said once, before the first of the pair


def test_age_range_and_last_updated_columns_are_placed(tmp_path, capsys):
    """dev-2026's VCS spreadsheet left "Age Range" and "Last Updated" unplaced."""
    ages = ["18+", "16+", "60+", "0-4", "11-18", "0-11", "18-64", "", "Under 5s", "Over 50s", "5 to 11", "All ages"]
    rows = [[f"{7000 + i}", f"Group {i}", ages[i % len(ages)], f"{1 + i % 28:02d}/{1 + i % 12:02d}/2024"]
            for i in range(40)]
    p = write_csv(tmp_path / "services.csv", ["ID", "Service Name", "Age Range", "Last Updated"], rows)
    assert main(["mapping", "suggest", str(p)]) == 0
    out = capsys.readouterr().out
    doc = yaml.safe_load(out)
    assert doc["columns"]["service.minimum_age"] == doc["columns"]["service.maximum_age"] == "Age Range"
    assert doc["columns"]["service.last_modified"] == "Last Updated"
    assert out.count('"Age Range" holds age ranges') == 1 and "# Columns not placed" not in out
    # what it prints loads, and reads the file
    (tmp_path / "mapping.yaml").write_text(out, encoding="utf-8")
    table = open_table(p)
    load_mapping(str(tmp_path / "mapping.yaml")).bind(table.columns, table.where)


def test_a_column_of_plain_ages_and_other_dates_stay_as_they_were(tmp_path):
    """A "Min age" column of numbers is still the minimum age alone; a date column headed otherwise
    ("Start date") is not taken for last_modified on its values."""
    rows = [[f"S{i}", f"Group {i}", str(i % 18), f"{1 + i % 28:02d}/03/2024"] for i in range(30)]
    p = write_csv(tmp_path / "s.csv", ["Ref", "Service Name", "Min age", "Start date"], rows)
    suggestion = suggest_mapping(open_table(p))
    assert suggestion.placed["Min age"][0] == "service.minimum_age"
    assert suggestion.placed.get("Start date", ("",))[0] != "service.last_modified"
    assert "service.maximum_age" not in suggestion.to_yaml()
