"""Benchmark: the quality stage on N staging services (default 100,000), with peak memory.

    .venv/bin/python benchmarks/bench_quality.py [--services 100000] [--repeat 3] [--no-gx]

The data is made by ``quality.synthetic.make_staging`` (one service with organisation, location,
address, phone, schedule, contact and taxonomy term each), then made messy on purpose: 1% of
services have no name (quarantined), 5% an invalid email, 3% a personal email, 3% a mobile
number in an HTML description, 2% mojibake, 2% a bad postcode. The catalogue is built untimed
(one golden record per service) so that the timed part is the quality stage only:

- staging: SQL rules + quarantine + flags (``rules``), then the staging GX suite (``gx``);
- catalogue: sanitising, personal-data detection and scrubbing, plain text, richness/freshness,
  the catalogue GX suite, the scorecard.

Prints the median of each part over the repeats, the total, and the process's peak RSS.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dedupe.golden import build_golden_records  # noqa: E402
from quality import expectations as gxs  # noqa: E402
from quality.health import record_source_health  # noqa: E402
from quality.html import sanitise_catalogue, write_plain_text  # noqa: E402
from quality.personal_data import detect_in_staging, record_residue, scrub_catalogue  # noqa: E402
from quality.quarantine import flag_warnings, quarantine_blocking  # noqa: E402
from quality.richness import score_catalogue  # noqa: E402
from quality.rules import apply_rules  # noqa: E402
from quality.synthetic import make_staging  # noqa: E402

RUN = "run-1"


def make_messy(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TEMP TABLE n AS SELECT id, row_number() OVER (ORDER BY id) AS k FROM staging.service")
    upd = lambda sql, mod: con.execute(f"UPDATE staging.service s SET {sql} FROM n WHERE n.id = s.id AND {mod}")  # noqa: E731
    upd("name = NULL", "n.k % 100 = 0")
    upd("email = 'not-an-email'", "n.k % 20 = 1")
    upd("email = 'someone' || n.k || '@hotmail.com'", "n.k % 33 = 2")
    upd("description = description || '<p>Call Sam on 07700 900' || lpad(CAST(n.k % 1000 AS VARCHAR), 3, '0') || "
        "' <script>alert(1)</script></p>'", "n.k % 33 = 3")
    upd("description = '<p>Â£5 a session, itâ€™s friendly</p>'", "n.k % 50 = 4")
    con.execute("UPDATE staging.address SET postal_code = 'LS99' WHERE hash(id) % 50 = 0")


def build_template(path: Path, services: int) -> float:
    t = time.perf_counter()
    with duckdb.connect(str(path)) as con:
        make_staging(con, services=services, sources=("src-a",))
        make_messy(con)
    return time.perf_counter() - t


def build_catalogue_untimed(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS work")
    con.execute(f"""CREATE OR REPLACE TABLE work.service_cluster AS
        SELECT s.id AS staging_id, s.source_id, s.source_record_id, s.id AS cluster_key, 1.0::DOUBLE AS match_score,
               '{{"rule": "founding record"}}' AS match_reason
        FROM staging.service s WHERE NOT EXISTS (SELECT 1 FROM quality.quarantine q WHERE q.run_id = '{RUN}'
             AND q.source_id = s.source_id AND q.record_id = s.source_record_id)""")
    build_golden_records(con)


def timed(fn, *args):
    """Wall time (returned) and CPU time of this process, all threads (kept in CPU by caller)."""
    t, c = time.perf_counter(), time.process_time()
    out = fn(*args)
    timed.last_cpu = time.process_time() - c
    return time.perf_counter() - t, out


def one_run(template: Path, workdir: Path, with_gx: bool) -> dict[str, float]:
    db = workdir / "run.duckdb"
    shutil.copyfile(template, db)
    times: dict[str, float] = {}
    cpu: dict[str, float] = {}
    with duckdb.connect(str(db)) as con:
        times["staging_rules"], _ = timed(lambda: (apply_rules(con, RUN), quarantine_blocking(con, RUN), flag_warnings(con, RUN)))
        cpu["staging_rules"] = timed.last_cpu
        if with_gx:
            times["staging_gx"], rep = timed(gxs.validate_staging, con, RUN)
            cpu["staging_gx"] = timed.last_cpu
            gxs.store_validation(con, RUN, rep)
        build_catalogue_untimed(con)
        times["sanitise"], _ = timed(sanitise_catalogue, con)
        cpu["sanitise"] = timed.last_cpu
        times["personal_data"], _ = timed(lambda: (detect_in_staging(con, RUN), scrub_catalogue(con, RUN)))
        cpu["personal_data"] = timed.last_cpu
        times["plain_text+residue"], _ = timed(lambda: (write_plain_text(con), record_residue(con, RUN)))
        cpu["plain_text+residue"] = timed.last_cpu
        times["richness"], _ = timed(score_catalogue, con, RUN)
        cpu["richness"] = timed.last_cpu
        if with_gx:
            times["catalogue_gx"], rep = timed(gxs.validate_catalogue, con, RUN)
            cpu["catalogue_gx"] = timed.last_cpu
            gxs.store_validation(con, RUN, rep)
        times["scorecard"], _ = timed(record_source_health, con, RUN)
        cpu["scorecard"] = timed.last_cpu
        counts = con.execute("""SELECT (SELECT count(*) FROM quality.quarantine), (SELECT count(*) FROM quality.issue),
                                       (SELECT count(*) FROM quality.personal_data), (SELECT count(*) FROM catalogue.service)""").fetchone()
    db.unlink()
    times["total"] = sum(times.values())
    cpu["total"] = sum(cpu.values())
    times["_cpu"] = cpu
    times["_counts"] = counts
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-gx", action="store_true", help="leave out the GX suites (to see what they cost)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
        workdir = Path(tmp)
        template = workdir / "template.duckdb"
        gen = build_template(template, args.services)
        if not args.no_gx:
            gxs.gx_context()  # GX's import and context: once per process, reported apart
        runs = [one_run(template, workdir, not args.no_gx) for _ in range(args.repeat)]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    q, issues, pd_findings, golden = runs[-1]["_counts"]
    print(f"quality stage on {args.services:,} staging services ({os.cpu_count()} cores visible, load {os.getloadavg()[0]:.1f}), "
          f"median of {args.repeat}; data generated in {gen:.1f} s (untimed)")
    print(f"  quarantined {q:,}, issues {issues:,}, personal-data findings {pd_findings:,}, golden services {golden:,}")
    for key in runs[0]:
        if key.startswith("_"):
            continue
        vals = [r[key] for r in runs]
        cpus = [r["_cpu"].get(key, 0.0) for r in runs]
        print(f"  {key:<22} wall {statistics.median(vals):8.2f} s (min {min(vals):.2f}, max {max(vals):.2f})"
              f"   cpu {statistics.median(cpus):8.2f} s")
    print(f"  peak RSS {peak_mb:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
