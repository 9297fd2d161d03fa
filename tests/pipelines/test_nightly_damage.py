"""Damage never spreads: random bytes or a truncation in last night's catalogues never reach the
backup or the next catalogue, and `placecat recover` brings back the newest good catalogue with its
run history. Real `placecat run` processes over a copy of the bundled sample.

The report: 4 KiB of random bytes inside the published file; 9 of 9 unchanged nights republished
it and made night-before.duckdb damaged too; later nights failed with a misleading line; the only
way back lost the run history and restarted the change feed.
"""
from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from tests.support.nights import copy_sample, placecat, rename_service, run_ok
from warehouse.integrity import file_sha256, verify
from warehouse.release import internal_path
from warehouse.state import night_before_file


def damage(path: Path) -> str:
    """4 KiB of random bytes in the middle of the file; returns the damaged file's checksum."""
    with open(path, "r+b") as f:
        f.seek(path.stat().st_size // 2)
        f.write(os.urandom(4096))
    return file_sha256(path)


def runs(db: Path) -> list[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return [r[0] for r in con.execute("SELECT run_id FROM ops.run WHERE status = 'published' "
                                          "ORDER BY started_at").fetchall()]


def two_nights(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Two published nights over a copy of the sample (the second with a renamed service): a
    catalogue, its internal copy and the night before. Returns (sources, db, state folder)."""
    sources = copy_sample(tmp_path)
    db = tmp_path / "out" / "placecat.duckdb"
    run_ok(sources, db)
    rename_service(sources, "Aquafit", "Aquafit in warm water")
    run_ok(sources, db)
    return sources, db, db.with_name(db.name + ".state")


def recover_cli(db: Path) -> tuple[int, str, str]:
    proc = placecat("recover", "--db", str(db))
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


@pytest.mark.slow
def test_random_bytes_in_the_published_file_never_reach_the_backup(tmp_path):
    sources, db, state = two_nights(tmp_path)
    history = runs(db)
    assert len(history) == 2

    damaged = set()
    for night in range(3):  # unchanged nights: each would copy the published file forward
        damaged.add(damage(db))
        out = run_ok(sources, db)
        assert "recovered: " in out and "damaged (its checksum matches no catalogue placecat published" in out
        assert verify(state, db, "public").good
        backup = night_before_file(state)
        assert verify(state, backup, "public").good and file_sha256(backup) not in damaged
        assert runs(db)[:2] == history and len(runs(db)) == 3 + night  # the run history goes on
    kept = sorted((state / "published" / "damaged").iterdir())
    assert len(kept) == 3 and {file_sha256(p) for p in kept} == damaged  # evidence, never used


@pytest.mark.slow
def test_placecat_recover_brings_back_the_newest_good_catalogue_with_its_history(tmp_path):
    sources, db, state = two_nights(tmp_path)
    history = runs(db)

    code, out, err = recover_cli(db)
    assert code == 0 and out.strip().endswith("nothing to recover"), out + err

    # The published file damaged, the internal one good: the same night comes back whole.
    damage(db)
    code, out, err = recover_cli(db)
    assert code == 0 and f"restored the catalogue of run {history[-1]}" in out and "internal catalogue" in out, out + err
    assert runs(db) == history and verify(state, db, "public").good

    # Both damaged: the catalogue published the night before comes back, with its history.
    damage(db)
    damage(internal_path(state))
    code, out, err = recover_cli(db)
    assert code == 0 and f"restored the catalogue of run {history[0]}" in out and "night before" in out, out + err
    assert runs(db) == history[:1]
    assert not internal_path(state).exists()  # the damaged internal file was moved aside
    out = run_ok(sources, db)  # and the next night carries on from it
    assert "catalogue published" in out and runs(db)[:1] == history[:1] and len(runs(db)) == 2


@pytest.mark.slow
def test_a_catalogue_truncated_to_half_is_named_with_the_recovery_command(tmp_path):
    sources = copy_sample(tmp_path)
    db = tmp_path / "out" / "placecat.duckdb"
    run_ok(sources, db)
    db.write_bytes(db.read_bytes()[:db.stat().st_size // 2])
    # Every command that reads the catalogue: one line, exit 2, never a traceback.
    # (explain and review read the internal catalogue, which is intact.)
    for command in (["health"], ["report", "--out", str(tmp_path / "r.html")], ["export", "--out", str(tmp_path / "x")]):
        proc = placecat(command[0], "--db", str(db), *command[1:])
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 2 and err.count("\n") == 1 and "Traceback" not in err, (command, out + err)
        assert str(db.name) in err, (command, err)
    health = placecat("health", "--db", str(db))
    out, err = health.communicate(timeout=120)
    assert f"placecat recover --db {db}" in err, out + err
    out = run_ok(sources, db)
    assert "recovered: " in out and "the internal catalogue" in out
