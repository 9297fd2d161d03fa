"""Matching benchmark: accuracy on the labelled generator (and Splink side by side), plus scale.

    .venv/bin/python benchmarks/bench_matching.py accuracy [--services 5000] [--splink /work/splink-venv/bin/python]
    .venv/bin/python benchmarks/bench_matching.py scale [--records 1000000] [--new 10000] [--repeats 3] [--profile]
    .venv/bin/python benchmarks/bench_matching.py fodors [--fixtures ../shared/fixtures/benchmarks] [--splink ...]
    .venv/bin/python benchmarks/bench_matching.py incremental-check [--records 100000] [--new 3000]

The threshold is fixed in ``dedupe.scoring`` (MATCH_PROBABILITY) before looking at any label; the
labels are only read here, after clustering. Hard negatives are pairs that a careless matcher
merges: siblings at one venue, one organisation's several services, same-named branches of a
franchise in different towns, near-identical names at nearby venues.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.gen_scale import ensure  # noqa: E402
from benchmarks.gen_services import generate  # noqa: E402
from dedupe.clustering import connected_components  # noqa: E402
from dedupe.matcher import match_records  # noqa: E402
from dedupe.match_cli import load_file  # noqa: E402
from dedupe.records import MATCH_INPUT_DDL, flatten_staging, key_records  # noqa: E402
from benchmarks.statement_timer import StatementTimer  # noqa: E402

INPUT_COLUMNS = ["staging_id", "source_id", "source_record_id", "name", "description", "url", "email", "org_name",
                 "org_url", "org_email", "identifiers", "phones", "location_name", "address", "city", "postcode",
                 "latitude", "longitude", "schedule", "terms", "staging_location_id", "staging_org_id"]


def load_frame(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS work")
    con.execute(MATCH_INPUT_DDL)
    con.register("gen_frame", frame[INPUT_COLUMNS])
    con.execute("INSERT INTO work.match_input SELECT * FROM gen_frame")
    con.unregister("gen_frame")


def pair_counts(labels: pd.DataFrame, cluster_col: str) -> dict:
    """Pairwise TP/FP/FN from cluster assignments against the true entity."""
    def c2(s):
        return int((s * (s - 1) // 2).sum())
    pred = c2(labels.groupby(cluster_col).size())
    true = c2(labels.groupby("entity").size())
    tp = c2(labels.groupby([cluster_col, "entity"]).size())
    p = tp / pred if pred else 1.0
    r = tp / true if true else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4), "tp": tp, "fp": pred - tp, "fn": true - tp}


def hard_negative_merges(labels: pd.DataFrame, cluster_col: str) -> dict:
    """False merged pairs by kind: same venue, same organisation, same name elsewhere, other."""
    out = {"same venue": 0, "same organisation": 0, "same name, other town": 0, "other": 0}
    for _, grp in labels.groupby(cluster_col):
        if len(grp) < 2 or grp["entity"].nunique() < 2:
            continue
        rows = grp.to_dict("records")
        for i in range(len(rows)):
            for j in range(i + 1, len(rows)):
                a, b = rows[i], rows[j]
                if a["entity"] == b["entity"]:
                    continue
                if a["venue"] == b["venue"]:
                    out["same venue"] += 1
                elif a["org"] == b["org"]:
                    out["same organisation"] += 1 if a["kind"] != "franchise" else 0
                    out["same name, other town"] += 1 if a["kind"] == "franchise" else 0
                else:
                    out["other"] += 1
    return out


def run_placecat(frame: pd.DataFrame, gates: bool = True) -> tuple[pd.DataFrame, dict, float]:
    con = duckdb.connect()
    load_frame(con, frame)
    t0 = time.perf_counter()
    key_records(con)
    outcome = match_records(con, explain=False, gates=gates)
    seconds = time.perf_counter() - t0
    clusters = con.execute("""SELECT r.source_id, r.source_record_id, c.cluster_mid FROM work.record_cluster c
                              JOIN work.match_record r USING (mid)""").df()
    pairs = con.execute("SELECT mid_l, mid_r FROM work.match_pair WHERE probability >= 0.95 AND decision <> 'veto'").fetchnumpy()
    cc = connected_components(pairs["mid_l"], pairs["mid_r"])
    mids = con.execute("SELECT source_id, source_record_id, mid FROM work.match_record").df()
    mids["cc"] = mids["mid"].map(lambda m: cc.get(m, -m - 1))
    labels = frame.merge(clusters, on=["source_id", "source_record_id"]).merge(mids, on=["source_id", "source_record_id"])
    return labels, outcome.summary(), seconds


def accuracy(args) -> None:
    frame = generate(args.services, seed=args.seed)
    kinds = frame.drop_duplicates("entity")["kind"].value_counts().to_dict()
    print(f"generator: {args.services} services, {len(frame)} listings from {frame['source_id'].nunique()} sources; kinds {kinds}")
    labels, summary, seconds = run_placecat(frame)
    ours = pair_counts(labels, "cluster_mid")
    print(f"placecat (gated, threshold fixed at 0.95): {ours}  in {seconds:.1f} s")
    print(f"  hard-negative pairs merged by mistake: {hard_negative_merges(labels, 'cluster_mid')}")
    print(f"  candidate pairs {summary['candidate_pairs']} (compared in full {summary['compared_pairs']}), "
          f"pairs for review {summary['review_pairs']}, refused merges {summary['refused_merges']}, "
          f"capped blocks {summary['capped_blocks']}")
    chained = pair_counts(labels, "cc")
    print(f"  same scores, connected components instead of non-chaining clustering: {chained}")
    ungated_labels, _, _ = run_placecat(frame, gates=False)
    print(f"placecat with the gates switched off (plain EM weights): {pair_counts(ungated_labels, 'cluster_mid')}")
    print(f"  hard-negative pairs merged: {hard_negative_merges(ungated_labels, 'cluster_mid')}")
    if args.splink:
        run_splink_side_by_side(args.splink, "generator", frame)


def run_splink_side_by_side(python: str, mode: str, frame: pd.DataFrame | None = None, fixtures: str | None = None) -> None:
    """Splink in its own venv on the very same data (a parquet copy of the frame)."""
    if not Path(python).exists():
        print(f"splink: not run ({python} does not exist; create it with `python3 -m venv /work/splink-venv && "
              "/work/splink-venv/bin/pip install splink`)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        arg = fixtures
        if frame is not None:
            arg = str(Path(tmp) / "data.parquet")
            con = duckdb.connect()
            con.register("f", frame)
            con.execute(f"COPY (SELECT * FROM f) TO '{arg}' (FORMAT parquet)")
        proc = subprocess.run([python, str(Path(__file__).with_name("splink_compare.py")), mode, arg],
                              capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("splink")]
    if proc.returncode != 0 or not lines:
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        print(f"splink: failed to run: {tail[0]}")
        return
    print("\n".join(lines))


def fodors_zagats(args) -> None:
    """Fodor's and Zagat's restaurant guides: venue name, street address, city, phone, cuisine."""
    base = Path(args.fixtures) / "fodors_zagats"
    if not base.is_dir():
        sys.exit(f"fodors: no fodors_zagats/ folder under {args.fixtures}")
    f = pd.read_csv(base / "fodors.csv", dtype=str)
    z = pd.read_csv(base / "zagats.csv", dtype=str)
    m = pd.read_csv(base / "matches_fodors_zagats.csv", dtype=str)
    truth = {("fodors", a): f"m{n}" for n, a in enumerate(m["fodors_id"])} | {("zagats", b): f"m{n}" for n, b in enumerate(m["zagats_id"])}
    rows = []
    for source, df in (("fodors", f), ("zagats", z)):
        for r in df.to_dict("records"):
            rows.append({"staging_id": f"{source}/{r['id']}", "source_id": source, "source_record_id": r["id"], "name": r["name"],
                         "description": None, "url": None, "email": None, "org_name": None, "org_url": None, "org_email": None,
                         "identifiers": [], "phones": [r["phone"]] if isinstance(r["phone"], str) else [], "location_name": None,
                         "address": r["addr"], "city": r["city"], "postcode": None, "latitude": None, "longitude": None,
                         "schedule": [], "terms": [r["type"]] if isinstance(r["type"], str) else [],
                         "staging_location_id": None, "staging_org_id": None,
                         "entity": truth.get((source, r["id"]), f"{source}/{r['id']}"), "venue": None, "org": None, "kind": "venue"})
    frame = pd.DataFrame(rows)
    c0 = cpu_seconds()
    labels, summary, seconds = run_placecat(frame)
    print(f"placecat on Fodors-Zagats (service comparisons, untuned): {pair_counts(labels, 'cluster_mid')} "
          f"in {seconds:.1f} s wall, {cpu_seconds() - c0:.1f} s CPU")
    if args.splink:
        run_splink_side_by_side(args.splink, "fodors", fixtures=str(args.fixtures))


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def store_as_previous(con: duckdb.DuckDBPyConnection) -> None:
    """The matcher's state as the next night sees it (what dedupe.nightly_match stores), in schema previous."""
    con.execute("CREATE SCHEMA previous")
    for src, dst in (("match_record", "match_record"), ("match_pair", "match_pair"), ("record_cluster", "match_cluster"),
                     ("block_key", "match_block_key")):
        con.execute(f"CREATE TABLE previous.{dst} AS SELECT * FROM work.{src}")


def scale_input_paths(records: int, new: int, seed: int, data: Path) -> tuple[Path, Path]:
    return data / f"match_input_{records}_{new}_{seed}.parquet", data / f"match_input_new_{records}_{new}_{seed}.parquet"


def scale_inputs(records: int, new: int, seed: int, data: Path) -> tuple[Path, Path]:
    """Match inputs for night 1 (``records`` records) and for the ``new`` records that arrive on
    night 2, as parquet: a skewed set of records + new records (``benchmarks.gen_scale``, the skews
    of ../shared/eval/README.md "Scale") read as `placecat match` reads it, with ``new`` records
    drawn at random (seeded) held back for night 2: listings of services night 1 has, and of new ones."""
    path, new_path = scale_input_paths(records, new, seed, data)
    if path.exists() and new_path.exists():
        return path, new_path
    t0 = time.perf_counter()
    folder, _ = ensure(records + new, seed, data)
    con = duckdb.connect()
    con.execute(f"SET temp_directory = '{data / 'spill'}'")
    load_file(con, folder / "records.jsonl")
    flatten_staging(con, "SELECT * FROM staging.service")
    total = con.execute("SELECT count(*) FROM work.match_input").fetchall()[0][0]
    held = np.random.default_rng(seed).choice(total, new, replace=False)
    con.register("held", pd.DataFrame({"k": held.astype(np.int64)}))
    con.execute("""CREATE TABLE numbered AS SELECT *, row_number() OVER (ORDER BY source_id, source_record_id) - 1 AS k_
                   FROM work.match_input""")
    cols = ", ".join(INPUT_COLUMNS)
    con.execute(f"COPY (SELECT {cols} FROM numbered WHERE k_ NOT IN (SELECT k FROM held)) TO '{path}' (FORMAT parquet)")
    con.execute(f"COPY (SELECT {cols} FROM numbered WHERE k_ IN (SELECT k FROM held)) TO '{new_path}' (FORMAT parquet)")
    print(f"prepared {total - new:,} + {new:,} records ({folder}) in {time.perf_counter() - t0:.0f} s (not timed)")
    return path, new_path


def scale(args) -> None:
    """Full match of N skewed records, then N_new new records against that catalogue (incremental).

    The data is generated and read first (not timed) and written to parquet, so that the timed
    part and the peak memory are the matcher's (keying, blocking, comparing, scoring, clustering
    and writing): DuckDB reads the parquet like it reads staging.
    """
    path, new_path = scale_input_paths(args.records, args.new, args.seed, Path(args.data))
    if not (path.exists() and new_path.exists()):
        # in a process of its own, so that the peak memory printed below is the matcher's
        subprocess.run([sys.executable, __file__, "scale-inputs", "--records", str(args.records), "--new", str(args.new),
                        "--seed", str(args.seed), "--data", args.data], check=True)
    print(f"load average before: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    # A database file with a memory limit, like the nightly build file: DuckDB spills to it rather
    # than holding every work table in memory.
    workdir = tempfile.mkdtemp(prefix="placecat_scale_")
    con = duckdb.connect(str(Path(workdir) / "match.duckdb"))
    con.execute(f"SET threads = {args.threads}")
    con.execute(f"SET memory_limit = '{args.memory_limit}'")
    con.execute("CREATE SCHEMA work")
    con.execute(MATCH_INPUT_DDL)
    t0, c0 = time.perf_counter(), cpu_seconds()
    con.execute(f"INSERT INTO work.match_input SELECT * FROM read_parquet('{path}')")
    key_records(con)
    t_keys = time.perf_counter() - t0
    outcome = match_records(con, explain=False)
    total, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    print(f"full match of {outcome.records} records: {total:.1f} s wall, {cpu:.1f} s CPU (keys {t_keys:.1f} s, {outcome.seconds}); "
          f"{outcome.candidate_pairs} candidate pairs, {outcome.clusters} clusters; peak RSS {peak_mb():.0f} MB")
    print(f"  blocking caps: {outcome.summary()['capped_blocks']}")
    # The catalogue as the next night sees it (what dedupe.nightly_match stores): a night is a new
    # process that opens the build file, so the first night's connection is closed and the work
    # tables it leaves behind are dropped; each incremental run starts from a copy of that file.
    store_as_previous(con)
    for (table,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'work' "
                                "AND table_name <> 'match_input'").fetchall():
        con.execute(f"DROP TABLE work.{table}")
    model = outcome.model
    con.close()
    runs, cpus = [], []
    for _ in range(args.repeats):
        night = Path(workdir) / "night2.duckdb"
        shutil.copy(Path(workdir) / "match.duckdb", night)
        con = duckdb.connect(str(night))
        con.execute(f"SET threads = {args.threads}")
        con.execute(f"SET memory_limit = '{args.memory_limit}'")
        con.execute(f"INSERT INTO work.match_input SELECT * FROM read_parquet('{new_path}')")
        # The night's input on disk before the clock starts, as flatten_staging leaves it in the nightly
        # build: else the first checkpoint inside the timed part writes the 10,000 rows appended here and
        # compacts night 1's match_input (its partly filled row groups), 2.5-7 s that are not matching.
        con.execute("CHECKPOINT")
        if args.profile and not runs:       # the first run's statements, each timed by the line that ran it
            con = StatementTimer(con)
        t0, c0 = time.perf_counter(), cpu_seconds()
        key_records(con, previous="previous")
        t_keys = time.perf_counter() - t0
        inc = match_records(con, explain=False, model=model, previous="previous")
        # What the night wrote, on disk: timed, so that writing less counts and writing later does not.
        t_write = time.perf_counter()
        con.execute("CHECKPOINT")
        t_write = time.perf_counter() - t_write
        runs.append(time.perf_counter() - t0)
        cpus.append(cpu_seconds() - c0)
        changed = con.execute("SELECT count(*) FROM work.changed").fetchone()[0]
        region = con.execute("SELECT count(*) FROM work.region").fetchone()[0]
        print(f"incremental: {changed} new records against {outcome.records}: {runs[-1]:.1f} s wall, "
              f"{cpus[-1]:.1f} s CPU (keys {t_keys:.1f} s, {inc.seconds}, checkpoint {t_write:.2f} s); "
              f"{inc.candidate_pairs} candidate pairs, {region} records clustered again")
        if isinstance(con, StatementTimer):
            print(f"  statements of this run, slowest first (the rest of {runs[-1]:.1f} s is Python):\n{con.report(25)}")
        con.close()
        night.unlink()
    print(f"incremental median of {len(runs)}: {statistics.median(runs):.1f} s wall, {statistics.median(cpus):.1f} s CPU; peak RSS {peak_mb():.0f} MB; "
          f"load average after: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    shutil.rmtree(workdir, ignore_errors=True)


def _clusters_by_record(con: duckdb.DuckDBPyConnection) -> set[frozenset]:
    """Each cluster as the set of its records' (source, record id): comparable across numberings."""
    groups: dict[int, set] = {}
    for source, record, cluster in con.execute("""SELECT r.source_id, r.source_record_id, c.cluster_mid
                                                  FROM work.record_cluster c JOIN work.match_record r USING (mid)""").fetchall():
        groups.setdefault(cluster, set()).add((source, record))
    return {frozenset(g) for g in groups.values()}


def incremental_check(args) -> None:
    """Night 2 matched incrementally against night 1, and the same night-2 records matched in full
    with the same model: how many clusters differ. They can, by design, where a block grew past its
    cap tonight: a full match drops that block's pairs, an incremental night keeps last night's."""
    frame = generate(int(args.records / 2.2) + args.new, seed=args.seed)
    night1, extra = frame.iloc[: args.records], frame.iloc[args.records: args.records + args.new]
    # Night 2: the new listings arrive, 500 listings go and 300 change their names.
    night2 = pd.concat([night1.iloc[500:], extra]).copy()
    night2.loc[night2.index[:300], "name"] = night2.loc[night2.index[:300], "name"] + " Group"
    workdir = Path(tempfile.mkdtemp(prefix="placecat_inc_check_"))
    con = duckdb.connect(str(workdir / "incremental.duckdb"))
    load_frame(con, night1)
    key_records(con)
    first = match_records(con, explain=False)
    store_as_previous(con)
    load_frame(con, night2)
    t0 = time.perf_counter()
    key_records(con, previous="previous")
    match_records(con, explain=False, model=first.model, previous="previous")
    seconds = time.perf_counter() - t0
    full = duckdb.connect(str(workdir / "full.duckdb"))
    load_frame(full, night2)
    key_records(full)
    match_records(full, explain=False, model=first.model)
    a, b = _clusters_by_record(con), _clusters_by_record(full)
    print(f"night 2: {len(night2)} listings ({len(extra)} new, 500 gone, 300 renamed); incremental {seconds:.1f} s")
    print(f"clusters: incremental {len(a)}, full {len(b)}; identical {len(a & b)}; "
          f"only incremental {len(a - b)}, only full {len(b - a)}")
    con.close()
    full.close()
    shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    a = sub.add_parser("accuracy")
    a.add_argument("--services", type=int, default=5000)
    a.add_argument("--seed", type=int, default=42)
    a.add_argument("--splink", default=os.environ.get("SPLINK_PYTHON", "/work/splink-venv/bin/python"))
    s = sub.add_parser("scale")
    s.add_argument("--records", type=int, default=1_000_000)
    s.add_argument("--new", type=int, default=10_000)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--data", default="/tmp/placecat-scale", help="where generated sets are kept (as bench_scale.py)")
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--repeats", type=int, default=3, help="incremental runs, each on a copy of the first night's file")
    s.add_argument("--memory-limit", default="2GB", help="DuckDB's memory limit (default 2GB)")
    s.add_argument("--profile", action="store_true", help="print the first incremental run's DuckDB statements, slowest first")
    si = sub.add_parser("scale-inputs", help="(the data of scale, prepared in a process of its own)")
    si.add_argument("--records", type=int, required=True)
    si.add_argument("--new", type=int, required=True)
    si.add_argument("--seed", type=int, required=True)
    si.add_argument("--data", required=True)
    fz = sub.add_parser("fodors")
    fz.add_argument("--fixtures", default=str(Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "benchmarks"))
    fz.add_argument("--splink", default=os.environ.get("SPLINK_PYTHON", "/work/splink-venv/bin/python"))
    ic = sub.add_parser("incremental-check")
    ic.add_argument("--records", type=int, default=100_000)
    ic.add_argument("--new", type=int, default=3_000)
    ic.add_argument("--seed", type=int, default=42)
    args = p.parse_args()
    {"accuracy": accuracy, "scale": scale,
     "scale-inputs": lambda a: scale_inputs(a.records, a.new, a.seed, Path(a.data)), "fodors": fodors_zagats, "incremental-check": incremental_check}[args.what](args)


if __name__ == "__main__":
    main()
