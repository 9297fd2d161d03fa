"""ORUK connector benchmark: normalisation throughput, and harvesting a 20,000-service v3 feed.

    .venv/bin/python benchmarks/bench_oruk.py [--services 20000] [--per-page 100] [--repeats 3]

1. Normalisation on one core: v3 and v1 service objects (generated, as in the tests) from raw JSON
   text through ``connectors.oruk.normalise`` into staging rows. Target: >= 5,000 services/s.
2. Harvest of a generated v3 feed from the loopback server (``tests/support/faultyserver.py``) at
   per_page 100 through ``harvest_source`` (HTTP, paging guards, page hashes, raw snapshot in DuckDB):
   list only (items carry their nested objects), and with a ``/services/{id}`` detail fetch per
   service. Each is compared with the raw fetch time of the same URLs by a bare ``requests``
   session at the same concurrency (no parsing, no storage): when the two are close, the harvest
   is limited by the server, not by placecat.

Prints medians. The loopback server is Python's ThreadingHTTPServer, so "the server" here is slow
on purpose-free hardware; what matters is the ratio harvest / raw fetch.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import requests  # noqa: E402
import yaml  # noqa: E402

from connectors.base import harvest_source  # noqa: E402
from connectors.config import load_sources  # noqa: E402
from connectors.oruk import normalise  # noqa: E402
from connectors.staging import StagingRows  # noqa: E402
from tests.support.faultyserver import FaultyServer  # noqa: E402
from tests.support.orukfeeds import OrukFeed, gen_uuid, generated_v3_services, v1_detail  # noqa: E402


def median_of(fn, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


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


def bench_normalise(n: int, repeats: int) -> None:
    for label, rtype, services in (("v3", "service", generated_v3_services(n, seed=5)),
                                   ("v1", "service_v1", v1_services(n))):
        raw = [(str(s["id"]), rtype, json.dumps(s, ensure_ascii=False), "bench") for s in services]
        rows_holder = {}

        def run():
            rows = StagingRows("bench")
            normalise(None, raw, rows)
            rows_holder["rows"] = rows

        cpu_times = []

        def run_timed():
            started = time.process_time()
            run()
            cpu_times.append(time.process_time() - started)

        med, times = median_of(run_timed, repeats)
        cpu = statistics.median(cpu_times)
        rows = rows_holder["rows"]
        nrows = sum(len(r) for _, r in rows.tables())
        print(f"normalise {label}: {n} services -> {nrows} staging rows; median wall {med:.2f}s "
              f"= {n / med:,.0f} services/s; median CPU {cpu:.2f}s = {n / cpu:,.0f} services/s on one core "
              f"(wall runs: {', '.join(f'{t:.2f}' for t in times)})")


def raw_fetch(urls: list[str], workers: int) -> None:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=workers * 2)
    session.mount("http://", adapter)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for resp in pool.map(session.get, urls):
            resp.content  # noqa: B018 - read the body, nothing more
    session.close()


def bench_harvest(n: int, per_page: int, repeats: int, workers: int, details: bool) -> None:
    services = generated_v3_services(n, seed=9)
    feed = OrukFeed(services, strip_nested=details, etag=False)
    with FaultyServer() as srv, tempfile.TemporaryDirectory() as tmp:
        feed.install(srv)
        doc = {"sources": [{"id": "bench", "kind": "oruk", "url": srv.url, "publisher": "Bench",
                            "per_page": per_page, "concurrency": workers,
                            "detail_fetch": bool(details)}]}
        path = Path(tmp) / "sources.yaml"
        path.write_text(yaml.safe_dump(doc))
        source = load_sources(path).sources[0]
        pages = -(-n // per_page)
        page_urls = [f"{srv.url}/services?page={p}&per_page={per_page}" for p in range(1, pages + 1)]
        urls = page_urls + ([f"{srv.url}/services/{s['id']}" for s in services] if details else [])
        counter = {"i": 0}

        def harvest():
            counter["i"] += 1
            # A fresh state folder each time: a full harvest, not an "unchanged" one.
            rep = harvest_source(source, Path(tmp) / f"state{counter['i']}", f"bench{counter['i']}")
            assert rep.status == "ok" and rep.records_in == n, rep.message

        med_raw, raw_times = median_of(lambda: raw_fetch(urls, workers), repeats)
        med_h, h_times = median_of(harvest, repeats)
        what = "with detail fetches" if details else "list only"
        print(f"harvest v3 {what}: {n} services, {pages} pages of {per_page}, {len(urls)} requests, "
              f"concurrency {workers}")
        print(f"  placecat harvest_source: median {med_h:.2f}s ({n / med_h:,.0f} services/s) "
              f"runs: {', '.join(f'{t:.2f}' for t in h_times)}")
        print(f"  raw fetch of the same URLs: median {med_raw:.2f}s "
              f"runs: {', '.join(f'{t:.2f}' for t in raw_times)}")
        print(f"  harvest / raw fetch = {med_h / med_raw:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=20000)
    ap.add_argument("--per-page", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--normalise-services", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--skip-details", action="store_true", help="skip the (slow) detail-fetch harvest")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    bench_normalise(args.normalise_services, args.repeats)
    bench_harvest(args.services, args.per_page, args.repeats, args.concurrency, details=False)
    if not args.skip_details:
        bench_harvest(args.services, args.per_page, max(1, args.repeats - 1), args.concurrency, details=True)
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
