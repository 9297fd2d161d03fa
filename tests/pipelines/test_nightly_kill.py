"""`kill -9` of a real `placecat run` at each stage, and two runs started at once.

Each run is a real process (its own session, so the kill takes its worker processes too), held at
a named stage by the PLACECAT_FAILPOINT rehearsal hook (warehouse/state.py `failpoint`) and
then killed with SIGKILL. The published catalogue must still open read-only with the same
contents, and the next run must complete normally.
"""
from pathlib import Path

import duckdb
import pytest

from tests.support.nights import catalogue_rows, copy_sample, kill_run, placecat, rename_service, run_ok, start_held


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


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (its children, theirs, ...), from /proc."""
    parent_of = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_bytes().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        parent_of[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parent_of.items() if pp in frontier} - found
        found |= frontier
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state != b"Z"


@pytest.mark.slow
def test_kill_9_of_the_run_alone_takes_its_worker_processes_with_it(tmp_path):
    """The report: killing a --workers run left 4 worker processes alive, and one later replaced a
    source snapshot while the next run held the lock. Here only the run's own pid is killed (not
    its process group), while a worker is held in the middle of a harvest."""
    import os
    import signal
    import time

    sources = copy_sample(tmp_path)
    db = tmp_path / "out" / "placecat.duckdb"
    run_ok(sources, db)
    rename_service(sources, "Aquafit", "Aquafit in warm water")  # so the next harvest writes a snapshot
    snapshots = current_versions(db)
    proc = start_held(sources, db, "harvest", tmp_path, "--workers", "2")
    worker = int((tmp_path / "held-at-harvest").read_text())
    below = descendants(proc.pid)
    assert worker in below and len(below) >= 2  # the pool's fork server and its workers
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 30
    while any(running(p) for p in below) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in below if running(p)], "worker processes outlived the killed run"
    assert current_versions(db) == snapshots  # nothing promoted by a worker of the dead run
    out = run_ok(sources, db, "--workers", "2")
    assert "catalogue published" in out
    assert any(r[3] == "Aquafit in warm water" for r in catalogue_rows(db))
