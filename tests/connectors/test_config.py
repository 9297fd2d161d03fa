"""The sources file: valid files load; every mistake is one line naming the file, source and field;
every option's type and range is checked before any harvest, all mistakes at once, exit code 2."""
import subprocess
import sys
import textwrap

import pytest
import yaml

from connectors.config import ConfigError, load_sources


def write(tmp_path, text: str):
    p = tmp_path / "sources.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def test_sample_sources_load(sample_sources):
    cfg = load_sources(sample_sources)
    assert [s.id for s in cfg.sources] == ["leeds-council", "leeds-nhs-directory", "leeds-vcs-directory"]
    assert cfg.get("leeds-council").role == "owner"
    assert all(s.path.is_dir() for s in cfg.sources)


@pytest.mark.parametrize("body, field, words", [
    ("- {id: Leeds, kind: oruk, url: 'https://x.org', publisher: P}", "id", "lower-case"),
    ("- {id: a, kind: orukk, url: 'https://x.org', publisher: P}", "kind", "oruk, openactive, spreadsheet, sql"),
    ("- {id: a, kind: oruk, url: 'https://x.org'}", "publisher", "missing"),
    ("- {id: a, kind: oruk, url: 'https://x.org', publisher: P, role: boss}", "role", "owner"),
    ("- {id: a, kind: oruk, publisher: P}", "url", "missing"),
    ("- {id: a, kind: oruk, url: 'https://x.org', publisher: P, per_pgae: 5}", "per_pgae", "unknown"),
    ("- {id: a, kind: oruk, url: 'https://x.org', publisher: P, version: 2}", "version", "1 or 3"),
    ("- {id: a, kind: spreadsheet, path: x.csv, publisher: P}", "mapping", "mapping"),
    ("- {id: a, kind: sql, url: 'postgresql://u:secret@h/db', table: t, mapping: 'preset:cqc_care_directory', publisher: P}", "url", "password"),
    ("- {id: a, kind: oruk, path: does/not/exist, publisher: P}", "path", "does not exist"),
])
def test_each_mistake_names_the_field(tmp_path, body, field, words):
    p = write(tmp_path, "sources:\n  " + body + "\n")
    with pytest.raises(ConfigError) as exc:
        load_sources(p)
    msg = str(exc.value)
    assert "\n" not in msg
    assert str(p) in msg and f"field '{field}'" in msg and words in msg


def test_duplicate_ids_rejected(tmp_path):
    p = write(tmp_path, """
        sources:
          - {id: a, kind: oruk, url: 'https://x.org', publisher: P}
          - {id: a, kind: oruk, url: 'https://y.org', publisher: Q}
    """)
    with pytest.raises(ConfigError, match="entry 2.*duplicate"):
        load_sources(p)


def test_bad_yaml_names_the_line(tmp_path):
    p = write(tmp_path, "sources:\n  - id: a\n   kind: [oruk\n")
    with pytest.raises(ConfigError, match=r"line \d+"):
        load_sources(p)


def test_relative_paths_resolve_against_the_sources_file(tmp_path):
    (tmp_path / "feeds").mkdir()
    p = write(tmp_path, "sources:\n  - {id: a, kind: oruk, path: feeds, publisher: P}\n")
    assert load_sources(p).sources[0].path == tmp_path / "feeds"


def test_cli_reports_config_mistake_in_one_line(tmp_path):
    p = write(tmp_path, "sources:\n  - {id: a, kind: orukk, url: 'https://x.org', publisher: P}\n")
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--sources", str(p), "--db",
                           str(tmp_path / "c.duckdb")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "field 'kind'" in lines[0]


def test_cli_missing_sources_file(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--sources", str(tmp_path / "nope.yaml"),
                           "--db", str(tmp_path / "c.duckdb")], capture_output=True, text=True)
    assert proc.returncode == 2 and "not found" in proc.stderr and "Traceback" not in proc.stderr


# -- every option's type and range, checked before any harvest -------------------------------------
ORUK = {"id": "feed", "kind": "oruk", "url": "https://example.org/api", "publisher": "P"}
OPENACTIVE = {"id": "oa", "kind": "openactive", "url": "https://example.org/feed", "publisher": "P"}
SHEET = {"id": "sheet", "kind": "spreadsheet", "path": "s.csv", "mapping": "m.yaml", "publisher": "P"}
SQL = {"id": "db", "kind": "sql", "url": "postgresql+psycopg://reader@h/db", "table": "t", "mapping": "m.yaml",
       "publisher": "P"}


def write_entries(tmp_path, entries, defaults=None):
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
    p = write_entries(tmp_path, [entry])
    with pytest.raises(ConfigError) as err:
        load_sources(p)
    msg = str(err.value)
    assert "\n" not in msg, msg
    assert msg.startswith(f"{p}: source '{base['id']}' (entry 1): field '{field}': "), msg
    assert words in msg, msg


def test_good_values_of_every_kind_load(tmp_path):
    p = write_entries(tmp_path, [
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
    p = write_entries(tmp_path, [
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
    p = write_entries(tmp_path, [{**ORUK, "per_page": "lots"}, {**ORUK, "id": "two", "timeout": -1}])
    db = tmp_path / "out" / "c.duckdb"
    proc = run_cli("run", "--sources", p, "--db", db)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("placecat: ") for line in lines)
    assert not (tmp_path / "out").exists()  # no state, no lock, no snapshot: nothing ran


@pytest.mark.parametrize("port", ["99999", "65536", "0", "-1", "http"])
def test_serve_refuses_a_port_outside_1_to_65535(tmp_path, port):
    proc = run_cli("serve", "--db", tmp_path / "c.duckdb", "--port", port)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--port" in lines[0] and "1-65535" in lines[0], proc.stderr
