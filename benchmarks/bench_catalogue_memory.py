"""Where the catalogue stage's memory goes: each step of ``finish_catalogue`` on a real catalogue.

    .venv/bin/python -m benchmarks.bench_catalogue_memory --db WORKDIR/n100000/out/placecat.duckdb
        [--tracemalloc] [--memory-limit 2GB] [--steps sanitise,scrub,gx]

``--db`` is a catalogue the national bench published (keep it with ``benchmarks.national.run
--workdir DIR``). The file is copied (to ``--copy-dir``, default beside it) so the bench's own
file is never touched; on the copy the golden records are rebuilt from ``work.service_cluster``
and ``staging.*`` (so the catalogue is as the build leaves it, before sanitising and scrubbing),
then each step of ``quality.stage.finish_catalogue`` runs in order, as the nightly job runs them.

For each step it prints wall and CPU seconds and three memory figures, sampled every 50 ms by a
thread while the step runs:

- ``RSS``: the process's resident memory at the step's start and its peak during the step;
- ``DuckDB``: the most DuckDB's buffer manager held during the step (``duckdb_memory()``, read
  on a second connection to the same database, so it is seen while a query runs);
- ``Python``: with ``--tracemalloc``, the most memory Python code had allocated during the step
  beyond what it held when the step began (tracemalloc makes Python-heavy steps about twice as slow; its figure is the Python
  heap, not counting what DuckDB or pandas' C code allocate).

The connection is opened as the nightly job opens its build (``warehouse.build.connect_build``),
so the DuckDB settings it applies (memory limit, temporary directory) are the ones measured;
``--memory-limit`` overrides the limit for an experiment.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dedupe.golden import build_golden_records  # noqa: E402
from quality import expectations as gxs  # noqa: E402
from quality.health import record_source_health  # noqa: E402
from quality.html import sanitise_catalogue, write_plain_text  # noqa: E402
from quality.personal_data import detect_in_staging, record_residue, scrub_catalogue  # noqa: E402
from quality.richness import score_catalogue  # noqa: E402
from warehouse.build import connect_build  # noqa: E402

RUN = "bench-catalogue-memory"
PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 2**20

# (name, what it runs) in finish_catalogue's order; "golden" (dedupe) rebuilds the catalogue first.
STEPS = (
    ("golden", lambda con: build_golden_records(con)),
    ("sanitise", lambda con: sanitise_catalogue(con)),
    ("detect", lambda con: detect_in_staging(con, RUN)),
    ("scrub", lambda con: scrub_catalogue(con, RUN)),
    ("plain_text", lambda con: write_plain_text(con)),
    ("residue", lambda con: record_residue(con, RUN)),
    ("richness", lambda con: score_catalogue(con, RUN)),
    ("gx", lambda con: gxs.store_validation(con, RUN, gxs.validate_catalogue(con, RUN))),
    ("scorecard", lambda con: record_source_health(con, RUN)),
)


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def duckdb_bytes(probe: duckdb.DuckDBPyConnection) -> int:
    return probe.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0] or 0


class Sampler(threading.Thread):
    """Peak RSS, DuckDB buffer memory and traced Python memory while a step runs."""

    def __init__(self, probe: duckdb.DuckDBPyConnection, every: float = 0.05):
        super().__init__(daemon=True)
        self.probe, self.every, self.done = probe, every, threading.Event()
        self.rss = self.duck = 0

    def run(self) -> None:
        while not self.done.is_set():
            self.rss = max(self.rss, rss())
            self.duck = max(self.duck, duckdb_bytes(self.probe))
            time.sleep(self.every)


def measure(con: duckdb.DuckDBPyConnection, probe: duckdb.DuckDBPyConnection, name: str, step) -> dict:
    start_rss = rss()
    traced_before = 0
    if tracemalloc.is_tracing():
        tracemalloc.reset_peak()
        traced_before = tracemalloc.get_traced_memory()[0]
    sampler = Sampler(probe)
    sampler.start()
    wall, cpu = time.perf_counter(), time.process_time()
    result = step(con)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    sampler.done.set()
    sampler.join()
    peak_rss = max(sampler.rss, rss())
    # What the step added at its height, not what earlier steps (and imports) left allocated.
    py_peak = tracemalloc.get_traced_memory()[1] - traced_before if tracemalloc.is_tracing() else None
    return {"step": name, "wall": wall, "cpu": cpu, "rss_start": start_rss, "rss_peak": peak_rss,
            "rss_end": rss(), "duckdb_peak": max(sampler.duck, duckdb_bytes(probe)), "python_peak": py_peak,
            "result": result}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", required=True, help="a catalogue published by the national bench")
    p.add_argument("--copy-dir", help="where to put the working copy (default: beside --db)")
    p.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations (slower)")
    p.add_argument("--memory-limit", help="DuckDB memory_limit for this run, e.g. 2GB (default: what the build sets)")
    p.add_argument("--steps", help="comma-separated steps to measure (default: all; earlier ones still run)")
    args = p.parse_args(argv)
    src = Path(args.db)
    if not src.exists():
        print(f"bench_catalogue_memory: {src}: no such catalogue", file=sys.stderr)
        return 2
    copy = Path(args.copy_dir or src.parent) / f"{src.stem}.bench-memory.duckdb"
    copy.unlink(missing_ok=True)
    shutil.copyfile(src, copy)
    wanted = set(args.steps.split(",")) if args.steps else {n for n, _ in STEPS}
    unknown = wanted - {n for n, _ in STEPS}
    if unknown:
        print(f"bench_catalogue_memory: unknown steps {sorted(unknown)}; choose from {[n for n, _ in STEPS]}", file=sys.stderr)
        return 2
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    try:
        con = connect_build(copy)
        if args.memory_limit:
            con.execute(f"SET memory_limit = '{args.memory_limit}'")
        probe = con.cursor()
        settings = con.execute("SELECT current_setting('memory_limit'), current_setting('temp_directory'), "
                               "current_setting('threads')").fetchone()
        services = con.execute("SELECT count(*) FROM staging.service").fetchone()[0]
        print(f"{src} ({src.stat().st_size / MB:,.0f} MB): {services:,} staging services; DuckDB memory_limit "
              f"{settings[0]}, temp {settings[1]}, {settings[2]} threads; load average {load} at start")
        # GX's import and context are the same size at any scale: measured apart from its validation.
        before = rss()
        gxs.gx_context()
        print(f"importing GX and making its context: +{(rss() - before) / MB:,.0f} MB RSS")
        if args.tracemalloc:
            tracemalloc.start()
        print(f"{'step':<12}{'wall s':>8}{'CPU s':>8}{'RSS start':>11}{'RSS peak':>10}{'+RSS':>8}{'DuckDB':>9}"
              f"{'Python':>9}   result")
        rows = []
        for name, step in STEPS:
            if name not in wanted:
                step(con)
                continue
            r = measure(con, probe, name, step)
            rows.append(r)
            py = f"{r['python_peak'] / MB:>9,.0f}" if r["python_peak"] is not None else f"{'-':>9}"
            shown = r["result"] if not isinstance(r["result"], dict) else {k: v for k, v in r["result"].items() if k != "timings"}
            print(f"{name:<12}{r['wall']:>8.1f}{r['cpu']:>8.1f}{r['rss_start'] / MB:>11,.0f}{r['rss_peak'] / MB:>10,.0f}"
                  f"{(r['rss_peak'] - r['rss_start']) / MB:>8,.0f}{r['duckdb_peak'] / MB:>9,.0f}{py}   {str(shown)[:70]}")
        with open("/proc/loadavg") as f:
            load = f.read().split()[:3]
        top = max(rows, key=lambda r: r["rss_peak"])
        print(f"peak RSS {top['rss_peak'] / MB:,.0f} MB in {top['step']}; total {sum(r['wall'] for r in rows):.1f} s wall, "
              f"{sum(r['cpu'] for r in rows):.1f} s CPU; load average {load} at end")
        probe.close()
        con.close()
    finally:
        for leftover in (copy, copy.with_name(copy.name + ".wal")):
            leftover.unlink(missing_ok=True)
        shutil.rmtree(copy.with_name(copy.name + ".tmp"), ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
