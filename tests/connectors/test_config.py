"""The sources file: valid files load; every mistake is one line naming the file, source and field."""
import subprocess
import sys
import textwrap

import pytest

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
