"""Seals: a catalogue placecat published is recognised byte for byte; anything else is damaged."""
from __future__ import annotations

import os

import duckdb

from warehouse.integrity import read_seals, seal, verify


def catalogue(path, rows=200):
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA catalogue")
        con.execute(f"CREATE TABLE catalogue.service AS SELECT range AS id, 'service ' || range AS name FROM range({rows})")
        con.execute("CHECKPOINT")
    return path


def test_a_sealed_file_verifies_and_a_changed_one_does_not(tmp_path):
    state = tmp_path / "state"
    good = catalogue(tmp_path / "c.duckdb", rows=50_000)
    entry = seal(state, good, "run-1", "public")
    assert entry["tables"] == {"catalogue.service": 50_000}
    verdict = verify(state, good, "public")
    assert verdict.good and verdict.sealed and verdict.run_id == "run-1" and verdict.services == 50_000

    data = bytearray(good.read_bytes())
    data[len(data) // 2:len(data) // 2 + 4096] = os.urandom(4096)  # 4 KiB of random bytes inside
    good.write_bytes(bytes(data))
    verdict = verify(state, good, "public")
    assert not verdict.good and "matches no catalogue placecat published" in verdict.problem


def test_a_truncated_file_and_a_missing_one(tmp_path):
    state = tmp_path / "state"
    path = catalogue(tmp_path / "c.duckdb", rows=50_000)
    seal(state, path, "run-1", "public")
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    assert not verify(state, path, "public").good
    assert verify(state, tmp_path / "nope.duckdb", "public").problem == "missing"


def test_a_catalogue_from_before_seals_is_good_when_it_opens(tmp_path):
    path = catalogue(tmp_path / "c.duckdb")
    verdict = verify(tmp_path / "state", path, "public")
    assert verdict.good and not verdict.sealed and verdict.services == 200
    path.write_bytes(b"not a database at all" * 100)
    assert not verify(tmp_path / "state", path, "public").good


def test_seals_are_kept_for_the_last_twenty_files(tmp_path):
    state = tmp_path / "state"
    for n in range(25):
        seal(state, catalogue(tmp_path / f"c{n}.duckdb", rows=n + 1), f"run-{n}", "public")
    seals = read_seals(state)
    assert len(seals) == 20 and seals[0]["run_id"] == "run-24" and seals[-1]["run_id"] == "run-5"
