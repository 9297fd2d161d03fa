"""The quality stage's two steps in the nightly job (called from ``pipelines.stages``).

``check_staging_records`` runs after staging: the record-level rules (SQL), quarantine, warning
flags, then the staging GX suite. ``finish_catalogue`` runs at the end of the catalogue build:
HTML sanitising, the personal-data guard, richness and freshness, the catalogue GX suite and
the feed-health scorecard.
"""
from __future__ import annotations

import time

import duckdb

from quality import expectations as gxs
from quality.health import record_source_health
from quality.html import sanitise_catalogue, write_plain_text
from quality.personal_data import detect_in_staging, record_residue, scrub_catalogue, withhold_residue
from quality.quarantine import flag_warnings, quarantine_blocking, quarantined_per_source
from quality.richness import score_catalogue
from quality.rules import apply_rules


def check_staging_records(con: duckdb.DuckDBPyConnection, run_id: str, with_gx: bool = True) -> dict:
    timings = {}
    t = time.perf_counter()
    counts = apply_rules(con, run_id)
    quarantined = quarantine_blocking(con, run_id)
    flagged = flag_warnings(con, run_id)
    per_source = quarantined_per_source(con, run_id)
    con.execute("UPDATE ops.source_status SET records_quarantined = 0 WHERE run_id = ? AND snapshot_version IS NOT NULL",
                [run_id])
    for source_id, n in per_source.items():
        con.execute("UPDATE ops.source_status SET records_quarantined = ? WHERE run_id = ? AND source_id = ?",
                    [n, run_id, source_id])
    timings["rules_s"] = round(time.perf_counter() - t, 2)
    out = {"rule_failures": {k: v for k, v in counts.items() if v}, "quarantined": quarantined,
           "flagged": flagged, "quarantined_per_source": per_source}
    if with_gx:
        t = time.perf_counter()
        report = gxs.validate_staging(con, run_id)
        gxs.store_validation(con, run_id, report)
        timings["gx_s"] = round(time.perf_counter() - t, 2)
        out["expectations"] = {"evaluated": len(report.outcomes), "blocking_failed": len(report.blocking_failures),
                               "warnings_failed": len(report.warning_failures)}
    out["timings"] = timings
    return out


def finish_catalogue(con: duckdb.DuckDBPyConnection, run_id: str, with_gx: bool = True) -> dict:
    timings = {}
    t = time.perf_counter()
    sanitised = sanitise_catalogue(con)
    timings["sanitise_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    findings = detect_in_staging(con, run_id)
    scrubbed = scrub_catalogue(con, run_id)
    timings["personal_data_s"] = round(time.perf_counter() - t, 2)
    # Plain text is written from the scrubbed values, so it carries no personal data either.
    t = time.perf_counter()
    plain = write_plain_text(con)
    # The final check: a golden service still holding personal data is withheld, not published.
    withheld = withhold_residue(con, run_id)
    scrubbed["residue"] = record_residue(con, run_id)
    richness = score_catalogue(con, run_id)
    timings["richness_s"] = round(time.perf_counter() - t, 2)
    out = {"sanitised": sanitised["values_sanitised"], "plain_texts": plain,
           "personal_data_findings": findings, **{f"personal_data_{k}": v for k, v in scrubbed.items()},
           **withheld, **richness}
    if with_gx:
        t = time.perf_counter()
        report = gxs.validate_catalogue(con, run_id)
        gxs.store_validation(con, run_id, report)
        timings["gx_s"] = round(time.perf_counter() - t, 2)
        out["expectations"] = {"evaluated": len(report.outcomes), "blocking_failed": len(report.blocking_failures)}
    t = time.perf_counter()
    out["scorecard_rows"] = record_source_health(con, run_id)
    timings["scorecard_s"] = round(time.perf_counter() - t, 2)
    out["timings"] = timings
    return out
