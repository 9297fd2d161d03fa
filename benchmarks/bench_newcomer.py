"""The two-night newcomer of issue 17, night by night: the bundled demo on night 1, a five-row
spreadsheet from a new publisher added on night 2 (``tests/support/newcomer.py``), then an unchanged
night, a ``--full-reread`` night and a fresh database with the same sources.

    .venv/bin/python benchmarks/bench_newcomer.py [--keep DIR]

For each night it prints whether it published (or its error), its wall time, the golden services,
the golden-id churn, and what became of "Armley Foodbank" (the spreadsheet's N1), which is the
demo's "Armley Food Bank" with the same phone, e-mail, address, organisation and session: merged
with it, queued for review (with the pair's probability and decision), or neither. Issue 17's
acceptance: every night publishes, and the two Armley listings are merged or queued.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.nightly_run import run_nightly  # noqa: E402
from tests.support.newcomer import NEWCOMER, add_newcomer, demo  # noqa: E402
from warehouse.release import internal_path  # noqa: E402
from warehouse.state import state_dir_for  # noqa: E402

ARMLEY = (NEWCOMER["id"], "N1")


def armley(db: Path) -> str:
    """What the published catalogue did with the newcomer's Armley Foodbank."""
    # The review queue is kept in the internal file only (warehouse/release.py).
    with duckdb.connect(str(internal_path(state_dir_for(db))), read_only=True) as con:
        merged = con.execute("""
            SELECT d.source_id || '/' || d.source_record_id FROM catalogue.service_source n
            JOIN catalogue.service_source d USING (service_id)
            WHERE n.source_id = ? AND n.source_record_id = ? AND d.source_id <> n.source_id""", list(ARMLEY)).fetchall()
        queued = con.execute("""
            SELECT CASE WHEN source_id_a = ? THEN source_id_b || '/' || record_id_b ELSE source_id_a || '/' || record_id_a END,
                   probability, decision FROM catalogue.review_queue
            WHERE ? IN (source_id_a, source_id_b) AND ? IN (record_id_a, record_id_b)""", [ARMLEY[0], *ARMLEY]).fetchall()
    if merged:
        return "merged with " + ", ".join(r for (r,) in merged)
    if queued:
        return "queued with " + "; ".join(f"{other} (p={p:.3f}, {d})" for other, p, d in queued)
    return "NEITHER merged nor queued"


def night(label: str, sources: Path, db: Path, **kw) -> bool:
    t0 = time.perf_counter()
    res = run_nightly(sources, db, **kw)
    wall = time.perf_counter() - t0
    if not res.published:
        print(f"{label:34s} NOT published ({wall:.1f} s): {res.error}")
        return False
    c = res.churn
    churn = (f"{c['moved']} of {c['records_both_nights']} records moved golden id" if c
             else "catalogue not rebuilt" if res.build_skipped else "first night")
    newcomer_listed = NEWCOMER["id"] in {s["source_id"] for s in res.sources}
    print(f"{label:34s} published ({wall:.1f} s): {res.golden_services} golden services, {res.source_records} records; "
          f"churn: {churn}\n{'':34s} Armley Foodbank: "
          f"{armley(db) if newcomer_listed else 'not listed yet'}")
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", help="keep the sources and catalogues in this folder")
    a = ap.parse_args(argv)
    work = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="placecat_newcomer_"))
    try:
        sources = demo(work / "demo")
        db = work / "out" / "placecat.duckdb"
        ok = night("night 1: the demo", sources, db)
        add_newcomer(sources)
        ok &= night("night 2: + a five-row spreadsheet", sources, db)
        ok &= night("night 3: unchanged", sources, db)
        ok &= night("night 4: --full-reread", sources, db, full_reread=True)
        ok &= night("fresh database, same sources", sources, work / "fresh" / "placecat.duckdb")
        print("every night published" if ok else "a night did NOT publish")
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
