"""Every option of the sources file is checked for type and range before any harvest: one line
per mistake naming the file, the source and the field, all of them at once, exit code 2."""
from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from connectors.config import ConfigError, load_sources

ORUK = {"id": "feed", "kind": "oruk", "url": "https://example.org/api", "publisher": "P"}
OPENACTIVE = {"id": "oa", "kind": "openactive", "url": "https://example.org/feed", "publisher": "P"}
SHEET = {"id": "sheet", "kind": "spreadsheet", "path": "s.csv", "mapping": "m.yaml", "publisher": "P"}
SQL = {"id": "db", "kind": "sql", "url": "postgresql+psycopg://reader@h/db", "table": "t", "mapping": "m.yaml",
       "publisher": "P"}


def write(tmp_path, entries, defaults=None):
    doc = {"sources": entries}
    if defaults:
        doc["defaults"] = defaults
    p = tmp_path / "sources.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


@pytest.mark.parametrize("base, field, value, words", [
    (ORUK, "per_page", "lots", "not a whole number"),
    (ORUK, "per_page", -5, "out of range"),
    (ORUK, "per_page", 0, "out of range"),
    (ORUK, "max_pages", 2.5, "not a whole number"),
    (ORUK, "url", "ftp://example.org/api", "not an http:// or https:// URL"),
    (ORUK, "url", "file:///srv/feeds/leeds", "give `path:` instead"),
    (ORUK, "timeout", -1, "above 0"),
    (ORUK, "timeout", "5s", "not a number"),
    (ORUK, "time_budget", 0, "above 0"),
    (ORUK, "request_timeout", 2, "shorter than timeout"),
    (ORUK, "concurrency", 1000, "out of range"),
    (ORUK, "rate_limit", "fast", "not a number"),
    (ORUK, "headers", ["Authorization: x"], "mapping of header name"),
    (ORUK, "headers", {"X-Key": "a\nb"}, "one-line value"),
    (ORUK, "detail_fetch", "sometimes", "auto, true, false"),
    (OPENACTIVE, "feeds", ["ftp://example.org/feed"], "not an http:// or https:// URL"),
    (OPENACTIVE, "full_reread", "maybe", "not true or false"),
    (OPENACTIVE, "as_of", "tomorrow", "not a date"),
    (OPENACTIVE, "activity_list", "file:///tmp/a.jsonld", "not an http:// or https:// URL"),
    (SHEET, "header_row", 0, "out of range"),
    (SHEET, "sheet", -1, "numbered from 0"),
    (SHEET, "encoding", "klingon", "not an encoding"),
    (SHEET, "delimiter", ";;", "not one character"),
    (SHEET, "max_bytes", -1, "out of range"),
    (SHEET, "max_rows", "all", "not a whole number"),
    (SHEET, "url", "file:///tmp/s.csv", "not an http:// or https:// URL"),
    (SQL, "chunk_size", "lots", "not a whole number"),
    (SQL, "credentials_env", "MY PASSWORD", "not an environment variable name"),
])
def test_a_bad_option_value_is_one_line_naming_the_source_and_field(tmp_path, base, field, value, words):
    entry = {**base, field: value}
    if field == "request_timeout":
        entry["timeout"] = 30
    p = write(tmp_path, [entry])
    with pytest.raises(ConfigError) as err:
        load_sources(p)
    msg = str(err.value)
    assert "\n" not in msg, msg
    assert msg.startswith(f"{p}: source '{base['id']}' (entry 1): field '{field}': "), msg
    assert words in msg, msg


def test_good_values_of_every_kind_load(tmp_path):
    p = write(tmp_path, [
        {**ORUK, "per_page": 50, "max_pages": 10, "timeout": 5, "request_timeout": 60, "time_budget": 600,
         "concurrency": 2, "rate_limit": 0.5, "headers": {"Authorization": "Bearer x"}, "detail_fetch": "auto",
         "version": 3},
        {**OPENACTIVE, "feeds": ["https://example.org/a"], "full_reread": True, "as_of": "2026-01-31",
         "feed_kinds": ["SessionSeries"]},
        {**SHEET, "header_row": 3, "sheet": 0, "encoding": "shift_jis", "delimiter": ";", "max_bytes": 1000,
         "max_rows": 10, "url": "https://example.org/s.csv", "timeout": 10},
        {**SQL, "chunk_size": 100, "credentials_env": "DIR_PASSWORD"},
    ], defaults={"timeout": 20, "max_stale_days": 3})
    cfg = load_sources(p)
    assert cfg.get("feed").option("request_timeout") == 60
    assert cfg.get("oa").option("timeout") == 20  # from defaults
    assert cfg.get("sheet").option("encoding") == "shift_jis"


def test_every_mistake_in_the_file_is_reported_at_once_one_line_each(tmp_path):
    p = write(tmp_path, [
        {**ORUK, "per_page": "lots"},
        {**ORUK, "id": "other", "url": "ftp://example.org", "timeout": -3},
        {**SHEET, "delimiter": "||"},
    ], defaults={"time_budget": -1})
    with pytest.raises(ConfigError) as err:
        load_sources(p)
    lines = str(err.value).splitlines()
    assert len(lines) == 5
    assert [line.split(": field ")[1].split(":")[0] for line in lines] == [
        "'time_budget'", "'per_page'", "'url'", "'timeout'", "'delimiter'"]
    assert all(line.startswith(f"{p}: ") for line in lines)


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_placecat_run_refuses_bad_options_before_harvesting_anything(tmp_path):
    p = write(tmp_path, [{**ORUK, "per_page": "lots"}, {**ORUK, "id": "two", "timeout": -1}])
    db = tmp_path / "out" / "c.duckdb"
    proc = run_cli("run", "--sources", p, "--db", db)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("placecat: ") for line in lines)
    assert not (tmp_path / "out").exists()  # no state, no lock, no snapshot: nothing ran


@pytest.mark.parametrize("port", ["99999", "65536", "-1", "http"])
def test_serve_refuses_a_port_outside_1_to_65535(tmp_path, port):
    proc = run_cli("serve", "--db", tmp_path / "c.duckdb", "--port", port)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--port" in lines[0] and "1-65535" in lines[0], proc.stderr
