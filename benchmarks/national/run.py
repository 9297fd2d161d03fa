"""The national nightly run, measured: one command.

    .venv/bin/python -m benchmarks.national.run --records 100000 --latency-ms 50 --workers 2

It starts the test-bed server (benchmarks/national/server.py) in its own process, writes the
sources file for its 200 feeds, renders the pages once into a cache (not timed: that is the
publishers' work, not ours), then runs `placecat run` twice as a subprocess: night 1 (everything
new) and night 2 (nothing changed upstream). For each night it prints the wall time and CPU time
of each stage, the total, the peak memory of the whole process tree (the run and its worker
processes, sampled from /proc every 0.2 s) during each stage, the record counts of the published
catalogue, and then the night 2 / night 1 ratio. It also prints the bed's true duplicate share
(from the generator) beside the share the matcher merged.
`--scales 100000,300000,1000000` runs several sizes and prints how each stage grows.

The nights run from a copy of placecat's code taken at the start (so edits made to the working
tree meanwhile neither change what is measured nor count as "the code changed" on night 2).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
print = __import__("functools").partial(print, flush=True)  # progress shows as it happens


# -- memory and CPU of a process tree --------------------------------------------------------------
TICK = os.sysconf("SC_CLK_TCK")


def session_usage(sid: int) -> tuple[int, dict[int, int]]:
    """Resident memory of every process in session `sid` (the run and all its workers), and the
    CPU ticks (user + system) each has used so far."""
    total, ticks = 0, {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[3]) != sid:  # field 6 of stat: session id
                continue
            ticks[int(entry.name)] = int(fields[11]) + int(fields[12])  # fields 14, 15: utime, stime
            with open(f"/proc/{entry.name}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    return total, ticks


class MemorySampler(threading.Thread):
    """Every 0.2 s: the tree's memory, and its CPU seconds so far (each process at its last sample,
    so a process that lives less than 0.2 s is missed; the whole run's CPU also comes from
    getrusage of the reaped run, see run_night)."""

    def __init__(self, sid: int, every: float = 0.2):
        super().__init__(daemon=True)
        self.sid, self.every, self.samples, self.stop = sid, every, [], threading.Event()
        self.cpu_ticks: dict[int, int] = {}

    def run(self) -> None:
        while not self.stop.is_set():
            rss, ticks = session_usage(self.sid)
            self.cpu_ticks.update(ticks)
            self.samples.append((time.time(), rss, sum(self.cpu_ticks.values()) / TICK))
            time.sleep(self.every)

    def peak(self, start: float = 0, end: float = float("inf")) -> int:
        return max((b for t, b, _ in self.samples if start <= t <= end), default=0)

    def cpu_between(self, start: float, end: float) -> float:
        before = [c for t, _, c in self.samples if t <= start]
        upto = [c for t, _, c in self.samples if t <= end]
        return (upto[-1] if upto else 0.0) - (before[-1] if before else 0.0)


# -- the bed ---------------------------------------------------------------------------------------
CODE_DIRS = ("connectors", "dedupe", "quality", "warehouse", "pipelines", "benchmarks")


def freeze_code(dest: Path) -> Path:
    """A copy of placecat's packages to run the nights from (one code version for the whole run)."""
    shutil.rmtree(dest, ignore_errors=True)
    for name in CODE_DIRS:
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def start_server(records: int, latency_ms: float, cache: Path, code: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([PY, "-m", "benchmarks.national.server", "--records", str(records),
                             "--latency-ms", str(latency_ms), "--cache", str(cache)],
                            cwd=code, stdout=subprocess.PIPE, text=True, start_new_session=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        raise SystemExit(f"the test-bed server did not start: {line}")
    return proc, line.split()[-1]


def _warm(args: tuple[str, list[str]]) -> int:
    base, urls = args
    for u in urls:
        with urllib.request.urlopen(base + u) as r:
            r.read()
    return len(urls)


def prerender(base: str, records: int, per_page: int = 500) -> float:
    """Ask for every page once so the server has them cached (untimed)."""
    from benchmarks.national import feeds as bed

    started = time.time()
    urls = []
    for f in bed.feeds(records):
        if f.kind == "oruk":
            urls += [f"/oruk/{f.id}/services?page={p}&per_page={per_page}" for p in range(1, -(-f.size // per_page) + 1)]
        else:
            after = None
            for start in range(0, f.size + 1, bed.RPDE_PAGE):
                urls.append(f"/oa/{f.id}/session-series" + (f"?afterTimestamp={after}&afterId={f.id}-{after - bed.BASE_MODIFIED:07d}" if after else ""))
                after = bed.BASE_MODIFIED + min(start + bed.RPDE_PAGE, f.size) - 1
    chunks = [urls[i::2] for i in range(2)]
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_warm, [(base, c) for c in chunks]))
    return time.time() - started


# -- one night -------------------------------------------------------------------------------------
def run_night(sources: Path, db: Path, workers: int, label: str, timeout: float, code: Path) -> dict:
    timings = db.parent / f"timings-{label.split(' (')[0].replace(' ', '-')}.json"
    timings.unlink(missing_ok=True)
    started = time.time()
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen([PY, "-m", "pipelines.cli", "run", "--sources", str(sources), "--db", str(db),
                             "--workers", str(workers), "--timings", str(timings)],
                            cwd=code, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    sampler = MemorySampler(proc.pid)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += f"\n(killed after {timeout:.0f} s)"
    ended = time.time()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    sampler.stop.set()
    sampler.join()
    doc = json.loads(timings.read_text()) if timings.exists() else {}
    stages = doc.get("stages", {})
    rows = [(name, e - s, sampler.cpu_between(s, e), sampler.peak(s, e))
            for name, (s, e) in sorted(stages.items(), key=lambda kv: kv[1][0])]
    # CPU of the reaped run and every descendant it reaped (worker processes included).
    cpu = (usage.ru_utime - usage_before.ru_utime) + (usage.ru_stime - usage_before.ru_stime)
    return {"label": label, "exit": proc.returncode, "total": ended - started, "cpu": cpu,
            "cpu_sampled": sampler.cpu_between(started, ended), "peak": sampler.peak(),
            "stages": rows, "summary": out, "stderr": err.strip().splitlines()[-3:],
            "build_skipped": doc.get("build_skipped"), "build_reason": doc.get("build_reason", "")}


def counts(db: Path) -> dict:
    if not db.exists():
        return {}
    with duckdb.connect(str(db), read_only=True) as con:
        q = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
        by_status = dict(con.execute("""SELECT status, count(*) FROM ops.source_status
                                        WHERE run_id = (SELECT run_id FROM ops.run ORDER BY started_at DESC LIMIT 1)
                                        GROUP BY 1""").fetchall())
        return {"raw records": q("SELECT count(*) FROM raw.record"),
                "staging services": q("SELECT count(*) FROM staging.service"),
                "golden services": q("SELECT count(*) FROM catalogue.service"),
                "source records in clusters": q("SELECT count(*) FROM catalogue.service_source"),
                "sources by status": by_status,
                "catalogue file MB": round(db.stat().st_size / 2**20)}


def print_night(n: dict, db: Path) -> None:
    mb = lambda b: f"{b / 2**20:,.0f} MB"  # noqa: E731
    print(f"\n== {n['label']}: exit {n['exit']}, total {n['total']:.1f} s wall, CPU {n['cpu']:.1f} s by getrusage "
          f"of the reaped tree / {n['cpu_sampled']:.1f} s sampled from /proc, peak memory {mb(n['peak'])}")
    print(f"   catalogue {'NOT rebuilt' if n['build_skipped'] else 'rebuilt'}: {n['build_reason']}")
    print(f"   {'stage':<44} {'wall s':>8} {'CPU s':>8} {'peak':>10}")
    for name, secs, cpu, peak in n["stages"]:
        print(f"   {name:<44} {secs:>8.1f} {cpu:>8.1f} {mb(peak):>10}")
    print(f"   {'TOTAL (process start to exit)':<44} {n['total']:>8.1f} {max(n['cpu'], n['cpu_sampled']):>8.1f} {mb(n['peak']):>10}")
    n["counts"] = counts(db)
    print("   counts: " + json.dumps(n["counts"]))
    tail = [line for line in n["summary"].splitlines() if line and not line.startswith(("council-", "active-"))]
    for line in tail[-6:]:
        print("   " + line)
    if n["exit"] != 0:
        print("   stderr: " + " | ".join(n["stderr"]))


def print_overlap(records: int, c: dict) -> None:
    """The bed's true duplicate share (from the generator) and the share the matcher merged."""
    from benchmarks.national import feeds as bed

    n, copies = bed.duplicate_share(records)
    print(f"   duplicates in the bed: {copies:,} of {n:,} records are copies of another listed record "
          f"= {copies / n:.1%} (nominal: {bed.NEIGHBOUR_SHARE}% of council records after the first, "
          f"{bed.OA_SHARED_SHARE}% of OpenActive items)")
    in_clusters, golden = c.get("source records in clusters"), c.get("golden services")
    if in_clusters:
        print(f"   merged by the matcher: {in_clusters - golden:,} of {in_clusters:,} = {(in_clusters - golden) / in_clusters:.1%}")


def measure(records: int, latency_ms: float, workers: int, workdir: Path, timeout: float) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    code = freeze_code(workdir / "code")
    server, base = start_server(records, latency_ms, workdir / "page-cache", code)
    try:
        sources = workdir / "sources.yaml"
        with urllib.request.urlopen(base + "/sources.yaml") as r:
            sources.write_bytes(r.read())
        print(f"\n### {records:,} records, 200 feeds at {base}, {latency_ms:g} ms per request, {workers} workers")
        print(f"   pages rendered and cached by the server in {prerender(base, records):.0f} s (not timed)")
        db = workdir / "out" / "placecat.duckdb"
        db.parent.mkdir(exist_ok=True)
        night1 = run_night(sources, db, workers, "night 1 (all new)", timeout, code)
        print_night(night1, db)
        print_overlap(records, night1["counts"])
        night2 = run_night(sources, db, workers, "night 2 (no upstream change)", timeout, code)
        print_night(night2, db)
        ratio = night2["total"] / night1["total"] if night1["total"] else 0
        cpu1, cpu2 = (max(n["cpu"], n["cpu_sampled"]) for n in (night1, night2))
        cpu_ratio = cpu2 / cpu1 if cpu1 else 0
        print(f"\n   night 2 / night 1 = {ratio:.1%} of the wall time, {cpu_ratio:.1%} of the CPU time")
        with urllib.request.urlopen(base + "/stats") as r:
            print("   server requests (both nights and the warm-up): " + r.read().decode())
        return {"records": records, "night1": night1, "night2": night2, "counts": night1["counts"]}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--scales", help="comma-separated record counts, e.g. 100000,300000,1000000")
    p.add_argument("--latency-ms", type=float, default=50)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--workdir", help="keep the files here (default: a temporary folder, removed)")
    p.add_argument("--timeout", type=float, default=3600, help="give up on a night after this many seconds")
    args = p.parse_args(argv)
    scales = [int(s) for s in args.scales.split(",")] if args.scales else [args.records]
    root = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="placecat-national-"))
    with open("/proc/loadavg") as f:
        print(f"machine: {os.cpu_count()} cores, load average {f.read().split()[:3]} at start")
    results = [measure(n, args.latency_ms, args.workers, root / f"n{n}", args.timeout) for n in scales]
    if len(results) > 1:
        print("\n### how each stage grows (night 1 wall seconds)")
        names = [name for name, *_ in results[0]["night1"]["stages"]]
        print(f"   {'stage':<44}" + "".join(f"{r['records']:>12,}" for r in results))
        for name in names + ["TOTAL"]:
            cells = []
            for r in results:
                if name == "TOTAL":
                    cells.append(r["night1"]["total"])
                else:
                    cells.append(next((s for n, s, *_ in r["night1"]["stages"] if n == name), float("nan")))
            print(f"   {name:<44}" + "".join(f"{c:>12.1f}" for c in cells))
    if not args.workdir:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if all(r["night1"]["exit"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
