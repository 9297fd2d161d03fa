"""Storage failures, for real: a full disk (a small tmpfs), a read-only output directory (a
read-only bind mount: we run as root, so chmod would not stop a write), and damaged DuckDB files
(the published catalogue, a source snapshot) truncated or overwritten on disk.

Each case must give one clear line, keep the published catalogue intact, and have a recovery path
that works (docs/operations.md).
"""
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from tests.support.nights import catalogue_rows, copy_sample, fail_run, last_line, rename_service, run_ok
from warehouse.build import previous_full_build


def mount(*args: str) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"this sandbox does not allow `mount {' '.join(args)}` ({proc.stderr.strip()}); "
                    "the full-disk and read-only cases need a tmpfs or bind mount")


def umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 128 MB file system (the build, the internal catalogue and the published copy side by side) of our own that we can fill up."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount("-t", "tmpfs", "-o", "size=128m", "tmpfs", str(disk))
    yield disk
    umount(disk)


def fill(disk: Path, leave_bytes: int) -> Path:
    filler = disk / "filler"
    free = shutil.disk_usage(disk).free
    with open(filler, "wb") as f:
        f.write(b"\0" * max(free - leave_bytes, 0))
    return filler


@pytest.mark.slow
def test_full_disk_gives_one_line_and_keeps_the_catalogue(tmp_path, small_disk):
    sources = copy_sample(tmp_path)
    db = small_disk / "placecat.duckdb"
    run_ok(sources, db)
    before = catalogue_rows(db)
    rename_service(sources, "Aquafit", "Aquafit in warm water")  # so the run has something to write
    filler = fill(small_disk, leave_bytes=256 * 1024)

    code, out, err = fail_run(sources, db)
    assert code == 2  # a full disk exits 2 whichever stage meets it, as every storage fault does
    line = last_line(out, err)
    assert "disk is full" in line and "unchanged" in line, out + err
    assert "Traceback" not in out + err
    assert catalogue_rows(db) == before

    # Recovery: free the space and run again.
    filler.unlink()
    run_ok(sources, db)
    assert any(r[3] == "Aquafit in warm water" for r in catalogue_rows(db))


@pytest.mark.slow
def test_read_only_output_directory_gives_one_line_and_keeps_the_catalogue(tmp_path):
    sources = copy_sample(tmp_path)
    out_dir = tmp_path / "out"
    db = out_dir / "placecat.duckdb"
    run_ok(sources, db)
    before = catalogue_rows(db)
    mount("--bind", str(out_dir), str(out_dir))
    try:
        mount("-o", "remount,ro,bind", str(out_dir))
        with pytest.raises(OSError):
            (out_dir / "probe").write_text("x")  # really read-only, even for root

        # Everything (catalogue and state) on the read-only directory: refused before any work.
        code, out, err = fail_run(sources, db)
        assert code == 2 and out == ""
        assert len(err.strip().splitlines()) == 1, err
        assert "Read-only file system" in err and "nothing was changed" in err

        # State elsewhere (PLACECAT_STATE), only the catalogue's directory read-only: the sources
        # are harvested, the build is refused at publishing with one line.
        code, out, err = fail_run(sources, db, env={"PLACECAT_STATE": str(tmp_path / "state-elsewhere")})
        assert code == 2  # the same kind of fault as above: the same exit code
        assert last_line(out, err).startswith("nothing published:") and f"{out_dir}" in last_line(out, err)
        assert "not writable" in last_line(out, err)
        assert catalogue_rows(db) == before
    finally:
        umount(out_dir)
    run_ok(sources, db)  # writable again: the next run publishes


def corrupt(path: Path, how: str) -> None:
    if how == "truncate":
        with open(path, "r+b") as f:
            f.truncate(path.stat().st_size // 3)
    else:
        with open(path, "r+b") as f:
            f.seek(0)
            f.write(os.urandom(64 * 1024))


@pytest.mark.slow
@pytest.mark.parametrize("how", ["truncate", "overwrite"])
def test_damaged_published_catalogue_is_put_right_and_with_nothing_left_one_line_says_what_to_do(tmp_path, how):
    sources = copy_sample(tmp_path)
    db = tmp_path / "out" / "placecat.duckdb"
    state = db.with_name(db.name + ".state")
    run_ok(sources, db)
    run_ok(sources, db)  # a second night, so that the night before is kept
    before = catalogue_rows(db)
    corrupt(db, how)

    # The night checks the file against its seal and restores it from the newest good catalogue
    # (docs/safeguards.md); the damaged file is kept aside, never used again.
    out = run_ok(sources, db)
    assert "recovered: " in out and f"{db}: damaged" in out, out
    assert catalogue_rows(db) == before
    assert len(list((state / "published" / "damaged").iterdir())) == 1

    # Nothing good left (published, internal and night before all gone or damaged): one line, exit 2.
    corrupt(db, how)
    (state / "internal.duckdb").unlink()
    shutil.rmtree(state / "published")
    code, out, err = fail_run(sources, db)
    assert code == 2 and "Traceback" not in out + err
    line = last_line(out, err)
    assert f"{db}: the published catalogue is damaged" in line and "no good catalogue is left" in line, out + err
    assert "run `placecat run` to rebuild it from the source snapshots" in line

    # ... and what it says works: move it aside, rebuild from the source snapshots.
    os.replace(db, db.with_name("placecat.duckdb.damaged"))
    run_ok(sources, db)
    rebuilt = catalogue_rows(db)
    assert [(r[0], r[1], r[3]) for r in rebuilt] == [(r[0], r[1], r[3]) for r in before]


@pytest.mark.slow
def test_damaged_source_snapshot_is_named_and_the_source_is_served_from_an_older_one(tmp_path):
    sources = copy_sample(tmp_path)
    db = tmp_path / "out" / "placecat.duckdb"
    state = db.with_name(db.name + ".state")
    run_ok(sources, db)
    rename_service(sources, "Aquafit", "Aquafit in warm water")
    run_ok(sources, db)  # the council now has two snapshots: the first and the renamed one
    council = state / "sources" / "leeds-council"
    current = council / "snapshots" / ((council / "CURRENT").read_text().strip() + ".duckdb")
    corrupt(current, "truncate")
    # ... and the council's feed is down tonight, so there is no fresh harvest to fall back on.
    for page in (sources.parent / "feeds" / "leeds-council").glob("*.json"):
        page.write_text("<html>Service Unavailable</html>")

    code, out, err = fail_run(sources, db)
    assert code == 0, out + err
    with duckdb.connect(str(previous_full_build(db)), read_only=True) as con:
        status, message, version = con.execute("""
            SELECT status, message, snapshot_version FROM ops.source_status
            WHERE source_id = 'leeds-council' ORDER BY attempted_at DESC LIMIT 1""").fetchone()
        served = con.execute("SELECT count(*) FROM catalogue.service_source WHERE source_id = 'leeds-council'").fetchone()[0]
        names = {r[0] for r in con.execute("SELECT name FROM staging.service WHERE source_id = 'leeds-council'").fetchall()}
    assert status == "degraded" and served == 19
    assert str(current) in message and "unreadable" in message and "serving the older snapshot" in message
    assert "Aquafit" in names  # the older snapshot, from before the rename
    assert version != current.stem

    # Recovery: when the feed is back, a fresh full harvest replaces the damaged snapshot.
    shutil.rmtree(sources.parent / "feeds" / "leeds-council")
    shutil.copytree(copy_sample(tmp_path / "again").parent / "feeds" / "leeds-council",
                    sources.parent / "feeds" / "leeds-council")
    rename_service(sources, "Aquafit", "Aquafit in warm water")
    run_ok(sources, db)
    with duckdb.connect(str(previous_full_build(db)), read_only=True) as con:
        status = con.execute("""SELECT status FROM ops.source_status WHERE source_id = 'leeds-council'
                                ORDER BY attempted_at DESC LIMIT 1""").fetchone()[0]
        names = {r[0] for r in con.execute("SELECT name FROM staging.service WHERE source_id = 'leeds-council'").fetchall()}
    assert status == "ok" and "Aquafit in warm water" in names
