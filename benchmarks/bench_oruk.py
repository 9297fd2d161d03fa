"""ORUK connector benchmark: normalisation throughput, and harvesting a 20,000-service v3 feed.

    .venv/bin/python benchmarks/bench_oruk.py [--services 20000] [--per-page 100] [--repeats 3]
        [--latency-ms 0 50] [--detail-services N] [--skip-details] [--skip-normalise] [--only-normalise]

1. Normalisation on one core: v3 and v1 service objects (generated, as in the tests) from raw JSON
   text through ``connectors.oruk.normalise`` into staging rows. Target: >= 5,000 services/s.
   The generated services share a few descriptions, so their mojibake repair and plain text are
   cached after the first; the real Bristol v1 page (50 services from the shared fixtures, stored
   as a harvest stores them) is timed too, with those caches emptied before each run: there every
   long HTML description with mojibake is new, and ftfy's repair of it is most of the cost.
2. Harvest of a generated v3 feed from the loopback server (``tests/support/serve_oruk.py``, in its
   own process; ``--latency-ms`` adds a per-request delay like a server across a network) at
   per_page 100 through ``harvest_source`` (HTTP, paging guards, page hashes, raw snapshot in DuckDB):
   list only (items carry their nested objects), and with a ``/services/{id}`` detail fetch per
   service. Each is compared with a bare ``requests`` fetch of the same URLs at the same
   concurrency (no parsing, no storage): when the two are close, the harvest is limited by the
   server, not by placecat. Each harvest runs in a fresh process, whose peak RSS (VmHWM) is printed.

Prints medians, wall and CPU time.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("PLACECAT_SHARED", REPO.parent / "shared")) / "fixtures"
sys.path.insert(0, str(REPO))

import requests  # noqa: E402
import yaml  # noqa: E402

from connectors.config import load_sources  # noqa: E402
from connectors.oruk import normalise  # noqa: E402
from connectors.oruk.page_text import parse_page_body  # noqa: E402
from connectors.refresh import harvest_source  # noqa: E402
from connectors.staging import StagingRows  # noqa: E402
from connectors.text import clear_caches  # noqa: E402
from tests.support.orukfeeds import gen_uuid, generated_v3_services, v1_detail  # noqa: E402


def v1_services(n: int) -> list[dict]:
    out = []
    for i in range(n):
        item = {"id": gen_uuid("bench-v1", i), "name": f"Lunch club {i}",
                "description": "<p>Hot meals &amp; company. Â£3 a visit.</p>", "url": "https://example.org",
                "email": "hello@example.org", "status": "active", "attending_type": "venue",
                "attending_access": "drop-in", "deliverable_type": "Information", "assured_date": "2026-10-01",
                "organization": {"id": gen_uuid("bench-org", i // 5), "name": f"Trust {i // 5}",
                                 "description": "A trust", "url": "https://example.org"},
                "pc_metadata": {"assured_by": "someone@example.org"}}
        out.append(v1_detail(item, i))
    return out


def bristol_records() -> list[tuple] | None:
    """The real Bristol v1 page's services as a harvest stores them (the text as served, else
    re-serialised), or None when the shared fixtures are not there."""
    page = FIXTURES / "oruk" / "v1" / "bristol_openplace_v1_services_page1.json"
    if not page.exists():
        return None
    doc, texts = parse_page_body(page.read_bytes(), str(page))
    items = doc["content"]
    return [(str(item["id"]), "service_v1",
             text if text is not None else json.dumps(item, ensure_ascii=False, separators=(",", ":")), "bench")
            for item, text in zip(items, texts or [None] * len(items))]


def time_normalise(label: str, raw: list[tuple], repeats: int, first_sight: bool = False) -> None:
    """Median wall and CPU time of normalising ``raw`` into fresh staging rows. ``first_sight``:
    the text repair caches are emptied before each run."""
    walls, cpus = [], []
    for _ in range(repeats):
        if first_sight:
            clear_caches()
        rows = StagingRows("bench")
        wall, cpu = time.perf_counter(), time.process_time()
        normalise(None, raw, rows)
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    n, med, cpu = len(raw), statistics.median(walls), statistics.median(cpus)
    nrows = sum(len(r) for _, r in rows.tables())
    print(f"normalise {label}: {n} services -> {nrows} staging rows; median wall {med:.3f}s "
          f"= {n / med:,.0f} services/s; median CPU {cpu:.3f}s = {n / cpu:,.0f} services/s on one core "
          f"(wall runs: {', '.join(f'{t:.3f}' for t in walls)})")


def bench_normalise(n: int, repeats: int) -> None:
    for label, rtype, services in (("v3", "service", generated_v3_services(n, seed=5)),
                                   ("v1", "service_v1", v1_services(n))):
        raw = [(str(s["id"]), rtype, json.dumps(s, ensure_ascii=False), "bench") for s in services]
        time_normalise(label, raw, repeats)
    bristol = bristol_records()
    if bristol is None:
        print(f"{FIXTURES}: not found (set PLACECAT_SHARED); the real Bristol v1 page is not timed")
    else:
        time_normalise("v1 real Bristol page, texts first met", bristol, repeats, first_sight=True)


def peak_rss_mb() -> tuple[float, float]:
    """(VmHWM, VmRSS) of this process in MB (ru_maxrss would include what exec inherited)."""
    got = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmHWM:", "VmRSS:")):
            key, value = line.split(":", 1)
            got[key] = int(value.split()[0]) / 1024
    return got.get("VmHWM", 0.0), got.get("VmRSS", 0.0)


def child_fetch(url: str, n: int, per_page: int, workers: int, details: bool) -> dict:
    """The same URLs a harvest requests, fetched by a bare requests session: no parsing, no storage."""
    pages = -(-n // per_page)
    urls = [f"{url}/services?page={p}&per_page={per_page}" for p in range(1, pages + 1)]
    if details:
        urls += [f"{url}/services/{gen_uuid(9, 'service', i)}" for i in range(n)]
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=workers * 2)
    session.mount("http://", adapter)
    wall, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for resp in pool.map(session.get, urls):
            resp.content  # noqa: B018 - read the body, nothing more
    out = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "requests": len(urls)}
    session.close()
    return out


def child_harvest(url: str, n: int, per_page: int, workers: int, details: bool) -> dict:
    """One full harvest (a fresh state folder) of the feed at ``url``, with its wall/CPU time and
    this process's peak memory."""
    with tempfile.TemporaryDirectory() as tmp:
        doc = {"sources": [{"id": "bench", "kind": "oruk", "url": url, "publisher": "Bench",
                            "per_page": per_page, "concurrency": workers, "detail_fetch": bool(details)}]}
        path = Path(tmp) / "sources.yaml"
        path.write_text(yaml.safe_dump(doc))
        source = load_sources(path).sources[0]
        base_hwm, base_rss = peak_rss_mb()
        wall, cpu = time.perf_counter(), time.process_time()
        rep = harvest_source(source, Path(tmp) / "state", "bench")
        out = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
        out["peak_mb"], _ = peak_rss_mb()
        out["base_rss_mb"] = base_rss
        if rep.status != "ok" or rep.records_in != n:
            raise SystemExit(f"harvest went wrong: {rep.status} {rep.records_in} {rep.message}")
        return out


def run_child(*args: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _runs(runs: list[dict]) -> str:
    return ", ".join(f"{r['wall']:.2f}" for r in runs)


def bench_harvest(n: int, per_page: int, repeats: int, workers: int, details: bool, latency_ms: float) -> None:
    """Each harvest and each bare fetch runs in a fresh process (so peak memory is its own); the
    feed server runs in a third process, as a real server would be elsewhere."""
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.support.serve_oruk", "--services", str(n), "--seed", "9",
         "--latency-ms", str(latency_ms)] + (["--strip-nested"] if details else []),
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()
        common = (url, str(n), str(per_page), str(workers), "1" if details else "0")
        fetches, harvests = [], []
        for _ in range(repeats):  # interleaved, so both see the same background load
            fetches.append(run_child("fetch", *common))
            harvests.append(run_child("harvest", *common))
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    med = lambda runs, key: statistics.median(r[key] for r in runs)  # noqa: E731
    what = "with detail fetches" if details else "list only"
    print(f"harvest v3 {what}, server latency {latency_ms:g} ms: {n} services, {-(-n // per_page)} pages of "
          f"{per_page}, {fetches[0]['requests']} requests, concurrency {workers}")
    print(f"  placecat harvest_source: median wall {med(harvests, 'wall'):.2f}s "
          f"({n / med(harvests, 'wall'):,.0f} services/s), CPU {med(harvests, 'cpu'):.2f}s, "
          f"peak RSS {med(harvests, 'peak_mb'):.0f} MB (at start {med(harvests, 'base_rss_mb'):.0f} MB); "
          f"runs: {_runs(harvests)}")
    print(f"  bare fetch of the same URLs: median wall {med(fetches, 'wall'):.2f}s, CPU {med(fetches, 'cpu'):.2f}s; "
          f"runs: {_runs(fetches)}")
    print(f"  harvest / bare fetch = {med(harvests, 'wall') / med(fetches, 'wall'):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=20000)
    ap.add_argument("--per-page", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--normalise-services", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--skip-details", action="store_true", help="skip the (slow) detail-fetch harvest")
    ap.add_argument("--skip-normalise", action="store_true")
    ap.add_argument("--only-normalise", action="store_true", help="run the normalisation benchmark only (no harvests)")
    ap.add_argument("--latency-ms", type=float, nargs="*", default=[0.0],
                    help="server latency per request; one harvest benchmark per value (e.g. 0 50)")
    ap.add_argument("--detail-services", type=int, default=None,
                    help="feed size for the detail-fetch harvest (default: --services)")
    ap.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, url, n, per_page, workers, details = args.child
        fn = child_fetch if kind == "fetch" else child_harvest
        print(json.dumps(fn(url, int(n), int(per_page), int(workers), details == "1")))
        return
    print(f"machine: {os.cpu_count()} cores, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if not args.skip_normalise:
        bench_normalise(args.normalise_services, args.repeats)
    for latency in ([] if args.only_normalise else args.latency_ms):
        bench_harvest(args.services, args.per_page, args.repeats, args.concurrency, False, latency)
        if not args.skip_details:
            bench_harvest(args.detail_services or args.services, args.per_page, max(1, args.repeats - 1),
                          args.concurrency, True, latency)
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
