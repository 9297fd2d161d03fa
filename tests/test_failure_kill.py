"""`kill -9` of a real `placecat run` at each stage, and two runs started at once.

Each run is a real process (its own session, so the kill takes its worker processes too), held at
a named stage by the PLACECAT_FAILPOINT rehearsal hook (connectors/snapshot.py `failpoint`) and
then killed with SIGKILL. The published catalogue must still open read-only with the same
contents, and the next run must complete normally.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO, SAMPLE


def copy_sample(tmp_path: Path) -> Path:
    dst = tmp_path / "sample"
    shutil.copytree(SAMPLE, dst, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dst / "sources.yaml"


def placecat(*args: str, env: dict | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", *args], cwd=REPO,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, **kw)


def run_ok(sources: Path, db: Path, *extra: str, env: dict | None = None) -> str:
    proc = placecat("run", "--sources", str(sources), "--db", str(db), *extra, env=env)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    return out


def start_held(sources: Path, db: Path, stage: str, tmp_path: Path, *extra: str) -> subprocess.Popen:
    """Start a run that stops at `stage` and waits there to be killed."""
    marker = tmp_path / f"held-at-{stage}"
    marker.unlink(missing_ok=True)
    proc = placecat("run", "--sources", str(sources), "--db", str(db), *extra,
                    env={"PLACECAT_FAILPOINT": f"{stage}@{marker}"})
    deadline = time.monotonic() + 120
    while not marker.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"run ended before reaching {stage}: {out}{err}")
        assert time.monotonic() < deadline, f"run never reached {stage}"
        time.sleep(0.05)
    return proc


def kill_run(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def catalogue_rows(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("""SELECT ss.source_id, ss.source_record_id, s.id, s.name FROM catalogue.service_source ss
                              JOIN catalogue.service s ON s.id = ss.service_id ORDER BY 1, 2""").fetchall()


def rename_service(sources: Path, old: str, new: str) -> None:
    """An upstream change: the council renames one service in its feed."""
    for page in (sources.parent / "feeds" / "leeds-council").glob("*.json"):
        doc = json.loads(page.read_text())
        for item in doc["contents"]:
            if item["name"] == old:
                item["name"] = new
                page.write_text(json.dumps(doc))
                return
    raise AssertionError(f"no service named {old}")


def current_versions(db: Path) -> dict[str, str]:
    root = db.with_name(db.name + ".state") / "sources"
    return {p.name: (p / "CURRENT").read_text().strip() for p in root.iterdir()}


@pytest.mark.slow
def test_kill_9_at_every_stage_leaves_the_catalogue_intact_and_the_next_run_completes(tmp_path):
    sources = copy_sample(tmp_path)
    db = tmp_path / "out" / "placecat.duckdb"
    run_ok(sources, db)
    before = catalogue_rows(db)
    assert any(r[3] == "Aquafit" for r in before)
    # A reader that has the catalogue open during the killed runs keeps reading it.
    reader = duckdb.connect(str(db), read_only=True)

    rename_service(sources, "Aquafit", "Aquafit in warm water")
    for stage, extra in (("harvest", ("--workers", "2")), ("build", ()), ("publish", ())):
        snapshots = current_versions(db)
        proc = start_held(sources, db, stage, tmp_path, *extra)
        kill_run(proc)
        # The published catalogue is exactly the one before: it opens read-only and answers queries.
        assert catalogue_rows(db) == before, f"catalogue changed after kill -9 at {stage}"
        assert reader.execute("SELECT count(*) FROM catalogue.service").fetchone()[0] == len({r[2] for r in before})
        # No half-written file is in force: the harvest kill left no new snapshot CURRENT.
        if stage == "harvest":
            assert current_versions(db) == snapshots
        # Nothing next to the catalogue but the catalogue itself and its state folder.
        assert sorted(p.name for p in db.parent.iterdir()) == ["placecat.duckdb", "placecat.duckdb.state"]
        if stage == "build":
            # A damaged build left by a killed run must not trouble the next one.
            leftovers = list((db.with_name(db.name + ".state") / "build").glob("*.duckdb"))
            assert leftovers
            with open(leftovers[0], "r+b") as f:
                f.truncate(4096)

    out = run_ok(sources, db)
    assert "catalogue published" in out
    # The reader opened before still sees its own (old) catalogue: the swap never wrote in place.
    assert reader.execute("SELECT count(*) FROM catalogue.service WHERE name = 'Aquafit'").fetchone()[0] == 1
    reader.close()  # (DuckDB shares one open database per path within a process)
    after = catalogue_rows(db)
    assert any(r[3] == "Aquafit in warm water" for r in after)
    assert not any(r[3] == "Aquafit" for r in after)
    assert len(after) == len(before)
    assert list((db.with_name(db.name + ".state") / "build").glob("*.duckdb*")) == []
    with duckdb.connect(str(db), read_only=True) as con:
        runs = con.execute("SELECT status, count(*) FROM ops.run GROUP BY 1").fetchall()
    # Only the runs that finished are in the history; killed ones never reached it.
    assert dict(runs) == {"published": 2}


@pytest.mark.slow
def test_a_second_run_started_at_once_is_refused_with_one_line(tmp_path):
    sources = copy_sample(tmp_path)
    db = tmp_path / "out" / "placecat.duckdb"
    run_ok(sources, db)
    before = catalogue_rows(db)
    # Held just before its publish (a quiet second night skips the build, but always publishes).
    first = start_held(sources, db, "publish", tmp_path)
    try:
        second = placecat("run", "--sources", str(sources), "--db", str(db))
        out, err = second.communicate(timeout=120)
        assert second.returncode == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert "another placecat run holds the lock" in lines[0] and f"pid {first.pid}" in lines[0]
        assert "Traceback" not in err and out == ""
    finally:
        kill_run(first)
    assert catalogue_rows(db) == before
    # The lock dies with its holder: the next run goes ahead.
    assert "catalogue published" in run_ok(sources, db)
