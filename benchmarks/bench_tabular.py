"""Spreadsheet and database sources: rows per second, and memory while streaming a big table.

    .venv/bin/python benchmarks/bench_tabular.py [--rows 100000] [--xlsx-rows 20000] [--repeat 3]

Prints medians of --repeat runs for:
- CSV and XLSX: reading only (``open_table().rows()``), and the harvest (read + row ids + raw
  records written to the snapshot), and normalising through a mapping;
- PostgreSQL (127.0.0.1:5432, db test): streaming a --rows table, and the harvest;
- peak memory (RSS above the baseline after imports, in a fresh process) of harvesting a
  PostgreSQL table of --rows and of 3 x --rows rows: with server-side cursors it should not grow
  with the table.
Files and tables are generated on the fly and removed afterwards.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from connectors.config import load_sources  # noqa: E402
from connectors.refresh import harvest_source, normalise_source  # noqa: E402
from connectors.tabular import open_table  # noqa: E402
from tests.support.sheets import directory_rows, sources_yaml, write_csv, write_xlsx  # noqa: E402

HEADER = ["Ref", "Service Name", "Organisation", "Address 1", "Postcode", "Telephone", "Day", "Start", "End", "Category"]
MAPPING = {"id": "Ref", "columns": {
    "service.name": "Service Name", "organization.name": "Organisation", "address.address_1": "Address 1",
    "address.postal_code": "Postcode", "phone.number": "Telephone", "schedule.byday": "Day",
    "schedule.opens_at": "Start", "schedule.closes_at": "End", "taxonomy_term.name": "Category"}}
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def body(n: int) -> list[list]:
    return [[r["ref"], r["service"], r["organisation"], r["address1"], r["postcode"], r["phone"], r["day"],
             r["opens"].strftime("%H:%M"), r["closes"].strftime("%H:%M"), r["category"]] for r in directory_rows(n)]


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def source_for(folder: Path, entry: dict):
    (folder / "mapping.yaml").write_text(yaml.safe_dump(MAPPING), encoding="utf-8")
    return load_sources(sources_yaml(folder, [{"id": "bench", "publisher": "Bench", "mapping": "mapping.yaml",
                                               **entry}])).sources[0]


def harvest_once(source, folder: Path) -> str:
    state = Path(tempfile.mkdtemp(dir=folder))
    report = harvest_source(source, state, "bench")
    assert report.status == "ok", report.message
    return str(state), report.version


def bench_file(kind: str, path: Path, n: int, repeat: int, folder: Path) -> None:
    read_s, count = timed(lambda: sum(1 for _ in open_table(path).rows()), repeat)
    assert count == n, count
    source = source_for(folder, {"kind": "spreadsheet", "path": str(path)})
    harvest_s, (state, version) = timed(lambda: harvest_once(source, folder), repeat)
    # normalising promotes the snapshot, so it runs once (on the last harvest)
    t = time.perf_counter()
    report = normalise_source(source, Path(state), version, "bench")
    norm_s = time.perf_counter() - t
    assert report.status == "ok", report.message
    print(f"{kind:<11} {n:>8,} rows  read {n / read_s:>9,.0f} rows/s   harvest {n / harvest_s:>9,.0f} rows/s   "
          f"normalise {n / norm_s:>7,.0f} rows/s (one run)")


def make_pg_table(rows: int) -> str:
    import sqlalchemy as sa

    from tests.support.sql_tables import CREATE, FILL

    table = f"placecat_bench_{uuid.uuid4().hex[:8]}"
    with sa.create_engine(PG_URL).begin() as con:
        con.execute(sa.text(CREATE.format(t=table, time="TIME")))
        con.execute(sa.text(FILL["postgresql"].format(t=table, rows=rows)))
    return table


def drop_pg_table(table: str) -> None:
    import sqlalchemy as sa

    with sa.create_engine(PG_URL).begin() as con:
        con.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))


SQL_MAPPING = {"id": "ref", "columns": {"service.name": "service_name", "organization.name": "org_name",
                                        "address.postal_code": "postcode", "phone.number": "phone",
                                        "schedule.byday": "meets", "schedule.opens_at": "opens"}}


def sql_source(folder: Path, table: str):
    (folder / "mapping.yaml").write_text(yaml.safe_dump(SQL_MAPPING), encoding="utf-8")
    return load_sources(sources_yaml(folder, [{"id": "bench", "publisher": "Bench", "mapping": "mapping.yaml",
                                               "kind": "sql", "url": PG_URL, "table": table}])).sources[0]


def high_water_kb() -> int:
    """This process's peak RSS. Not ru_maxrss: Linux carries that over from the parent across exec."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_child(table: str, folder: str) -> None:
    """In a fresh process: RSS after imports, then the peak while harvesting the table."""
    import gc
    import tracemalloc

    import sqlalchemy  # noqa: F401  (imports count towards the baseline, not the harvest)

    import connectors.sql  # noqa: F401

    gc.collect()
    base = high_water_kb()
    source = sql_source(Path(folder), table)
    tracemalloc.start()
    report = harvest_source(source, Path(folder) / "state", "bench")
    py_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    peak = high_water_kb()
    print(json.dumps({"status": report.status, "rows": report.stats.get("rows"), "base_kb": base, "peak_kb": peak,
                      "python_peak_kb": py_peak // 1024}))


def bench_pg(rows: int, repeat: int, folder: Path) -> None:
    from connectors.sql import stream_rows

    table = make_pg_table(rows)
    try:
        source = sql_source(folder, table)

        def stream():
            _cols, it, engine = stream_rows(source)
            n = sum(1 for _ in it)
            engine.dispose()
            return n

        stream_s, n = timed(stream, repeat)
        harvest_s, _ = timed(lambda: harvest_once(source, folder), repeat)
        print(f"{'postgresql':<11} {n:>8,} rows  read {n / stream_s:>9,.0f} rows/s   harvest {n / harvest_s:>9,.0f} rows/s")
    finally:
        drop_pg_table(table)
    print("peak memory harvesting a PostgreSQL table (each size in a fresh process):")
    for size in (rows, 3 * rows):
        table = make_pg_table(size)
        try:
            sub = Path(tempfile.mkdtemp(dir=folder))
            out = subprocess.run([sys.executable, __file__, "--memory-child", table, str(sub)],
                                 capture_output=True, text=True, check=True, cwd=REPO)
            m = json.loads(out.stdout.strip().splitlines()[-1])
            assert m["status"] == "ok" and m["rows"] == size, m
            print(f"  {size:>9,} rows: RSS peak {m['peak_kb'] / 1024:7.1f} MiB (baseline after imports "
                  f"{m['base_kb'] / 1024:6.1f} MiB); Python allocations peak {m['python_peak_kb'] / 1024:6.1f} MiB")
        finally:
            drop_pg_table(table)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--xlsx-rows", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--parts", default="csv,xlsx,postgresql",
                    help="which to measure, comma-separated (default all: csv,xlsx,postgresql)")
    ap.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; medians of {args.repeat} runs")
    with tempfile.TemporaryDirectory(prefix="placecat-bench-") as tmp:
        folder = Path(tmp)
        parts = set(args.parts.split(","))
        if "csv" in parts:
            csv_path = write_csv(folder / "directory.csv", HEADER, body(args.rows))
            bench_file("csv", csv_path, args.rows, args.repeat, folder)
        if "xlsx" in parts:
            xlsx_path = write_xlsx(folder / "directory.xlsx", HEADER, body(args.xlsx_rows), write_only=True)
            bench_file("xlsx", xlsx_path, args.xlsx_rows, args.repeat, folder)
        if "postgresql" in parts:
            bench_pg(args.rows, args.repeat, folder)


if __name__ == "__main__":
    main()
