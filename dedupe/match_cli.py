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
import sys
from pathlib import Path
from typing import Iterator

import duckdb
import pandas as pd

from connectors.oruk.page_text import parse_raw_text
from connectors.oruk.v3 import normalise_v3_service
from connectors.staging import StagingRows
from dedupe.matcher import match_records
from dedupe.overrides import OverridesError, load_overrides
from dedupe.records import flatten_staging, key_records
from warehouse.schema import create_staging_tables


class InputError(ValueError):
    """The input file is unusable; one line for the user."""


# Services normalised before their rows go to DuckDB and are let go: the Python rows of a whole
# file are dicts of a dozen tables per service, 5 GB at a million services (skewed scale set,
# benchmarks/bench_scale.py). Shared objects are still added once: each source's StagingRows
# keeps the ids it has seen from batch to batch.
READ_BATCH = 50_000


def read_batches(path: Path, batch: int = READ_BATCH) -> Iterator[dict[str, StagingRows]]:
    """Staging rows per source from the JSON Lines file, ``batch`` services at a time (0: all at
    once). Each yield gives the same StagingRows objects, holding the rows added since the last
    one: the caller stores them and empties them (``load_staging``)."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    per_source: dict[str, StagingRows] = {}
    pending = 0
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                # As the nightly build reads a stored record: the text repair pass over every string only
                # where the text shows a need for it (a tenth of the reading time otherwise).
                obj, repair = parse_raw_text(line)
            except ValueError as exc:
                raise InputError(f"{path} line {n}: not valid JSON ({getattr(exc, 'msg', exc)}); "
                                 "each line must be one service object") from None
            if not isinstance(obj, dict) or not obj.get("source_id") or obj.get("id") in (None, ""):
                raise InputError(f"{path} line {n}: each service needs 'source_id' and 'id'")
            source = str(obj["source_id"])
            rows = per_source.get(source)
            if rows is None:    # not setdefault(source, StagingRows(source)): that built one per line
                rows = per_source[source] = StagingRows(source)
            normalise_v3_service(rows, obj, str(obj["id"]), repair=repair)
            pending += 1
            if pending == batch:
                yield per_source
                pending = 0
    if not per_source:
        raise InputError(f"{path}: no services in the file")
    if pending or not batch:
        yield per_source


def read_services(path: Path) -> dict[str, StagingRows]:
    """Staging rows per source from the JSON Lines file, all at once."""
    for per_source in read_batches(path, batch=0):
        return per_source
    raise InputError(f"{path}: no services in the file")


def load_staging(con: duckdb.DuckDBPyConnection, per_source: dict[str, StagingRows]) -> None:
    """The rows into staging.* (which must exist), then out of the StagingRows."""
    for rows in per_source.values():
        for table, records in rows.tables():
            frame = pd.DataFrame(records)
            con.register("rows_frame", frame)
            con.execute(f"INSERT INTO staging.{table} BY NAME SELECT * FROM rows_frame")
            con.unregister("rows_frame")
            records.clear()


def match_file(path: Path, out: Path, dedupe: bool = False, overrides_path: Path | None = None) -> dict:
    con = duckdb.connect()
    create_staging_tables(con)
    for per_source in read_batches(path):
        load_staging(con, per_source)
    flatten_staging(con, "SELECT * FROM staging.service")
    key_records(con)
    outcome = match_records(con, link_only=not dedupe, overrides=load_overrides(overrides_path), explain=False)
    rows = con.execute("""
        SELECT r.source_id, r.source_record_id, f.source_id || '/' || f.source_record_id, round(c.score, 4)
        FROM work.record_cluster c JOIN work.match_record r ON r.mid = c.mid JOIN work.match_record f ON f.mid = c.cluster_mid
        ORDER BY 3, 1, 2
    """).fetchall()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["source_id", "record_id", "cluster_id", "score"])
        w.writerows(rows)
    return outcome.summary()


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="JSON Lines file: one ORUK v3 service object per line, each with source_id and id")
    p.add_argument("--out", required=True, help="CSV to write: source_id,record_id,cluster_id,score")
    p.add_argument("--dedupe", action="store_true", help="also merge records within one source")
    p.add_argument("--overrides", help="an overrides YAML file (must-link / cannot-link) to honour")


def run(args: argparse.Namespace) -> int:
    try:
        summary = match_file(Path(args.input), Path(args.out), args.dedupe, Path(args.overrides) if args.overrides else None)
    except (InputError, OverridesError) as exc:
        print(f"placecat match: {exc}", file=sys.stderr)
        return 2
    print(f"{summary['records']} records -> {summary['clusters']} clusters ({summary['matched_pairs']} merges, "
          f"{summary['review_pairs']} pairs for review); written to {args.out}")
    return 0
