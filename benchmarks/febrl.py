"""FEBRL 1-4 (synthetic person records) with placecat's engine and person comparisons declared as data,
and Splink side by side on the same files.

    .venv/bin/python benchmarks/febrl.py ../shared/fixtures/benchmarks [--splink /work/splink-venv/bin/python]

The engine is the service matcher's: capped blocking, comparison levels from declared data,
u from random pairs, m by EM, non-chaining clustering; only the declarations differ (no
venue/name gates: person records have no "shared venue" trap). Used for regression only.
Splink runs in its own venv (benchmarks/splink_compare.py, a benchmark-only extra) when that venv exists.
"""
from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pandas as pd

from dedupe.blocking import BlockingRule
from dedupe.comparisons import Comparison, Level, Similarity
from dedupe.keys import phonetic_key
from dedupe.matcher import match_records

FEBRL_SIMILARITIES = (
    Similarity("given", "given_name", "ratio"), Similarity("surname", "surname", "ratio"),
    Similarity("addr", "address", "token_set_ratio"), Similarity("suburb", "suburb", "ratio"),
)


def _fuzzy(name: str, col: str, sim: str, role: str = "place") -> Comparison:
    return Comparison(name, role, f"l.{col} IS NULL OR r.{col} IS NULL", (
        Level("exact", f"l.{col} = r.{col}", True), Level("very similar", f"sim.{sim} >= 88", True),
        Level("similar", f"sim.{sim} >= 70"), Level("different", "true")), m=(0.7, 0.15, 0.1, 0.05))


def _person_name(name: str, col: str, other: str) -> Comparison:
    # Jaro-Winkler, which Winkler designed for person names (typos weigh less near the end of a name);
    # and given name and surname entered the wrong way round, a common clerical error.
    jw = f"jaro_winkler_similarity(l.{col}, r.{col})"
    # Both names swapped: one name that looks like the other's surname ('matthew' / 'matthews') is not enough.
    swapped = f"(jaro_winkler_similarity(l.{col}, r.{other}) >= 0.92 AND jaro_winkler_similarity(r.{col}, l.{other}) >= 0.92)"
    return Comparison(name, "name", f"l.{col} IS NULL OR r.{col} IS NULL", (
        Level("exact", f"l.{col} = r.{col}", True), Level("very similar", f"{jw} >= 0.92", True),
        Level("similar", f"{jw} >= 0.8"), Level("swapped with the other name", swapped),
        Level("different", "true")), m=(0.7, 0.15, 0.08, 0.02, 0.05))


FEBRL_COMPARISONS = (
    # Roles only steer the two EM sessions here (names learned where other fields agree and vice
    # versa); the gates are off for persons.
    _person_name("given_name", "given_name", "surname"), _person_name("name", "surname", "given_name"),
    Comparison("date_of_birth", "place", "l.dob IS NULL OR r.dob IS NULL", (
        Level("exact", "l.dob = r.dob", True), Level("one typo", "levenshtein(l.dob, r.dob) <= 1", True),
        Level("two typos", "levenshtein(l.dob, r.dob) <= 2"), Level("different", "true")), m=(0.7, 0.15, 0.1, 0.05)),
    Comparison("soc_sec_id", "place", "l.ssn IS NULL OR r.ssn IS NULL", (
        Level("exact", "l.ssn = r.ssn", True), Level("one typo", "levenshtein(l.ssn, r.ssn) <= 1", True),
        Level("different", "true")), m=(0.8, 0.15, 0.05)),
    _fuzzy("address", "address", "addr"), _fuzzy("suburb", "suburb", "suburb"),
    Comparison("postcode", "place", "l.postcode IS NULL OR r.postcode IS NULL", (
        Level("exact", "l.postcode = r.postcode", True), Level("one typo", "levenshtein(l.postcode, r.postcode) <= 1"),
        Level("different", "true")), m=(0.8, 0.15, 0.05)),
    Comparison("street_number", "place", "l.street_number IS NULL OR r.street_number IS NULL", (
        Level("exact", "l.street_number = r.street_number"), Level("different", "true")), m=(0.9, 0.1)),
)

FEBRL_BLOCKING = (
    BlockingRule("surname_phonetic+dob_year", "[r.name_phon || '/' || left(r.dob, 4)]"),
    BlockingRule("given+surname_phonetic", "[r.given_phon || '/' || r.name_phon]"),
    BlockingRule("dob", "[r.dob]"), BlockingRule("ssn", "[r.ssn]"), BlockingRule("postcode+street_number", "[r.postcode || '/' || r.street_number]"),
    BlockingRule("postcode", "[r.postcode]"),
)


def load(path: Path, source: str) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str, skipinitialspace=True).fillna("")
    clean = {c: df[c].str.strip().str.lower().replace("", None) for c in df.columns}
    return pd.DataFrame({
        "source_id": source, "source_record_id": df["rec_id"].str.strip(), "entity": df["rec_id"].str.extract(r"^([^-]+-[^-]+)")[0],
        "given_name": clean["given_name"], "surname": clean["surname"], "dob": clean["date_of_birth"], "ssn": clean["soc_sec_id"],
        "address": (df["address_1"].str.strip() + " " + df["address_2"].str.strip()).str.strip().str.lower().replace("", None),
        "suburb": clean["suburb"], "postcode": clean["postcode"], "street_number": clean["street_number"],
    })


def run_febrl(frames: list[pd.DataFrame], link_only: bool) -> pd.DataFrame:
    df = pd.concat(frames, ignore_index=True)
    # The full name is what the clustering checks before it joins two clusters (an unscored cross pair
    # whose names clearly differ blocks the join): a missing surname or given and surname swapped over
    # ('snell sophie') must not read as a different person.
    df["name"] = (df["given_name"].fillna("") + " " + df["surname"].fillna("")).str.strip().replace("", None)
    df["name_phon"] = df["surname"].map(lambda s: phonetic_key(s) if isinstance(s, str) else None)
    df["given_phon"] = df["given_name"].map(lambda s: phonetic_key(s) if isinstance(s, str) else None)
    df["mid"] = range(len(df))
    # Columns every match record has, which the matcher reads whatever the comparisons (no service ids here).
    df["name_key"] = None
    df["svc_ids"] = [[] for _ in range(len(df))]
    con = duckdb.connect()
    con.execute("CREATE SCHEMA work")
    con.register("febrl_frame", df.drop(columns=["entity"]))
    con.execute("CREATE TABLE work.match_record AS SELECT * FROM febrl_frame")
    # FEBRL 1-3 are one file of people with several records each: they chain within it like records
    # of any source. FEBRL 4 links two files, each with one record per person.
    match_records(con, link_only=link_only, gates=False, explain=False, comparisons=FEBRL_COMPARISONS,
                  sims=FEBRL_SIMILARITIES, rules=FEBRL_BLOCKING, chain_within_source=not link_only)
    clusters = con.execute("SELECT mid, cluster_mid FROM work.record_cluster").df()
    return df[["mid", "entity"]].merge(clusters, on="mid")


def febrl_datasets(fixtures: Path):
    base = fixtures / "febrl"
    for n in (1, 2, 3):
        yield f"FEBRL{n}", [load(base / f"dataset{n}.csv", "a")], False
    yield "FEBRL4", [load(base / "dataset4a.csv", "a"), load(base / "dataset4b.csv", "b")], True


def main() -> None:
    import argparse
    import os
    import resource
    import subprocess
    import sys
    import time
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.bench_matching import pair_counts
    p = argparse.ArgumentParser(description="FEBRL 1-4: placecat and Splink side by side")
    p.add_argument("fixtures", type=Path)
    p.add_argument("--splink", default=os.environ.get("SPLINK_PYTHON", "/work/splink-venv/bin/python"))
    args = p.parse_args()
    if not (args.fixtures / "febrl").is_dir():
        sys.exit(f"febrl: no febrl/ folder under {args.fixtures}")
    for name, frames, link in febrl_datasets(args.fixtures):
        t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        counts = pair_counts(run_febrl(frames, link), "cluster_mid")
        c1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime
        print(f"{name} placecat {counts}  in {time.perf_counter() - t0:.1f} s wall, {cpu:.1f} s CPU")
    if not Path(args.splink).exists():
        print(f"splink: not run ({args.splink} does not exist; see benchmarks/splink_compare.py for the venv)")
        return
    proc = subprocess.run([args.splink, str(Path(__file__).with_name("splink_compare.py")), "febrl", str(args.fixtures)],
                          capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("splink")]
    if proc.returncode != 0 or not lines:
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        print(f"splink: failed to run: {tail[0]}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
