"""Match ORUK v3 service objects from a JSON Lines file into clusters.

`placecat match INPUT.jsonl --out CLUSTERS.csv` reads one ORUK v3 service object per line (as in a
`/services/{id}` response, with nested organisation, locations, phones and schedules) plus
`source_id`, runs the same matcher as the nightly build and writes
`source_id,record_id,cluster_id,score`. Records from one source are never merged with each other
unless `--dedupe` is given (then a source may list one service twice).
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import duckdb
import pandas as pd

from connectors.oruk.page_text import parse_raw_text
from connectors.oruk.v3 import normalise_v3_service
from connectors.staging import StagingRows
from dedupe.matcher import match_records
from dedupe.overrides import OverridesError, load_overrides
from dedupe.queue import write_review_queue
from dedupe.records import flatten_staging, key_records
from warehouse.build import PublishError, set_memory_limit
from warehouse.schema import create_staging_tables


# The review queue's columns in --review-out (dedupe.queue.REVIEW_QUEUE_DDL).
REVIEW_CSV_COLUMNS = ("rank", "source_id_a", "record_id_a", "name_a", "source_id_b", "record_id_b", "name_b",
                      "probability", "decision", "records_affected", "pairs", "same_source", "reasons")


class InputError(ValueError):
    """The input file is unusable; one line for the user."""


# Services normalised before their rows go to DuckDB and are let go: the Python rows of a whole
# file are dicts of a dozen tables per service, 5 GB at a million services (skewed scale set,
# benchmarks/bench_scale.py). Shared objects are still added once: each source's StagingRows
# keeps the ids it has seen from batch to batch.
READ_BATCH = 50_000


def read_batches(path: Path, batch: int = READ_BATCH, span: tuple[int, int] | None = None) -> Iterator[dict[str, StagingRows]]:
    """Staging rows per source from the JSON Lines file, ``batch`` services at a time (0: all at
    once). Each yield gives the same StagingRows objects, holding the rows added since the last
    one: the caller stores them and empties them (``load_staging``). ``span`` (start, end): only
    the lines that start in those bytes of the file (a part of it; see ``load_file``)."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    per_source: dict[str, StagingRows] = {}
    pending = 0
    start, end = span or (0, None)
    with path.open("rb") as f:
        f.seek(start)
        at = start
        for n, raw in enumerate(f, start=1):
            if end is not None and at >= end:
                break
            at += len(raw)
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
                # As the nightly build reads a stored record: the text repair pass over every string only
                # where the text shows a need for it (a tenth of the reading time otherwise).
                obj, repair = parse_raw_text(line)
            except ValueError as exc:   # UnicodeDecodeError is one too
                raise InputError(f"{path} line {_line_number(path, start, n)}: not valid JSON "
                                 f"({getattr(exc, 'msg', None) or getattr(exc, 'reason', exc)}); "
                                 "each line must be one service object") from None
            if not isinstance(obj, dict) or not obj.get("source_id") or obj.get("id") in (None, ""):
                raise InputError(f"{path} line {_line_number(path, start, n)}: each service needs 'source_id' and 'id'")
            source = str(obj["source_id"])
            rows = per_source.get(source)
            if rows is None:    # not setdefault(source, StagingRows(source)): that built one per line
                rows = per_source[source] = StagingRows(source)
            normalise_v3_service(rows, obj, str(obj["id"]), repair=repair)
            pending += 1
            if pending == batch:
                yield per_source
                pending = 0
    if not per_source and span is None:
        raise InputError(f"{path}: no services in the file")
    if pending or (not batch and per_source):
        yield per_source


def _line_number(path: Path, start: int, n: int) -> int:
    """The line number in the whole file of line n of the part that starts at byte ``start``."""
    before = 0
    with path.open("rb") as f:
        while f.tell() < start:
            before += f.read(min(1 << 24, start - f.tell())).count(b"\n")
    return before + n


def read_services(path: Path) -> dict[str, StagingRows]:
    """Staging rows per source from the JSON Lines file, all at once."""
    for per_source in read_batches(path, batch=0):
        return per_source
    raise InputError(f"{path}: no services in the file")


def load_staging(con: duckdb.DuckDBPyConnection, per_source: dict[str, StagingRows]) -> None:
    """The rows into staging.* (which must exist), then out of the StagingRows.

    One insert per table for all the sources: an insert of a few thousand rows costs DuckDB far
    more per row than one of a few hundred thousand (50,000 services of 20 sources: 280 inserts
    took 6.6 s of CPU, 14 took 4.0 s). Each table's rows keep their order (source by source)."""
    per_table: dict[str, list[dict]] = {}
    for rows in per_source.values():
        for table, records in rows.tables():
            per_table.setdefault(table, []).extend(records)
            records.clear()
    for table, records in per_table.items():
        con.register("rows_frame", pd.DataFrame(records))
        con.execute(f"INSERT INTO staging.{table} BY NAME SELECT * FROM rows_frame")
        con.unregister("rows_frame")


# Reading is Python, one core per process: a file this large or larger is read in parts, one per
# core, each by a worker process into a DuckDB file of its own that the matcher then copies from.
# The workers' memory (their rows, and what the Python heap keeps of them) goes with them.
PARALLEL_READ_BYTES = 64 * 2**20


def load_file(con: duckdb.DuckDBPyConnection, path: Path, parts: int | None = None) -> None:
    """Every service of the JSON Lines file into staging.* (created here), in ``parts`` parts read
    side by side (default: one per core for a file of PARALLEL_READ_BYTES or more, else one).

    The staging is the same as one reader's: each part keeps the first copy of a shared object
    (an organisation embedded in each of its services) as one reader does, and of the copies in
    several parts the one of the earliest part is kept, which is the first copy in the file."""
    create_staging_tables(con)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    size = path.stat().st_size
    if parts is None:
        parts = min(os.cpu_count() or 1, 4) if size >= PARALLEL_READ_BYTES else 1
    spans = _spans(path, size, parts)
    if len(spans) <= 1:
        for per_source in read_batches(path):
            load_staging(con, per_source)
        return
    with tempfile.TemporaryDirectory(prefix="placecat_match_") as tmp:
        files = [str(Path(tmp) / f"part{k}.duckdb") for k in range(len(spans))]
        _read_parts(path, spans, files)
        for k, file in enumerate(files):
            con.execute(f"ATTACH '{file}' AS part{k} (READ_ONLY)")
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'staging' "
                                    "AND database_name = current_database() ORDER BY table_name").fetchall():
            # Part by part, each without the ids an earlier part gave (ids are unique within a part):
            # a window over the union of the parts' whole rows cost 8 s at a million services.
            con.execute(f"INSERT INTO staging.{table} SELECT * FROM part0.staging.{table}")
            for k in range(1, len(files)):
                con.execute(f"""INSERT INTO staging.{table} SELECT p.* FROM part{k}.staging.{table} p
                                ANTI JOIN (SELECT id FROM staging.{table}) s USING (id)""")
        for k in range(len(files)):
            con.execute(f"DETACH part{k}")


def _read_parts(path: Path, spans: list[tuple[int, int]], files: list[str]) -> None:
    """Each part read by a process of its own (``python -m dedupe.match_cli``, not multiprocessing:
    its spawned workers run the caller's main module again, which a script without a main guard
    cannot survive). A mistake in the file is reported for the earliest part that has one."""
    here = str(Path(__file__).resolve().parents[1])
    env = os.environ | {"PYTHONPATH": os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)}
    procs = [subprocess.Popen([sys.executable, "-m", "dedupe.match_cli", str(path), str(a), str(b), file],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for (a, b), file in zip(spans, files)]
    try:
        results = [(p.returncode, out, err) for p in procs for out, err in [p.communicate()]]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for rc, _out, err in results:
        if rc == INPUT_ERROR_EXIT:
            raise InputError(err.strip())
        if rc != 0:
            raise RuntimeError(f"reading {path} failed: {(err.strip().splitlines() or [f'exit {rc}'])[-1]}")
    if not sum(int(out.strip() or 0) for _rc, out, _err in results):
        raise InputError(f"{path}: no services in the file")


def _spans(path: Path, size: int, parts: int) -> list[tuple[int, int]]:
    """Byte ranges of about equal size, each starting at the start of a line."""
    cuts = [0]
    with path.open("rb") as f:
        for k in range(1, parts):
            f.seek(max(size * k // parts, cuts[-1]))
            f.readline()     # to the end of the line the cut falls in
            cuts.append(min(f.tell(), size))
    cuts.append(size)
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


INPUT_ERROR_EXIT = 2


def _read_part(path: str, start: str, end: str, file: str) -> int:
    """A worker process: one part of the file into staging.* of a DuckDB file of its own; prints
    the number of services read."""
    con = duckdb.connect(file)
    con.execute("SET threads = 1")      # the other core reads the other part
    con.execute("SET memory_limit = '500MB'")
    # a file read once and thrown away: compressing it cost a sixth of the inserting (2.37 s of CPU
    # against 2.01 s for 50,000 services)
    con.execute("SET force_compression = 'uncompressed'")
    create_staging_tables(con)
    services = 0
    try:
        for per_source in read_batches(Path(path), span=(int(start), int(end))):
            services += sum(rows.count("service") for rows in per_source.values())
            load_staging(con, per_source)
    except InputError as exc:
        print(exc, file=sys.stderr)
        return INPUT_ERROR_EXIT
    con.close()
    print(services)
    return 0


# DuckDB's own memory for `placecat match` (PLACECAT_DUCKDB_MEMORY_LIMIT, as for the nightly build):
# past it DuckDB spills to a temporary folder rather than holding every work table, and the
# matcher's numpy arrays come on top. Without a limit DuckDB takes up to 80 % of the machine.
MATCH_MEMORY_LIMIT = "2GB"
# The columns of work.match_input kept once the records are keyed: what dedupe.queue (the names) and
# dedupe.overrides (dedupe.overrides.FINGERPRINT_SQL) read of them.
INPUTS_KEPT = ("staging_id", "source_id", "source_record_id", "name", "org_name", "address", "postcode", "phones",
               "email", "url")
# Result rows written per batch: a million rows fetched at once were 300 MB of Python tuples.
WRITE_BATCH = 100_000


def connect_match(temp_directory: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for matching, with its memory limit and its spill folder."""
    con = duckdb.connect()
    try:
        set_memory_limit(con, MATCH_MEMORY_LIMIT)
    except PublishError as exc:
        con.close()
        raise InputError(str(exc)) from None
    con.execute("SET temp_directory = ?", [temp_directory])
    return con


def match_file(path: Path, out: Path, dedupe: bool = False, overrides_path: Path | None = None,
               review_out: Path | None = None) -> dict:
    overrides = load_overrides(overrides_path)
    with tempfile.TemporaryDirectory(prefix="placecat_match_spill_") as spill:
        con = connect_match(spill)
        # Seconds per stage before and after matching (match_records times its own stages).
        stages = {}
        t0 = time.perf_counter()
        try:
            load_file(con, path)
            stages["reading"] = time.perf_counter()
            flatten_staging(con, "SELECT * FROM staging.service")
            # Everything matching reads is in work.match_input now.
            for (table,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'staging'").fetchall():
                con.execute(f"DROP TABLE staging.{table}")
            stages["flattening"] = time.perf_counter()
            key_records(con)
            # Of the inputs, matching reads nothing more; the review queue and the overrides read the
            # names and what makes a fingerprint. The rest (the descriptions above all) was 0.25 GB of
            # DuckDB's 2 GB at a million records, held through matching, which then spilled sooner.
            con.execute(f"CREATE OR REPLACE TABLE work.match_input AS SELECT {', '.join(INPUTS_KEPT)} FROM work.match_input")
            stages["keying"] = time.perf_counter()
            outcome = match_records(con, link_only=not dedupe, overrides=overrides, explain=False)
            stages["matching"] = time.perf_counter()
            # The review queue as the nightly build ranks and bounds it (dedupe.queue).
            con.execute("CREATE SCHEMA IF NOT EXISTS catalogue")
            queue = write_review_queue(con, outcome.model, overrides.resolve_in(con)[1])
            stages["review queue"] = time.perf_counter()
            if review_out is not None:
                review_out.parent.mkdir(parents=True, exist_ok=True)
                con.execute(f"COPY (SELECT {', '.join(REVIEW_CSV_COLUMNS)} FROM catalogue.review_queue ORDER BY rank) "
                            f"TO '{str(review_out).replace(chr(39), chr(39) * 2)}' (HEADER)")
            result = con.execute("""
                SELECT r.source_id, r.source_record_id, f.source_id || '/' || f.source_record_id, round(c.score, 4)
                FROM work.record_cluster c JOIN work.match_record r ON r.mid = c.mid JOIN work.match_record f ON f.mid = c.cluster_mid
                ORDER BY 3, 1, 2
            """)
            out.parent.mkdir(parents=True, exist_ok=True)
            with out.open("w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(["source_id", "record_id", "cluster_id", "score"])
                while rows := result.fetchmany(WRITE_BATCH):
                    w.writerows(rows)
            stages["writing clusters"] = time.perf_counter()
        finally:
            con.close()
    io_seconds = {k: round(t - prev, 2) for prev, (k, t) in zip([t0, *stages.values()], stages.items())}
    queue["seconds"] = io_seconds["review queue"]
    return {**outcome.summary(), "review_queue": queue, "file_seconds": io_seconds}


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="JSON Lines file: one ORUK v3 service object per line, each with source_id and id")
    p.add_argument("--out", required=True, help="CSV to write: source_id,record_id,cluster_id,score")
    p.add_argument("--dedupe", action="store_true", help="also merge records within one source")
    p.add_argument("--overrides", help="an overrides YAML file (must-link / cannot-link) to honour")
    p.add_argument("--review-out", metavar="CSV", help="also write the review queue (ranked, one pair per pair of "
                                                       "clusters, at most 1 %% of the records) to this CSV")


def run(args: argparse.Namespace) -> int:
    try:
        summary = match_file(Path(args.input), Path(args.out), args.dedupe, Path(args.overrides) if args.overrides else None,
                             Path(args.review_out) if args.review_out else None)
    except (InputError, OverridesError) as exc:
        print(f"placecat match: {exc}", file=sys.stderr)
        return 2
    queue = summary["review_queue"]
    print(f"{summary['records']} records -> {summary['clusters']} clusters ({summary['matched_pairs']} merges, "
          f"{summary['review_pairs']} pairs for review); written to {args.out}")
    print(f"review queue: {queue['queued']} of {queue['questions']} questions (one per pair of clusters, ranked by the "
          f"records a decision would join; at most {queue['queue_limit']})"
          + (f"; written to {args.review_out}" if args.review_out else ""))
    return 0


if __name__ == "__main__":    # a worker of load_file: python -m dedupe.match_cli PATH START END FILE
    sys.exit(_read_part(*sys.argv[1:5]))
