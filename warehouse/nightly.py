"""The cross-source stages of the nightly job as plain functions (Dagster assets call these).

staging -> quality -> matching -> catalogue -> gap tables -> publish, all on this run's build
file (see ``warehouse.build``), so that nothing is visible until ``publish_catalogue`` swaps it in.
"""
from __future__ import annotations

from pathlib import Path

from connectors.config import SourcesConfig
from dedupe.exact import match_exact
from dedupe.golden import build_golden_records
from quality.quarantine import quarantine_blocking, quarantined_per_source
from quality.rules import apply_rules
from warehouse.build import Build, PublishError, load_snapshots, publish_build, start_build
from warehouse.changes import record_changes
from warehouse.gap import build_gap_tables


def stage_sources(db_path: Path, run_id: str, config: SourcesConfig) -> dict:
    build = start_build(db_path, run_id)
    loaded = load_snapshots(build, config)
    with build.connect() as con:
        services = con.execute("SELECT count(*) FROM staging.service").fetchone()[0]
    return {"sources": [ls.__dict__ for ls in loaded], "staging_services": services}


def check_staging(db_path: Path, run_id: str) -> dict:
    with Build(db_path, run_id).connect() as con:
        counts = apply_rules(con, run_id)
        quarantined = quarantine_blocking(con, run_id)
        per_source = quarantined_per_source(con, run_id)
        for source_id, n in per_source.items():
            con.execute("UPDATE ops.source_status SET records_quarantined = ? WHERE run_id = ? AND source_id = ?",
                        [n, run_id, source_id])
    return {"rule_failures": counts, "quarantined": quarantined, "quarantined_per_source": per_source}


def match_services(db_path: Path, run_id: str) -> dict:
    with Build(db_path, run_id).connect() as con:
        clusters = match_exact(con, run_id)
    return {"clusters": clusters}


def build_catalogue(db_path: Path, run_id: str) -> dict:
    with Build(db_path, run_id).connect() as con:
        return build_golden_records(con)


def build_gaps(db_path: Path, run_id: str) -> dict:
    with Build(db_path, run_id).connect() as con:
        return build_gap_tables(con)


def publish_catalogue(db_path: Path, run_id: str, summary: dict) -> dict:
    build = Build(db_path, run_id)
    with build.connect() as con:
        n = con.execute("SELECT count(*) FROM catalogue.service").fetchone()[0]
        loaded = con.execute("SELECT count(*) FROM ops.source_status WHERE run_id = ? AND snapshot_version IS NOT NULL "
                             "AND status NOT IN ('dropped')", [run_id]).fetchone()[0]
        if loaded == 0:
            raise PublishError("no source has a snapshot to publish (every source failed and none was harvested before); "
                               "see the source statuses above, fix the sources and re-run")
        changes = record_changes(con, run_id)
    publish_build(build, {**summary, "golden_services": n, "changes": changes})
    return {"golden_services": n, "changes": changes, "db": str(db_path)}
