"""How fast OpenActive items are parsed and mapped to ORUK staging rows.

Uses the real Everyone Active RPDE page (500 items: 250 sessions-with-series, 250 tombstones)
from ../shared/fixtures. One round = what the CPU does for one page in a nightly run, minus disk:
parse the page body, turn each item into its raw payload (as ``put_raw`` stores it), read the
payloads back and map them (``normalise_items``: series, schedules, locations, offers, activity
terms). Target: a 500-item page in under 0.2 s on one core.

    .venv/bin/python benchmarks/bench_openactive.py [--rounds 15]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from connectors.openactive import parse_modified  # noqa: E402
from connectors.openactive.activities import load_activity_list  # noqa: E402
from connectors.openactive.services import normalise_items  # noqa: E402
from connectors.staging import StagingRows  # noqa: E402

SHARED = Path(os.environ.get("PLACECAT_SHARED", REPO.parent / "shared")) / "fixtures" / "openactive"
PAGE = SHARED / "rpde-pages" / "everyoneactive-sessions-afterChangeNumber-2020-01-06.json"
AS_OF = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)


def one_round(body: bytes, activities) -> tuple[float, float, float, int, int]:
    c0 = time.process_time()
    t0 = time.perf_counter()
    page = json.loads(body)
    raw = []
    for item in page["items"]:
        parse_modified(item.get("modified"))
        if item.get("state") != "deleted":
            raw.append((f"{item.get('kind')}/{item['id']}", json.dumps(item, ensure_ascii=False, separators=(",", ":"))))
    t1 = time.perf_counter()
    rows = StagingRows("bench")
    normalise_items(((rid, json.loads(p)) for rid, p in raw), rows, activities, AS_OF)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, time.process_time() - c0, len(page["items"]), sum(len(r) for _, r in rows.tables())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    if not PAGE.exists():
        print(f"{PAGE}: not found; set PLACECAT_SHARED to the shared folder", file=sys.stderr)
        return 2
    body = PAGE.read_bytes()
    activities = load_activity_list(SHARED / "vocabularies" / "activity-list.jsonld")
    one_round(body, activities)  # warm-up (imports, caches)
    parse_s, map_s, total_s, cpu_s = [], [], [], []
    items = rows = 0
    for _ in range(args.rounds):
        p, m, c, items, rows = one_round(body, activities)
        cpu_s.append(c)
        parse_s.append(p)
        map_s.append(m)
        total_s.append(p + m)
    med = statistics.median(total_s)
    print(f"page: {PAGE.name} ({len(body) / 1024:.0f} KB, {items} items, {rows} staging rows out)")
    print(f"rounds: {args.rounds}   load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"parse (json + raw payloads): median {statistics.median(parse_s) * 1000:.1f} ms")
    print(f"map (normalise to ORUK):     median {statistics.median(map_s) * 1000:.1f} ms")
    print(f"total per 500-item page:     median {med * 1000:.1f} ms  (min {min(total_s) * 1000:.1f}, "
          f"max {max(total_s) * 1000:.1f})  target < 200 ms: {'met' if med < 0.2 else 'NOT met'}")
    cpu = statistics.median(cpu_s)
    print(f"CPU time per page (one core): median {cpu * 1000:.1f} ms  target < 200 ms: {'met' if cpu < 0.2 else 'NOT met'}"
          f"  (wall time above includes waiting for a busy machine)")
    print(f"throughput: {items / med:,.0f} items/s parsed and mapped (wall), {items / cpu:,.0f} items/s (CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
