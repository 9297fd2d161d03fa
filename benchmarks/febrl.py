"""FEBRL 1-4 (synthetic person records) with placecat's engine and person comparisons declared as data.

The engine is the service matcher's: capped blocking, comparison levels from declared data,
u from random pairs, m by EM, non-chaining clustering; only the declarations differ (no
venue/name gates: person records have no "shared venue" trap). Used for regression only.
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
        Level("similar", f"sim.{sim} >= 70"), Level("different", "true")), m_init=(0.7, 0.15, 0.1, 0.05))


FEBRL_COMPARISONS = (
    # Roles only steer the two EM sessions here (names learned where other fields agree and vice
    # versa); the gates are off for persons.
    _fuzzy("given_name", "given_name", "given", role="name"), _fuzzy("name", "surname", "surname", role="name"),
    Comparison("date_of_birth", "place", "l.dob IS NULL OR r.dob IS NULL", (
        Level("exact", "l.dob = r.dob", True), Level("one typo", "levenshtein(l.dob, r.dob) <= 1", True),
        Level("two typos", "levenshtein(l.dob, r.dob) <= 2"), Level("different", "true")), m_init=(0.7, 0.15, 0.1, 0.05)),
    Comparison("soc_sec_id", "place", "l.ssn IS NULL OR r.ssn IS NULL", (
        Level("exact", "l.ssn = r.ssn", True), Level("one typo", "levenshtein(l.ssn, r.ssn) <= 1", True),
        Level("different", "true")), m_init=(0.8, 0.15, 0.05)),
    _fuzzy("address", "address", "addr"), _fuzzy("suburb", "suburb", "suburb"),
    Comparison("postcode", "place", "l.postcode IS NULL OR r.postcode IS NULL", (
        Level("exact", "l.postcode = r.postcode", True), Level("one typo", "levenshtein(l.postcode, r.postcode) <= 1"),
        Level("different", "true")), m_init=(0.8, 0.15, 0.05)),
    Comparison("street_number", "place", "l.street_number IS NULL OR r.street_number IS NULL", (
        Level("exact", "l.street_number = r.street_number"), Level("different", "true")), m_init=(0.9, 0.1)),
)

FEBRL_BLOCKING = (
    BlockingRule("surname_phonetic+dob_year", "[r.name_phon || '/' || left(r.dob, 4)]"),
    BlockingRule("given+surname_phonetic", "[r.given_phon || '/' || r.name_phon]"),
    BlockingRule("dob", "[r.dob]"), BlockingRule("ssn", "[r.ssn]"), BlockingRule("postcode+street_number", "[r.postcode || '/' || r.street_number]"),
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
    df["name"] = df["surname"]
    df["name_phon"] = df["surname"].map(lambda s: phonetic_key(s) if isinstance(s, str) else None)
    df["given_phon"] = df["given_name"].map(lambda s: phonetic_key(s) if isinstance(s, str) else None)
    df["mid"] = range(len(df))
    con = duckdb.connect()
    con.execute("CREATE SCHEMA work")
    con.register("febrl_frame", df.drop(columns=["entity"]))
    con.execute("CREATE TABLE work.match_record AS SELECT * FROM febrl_frame")
    match_records(con, link_only=link_only, gates=False, explain=False, comparisons=FEBRL_COMPARISONS,
                  sims=FEBRL_SIMILARITIES, rules=FEBRL_BLOCKING)
    clusters = con.execute("SELECT mid, cluster_mid FROM work.record_cluster").df()
    return df[["mid", "entity"]].merge(clusters, on="mid")


def febrl_datasets(fixtures: Path):
    base = fixtures / "febrl"
    for n in (1, 2, 3):
        yield f"FEBRL{n}", [load(base / f"dataset{n}.csv", "a")], False
    yield "FEBRL4", [load(base / "dataset4a.csv", "a"), load(base / "dataset4b.csv", "b")], True


if __name__ == "__main__":
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.bench_matching import pair_counts
    for name, frames, link in febrl_datasets(Path(sys.argv[1])):
        print(name, pair_counts(run_febrl(frames, link), "cluster_mid"))
