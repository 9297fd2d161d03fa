"""Load test of `placecat serve` on loopback over a 100,000-service catalogue.

    .venv/bin/python benchmarks/bench_serve.py [--services 100000] [--seconds 15] [--connections 32]
                                               [--repeat 3] [--keep-db FILE] [--generator wrk|python]

The catalogue is generated as in ``bench_export.py``. ``placecat serve`` runs in its own process
(one uvicorn worker); the load generator is ``wrk`` (apt package ``wrk``) when installed, else a
Python one (threads with keep-alive connections). Both are bounded: each run stops after
``--seconds``. Two scenarios, each over a shuffled list of real URLs:

- ``/services/{id}``: random golden service ids (fully nested documents);
- ``/services?page=N&per_page=50``: random pages.

Prints requests/s and latency p50/p95/p99 per run and their medians. Targets for
``/services/{id}``: >= 500 requests/s and p95 < 50 ms on 2 cores.
"""
from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb  # noqa: E402

from bench_export import generate_catalogue  # noqa: E402

WRK_SCRIPT = r"""
local paths = {}
local f = assert(io.open(os.getenv("BENCH_PATHS"), "r"))
for line in f:lines() do paths[#paths + 1] = line end
f:close()
local n = 0
init = function(args)
  n = math.random(#paths)
end
request = function()
  n = n % #paths + 1
  return wrk.format("GET", paths[n])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %.1f %.1f %.1f %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux), to see the server's cost per request under contention."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "serve", "--db", str(db), "--port", str(port),
                             "--reload-interval", "0"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 900
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("placecat serve exited: " + proc.stderr.read().decode()[-2000:])
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("placecat serve did not start within 15 minutes")


def run_wrk(url: str, paths_file: Path, seconds: int, connections: int) -> dict:
    script = paths_file.with_suffix(".lua")
    script.write_text(WRK_SCRIPT)
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", str(script), url],
                         capture_output=True, text=True, env={**os.environ, "BENCH_PATHS": str(paths_file)},
                         timeout=seconds + 60)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT"))
    reqs, dur_us, p50, p95, p99, errors = line.split()[1:]
    return {"rps": int(reqs) / (int(dur_us) / 1e6), "p50": float(p50) / 1000, "p95": float(p95) / 1000,
            "p99": float(p99) / 1000, "errors": int(errors), "requests": int(reqs)}


def run_python(url: str, paths: list[str], seconds: int, connections: int) -> dict:
    host, port = url.split("//")[1].split(":")
    stop_at = time.perf_counter() + seconds
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker(seed: int) -> None:
        rnd = random.Random(seed)
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        mine = []
        while time.perf_counter() < stop_at:
            t = time.perf_counter()
            try:
                conn.request("GET", rnd.choice(paths))
                res = conn.getresponse()
                res.read()
                if res.status != 200:
                    errors[0] += 1
            except OSError:
                errors[0] += 1
                conn = http.client.HTTPConnection(host, int(port), timeout=5)
                continue
            mine.append(time.perf_counter() - t)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000 if latencies else float("nan")

    return {"rps": len(latencies) / elapsed, "p50": pct(50), "p95": pct(95), "p99": pct(99), "errors": errors[0],
            "requests": len(latencies)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=100_000)
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep-db", help="write the generated catalogue here (and reuse it if it exists)")
    ap.add_argument("--generator", choices=("wrk", "python"), default="wrk" if shutil.which("wrk") else "python")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    proc = None
    try:
        db = Path(args.keep_db) if args.keep_db else work / "placecat.duckdb"
        if not db.exists():
            generate_catalogue(db, args.services)
        with duckdb.connect(str(db), read_only=True) as con:
            ids = [r[0] for r in con.execute("SELECT id FROM catalogue.service").fetchall()]
        pages = -(-len(ids) // 50)
        rnd = random.Random(7)
        scenarios = {
            "/services/{id}": [f"/services/{i}" for i in rnd.sample(ids, min(len(ids), 20_000))],
            "/services?page=N&per_page=50": [f"/services?page={rnd.randint(1, pages)}&per_page=50" for _ in range(5_000)],
        }
        port = free_port()
        t = time.perf_counter()
        proc = start_server(db, port)
        url = f"http://127.0.0.1:{port}"
        print(f"placecat serve: {len(ids):,} services loaded in {time.perf_counter() - t:.1f}s; "
              f"load generator: {args.generator}, {args.connections} connections, {args.seconds}s per run")
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        for name, paths in scenarios.items():
            paths_file = work / f"paths-{len(name)}.txt"
            paths_file.write_text("\n".join(paths) + "\n")
            runs = []
            for n in range(args.repeat):
                cpu0 = cpu_seconds(proc.pid)
                res = (run_wrk(url, paths_file, args.seconds, args.connections) if args.generator == "wrk"
                       else run_python(url, paths, args.seconds, args.connections))
                # Server CPU per request: what one quiet core could serve is about 1000 / cpu_ms.
                res["cpu_ms"] = (cpu_seconds(proc.pid) - cpu0) * 1000 / max(1, res["requests"])
                runs.append(res)
                print(f"  {name:<32} run {n + 1}: {res['rps']:7.0f} req/s  p50 {res['p50']:6.1f} ms  "
                      f"p95 {res['p95']:6.1f} ms  p99 {res['p99']:6.1f} ms  errors {res['errors']}  "
                      f"server CPU {res['cpu_ms']:.2f} ms/request")
            med = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p95", "p99", "cpu_ms")}
            print(f"{name:<34} median: {med['rps']:7.0f} req/s  p50 {med['p50']:6.1f} ms  p95 {med['p95']:6.1f} ms  "
                  f"p99 {med['p99']:6.1f} ms  server CPU {med['cpu_ms']:.2f} ms/request "
                  f"(~{1000 / med['cpu_ms']:.0f} req/s per quiet core)")
        print("targets for /services/{id}: >= 500 req/s and p95 < 50 ms on 2 cores")
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
