"""The cross-source stages of the nightly job as plain functions (Dagster assets call these).

staging -> quality -> matching -> catalogue -> gap tables -> publish, all on this run's build
file (see ``warehouse.build``), so that nothing is visible until ``publish_catalogue`` swaps it in.
"""
from __future__ import annotations

from pathlib import Path

from connectors.config import SourcesConfig
from dedupe.golden import build_golden_records
from dedupe.nightly_match import match_staging_services
from dedupe.overrides import default_overrides_path
from pipelines.loading import load_snapshots
from quality.stage import check_staging_records, finish_catalogue
from warehouse.build import Build, publish_build, start_build
from warehouse.changes import record_changes
from warehouse.gap import build_gap_tables
from warehouse.taxonomy.classify import classify_catalogue


class NoSnapshotToPublish(RuntimeError):
    """Every source failed and none was harvested before: the night failed (exit 1), which is
    not a storage fault nor a mistake in the command (those exit 2)."""


def stage_sources(db_path: Path, run_id: str, config: SourcesConfig) -> dict:
    build = start_build(db_path, run_id)
    loaded = load_snapshots(build, config)
    with build.connect() as con:
        services = con.execute("SELECT count(*) FROM staging.service").fetchone()[0]
    return {"sources": [ls.__dict__ for ls in loaded], "staging_services": services}


def check_staging(db_path: Path, run_id: str) -> dict:
    with Build(db_path, run_id).connect() as con:
        return check_staging_records(con, run_id)


def match_services(db_path: Path, run_id: str, sources_file: str | Path | None = None) -> dict:
    """Match staging services into clusters (dedupe.nightly_match), honouring the overrides file
    that lives next to the sources file (or PLACECAT_OVERRIDES)."""
    with Build(db_path, run_id).connect() as con:
        return match_staging_services(con, run_id, default_overrides_path(sources_file))


def build_catalogue(db_path: Path, run_id: str) -> dict:
    with Build(db_path, run_id).connect() as con:
        out = build_golden_records(con, run_id)
        # Last: personal-data hold-back, sanitising, richness/freshness, catalogue suite, scorecard.
        out["quality"] = finish_catalogue(con, run_id)
        return out


def classify_services(db_path: Path, run_id: str) -> dict:
    with Build(db_path, run_id).connect() as con:
        return classify_catalogue(con)


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
            raise NoSnapshotToPublish("no source has a snapshot to publish (every source failed and none was harvested before); "
                               "see the source statuses above, fix the sources and re-run")
        changes = record_changes(con, run_id)
    publish_build(build, {**summary, "golden_services": n, "changes": changes})
    return {"golden_services": n, "changes": changes, "db": str(db_path)}
