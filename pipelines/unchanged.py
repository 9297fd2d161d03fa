"""A night on which nothing the catalogue is built from has changed: no rebuild, but a full record.

The published catalogue's latest run records the inputs its golden records were built from
(``ops.run.summary``: ``inputs``, ``catalogue_built_by``, ``catalogue_built_at``; see
pipelines/inputs.py). After the harvest, ``decide`` compares tonight's inputs with those. When
they are identical, rebuilding would reproduce the same golden records, matches, gap tables and
change feed, so ``record_unchanged_night`` publishes a copy of the catalogue with only what does
change from night to night:

- an ``ops.run`` row for tonight (its summary says which run built the catalogue);
- tonight's ``ops.source_status`` rows: each source's real status tonight, so a source that failed
  to harvest is reported ``failed``/``stale`` exactly as a full build would (its snapshot is still
  served; when it passes its ``max_stale_days`` it is no longer served, which is a change of
  inputs and forces a build);
- tonight's scorecard rows (``quality.source_health``): the builder's figures for records, issues
  and completeness, with tonight's status, up/valid, and the freshness buckets recomputed for
  today's date.

Always a full build: ``--full-reread``, no published catalogue (or one that records no inputs),
any input changed, or the catalogue last built more than ``rebuild_after_days`` ago (date-dependent
figures inside the catalogue, such as richness "assured in the last year", are as of the build
date; a weekly rebuild keeps them from drifting).
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from connectors.config import SourcesConfig
from pipelines.inputs import build_inputs, differences
from pipelines.loading import LoadedSource, plan_sources, record_source_status, served_from
from quality.health import ensure_source_health, not_quarantined
from quality.richness import FRESHNESS_BUCKETS, source_richness_sql
from warehouse.build import open_previous, previous_full_build, publish_build, start_copy_build
from warehouse.snapshots import SnapshotInfo, SourceStore
from warehouse.state import PublishError, state_dir_for, utcnow

REBUILD_AFTER_DAYS = 7


@dataclass
class Decision:
    skip: bool
    reason: str                      # why a build is needed, or why not
    built_by: str | None = None      # the run whose build is published
    planned: list[LoadedSource] = field(default_factory=list)
    inputs: dict = field(default_factory=dict)


def published_build(db_path: Path) -> dict | None:
    """The latest run of the published catalogue: run_id, inputs, catalogue_built_by/_at."""
    if not db_path.exists():
        return None
    con = open_previous(db_path)
    try:
        row = con.execute("SELECT run_id, summary FROM ops.run WHERE status = 'published' "
                          "ORDER BY started_at DESC LIMIT 1").fetchone()
        if row is None:
            return None
        # What that run knew of each snapshot it served, so tonight need not open them all again.
        served = {(r[0], r[1]): (r[2], r[3]) for r in con.execute(
            "SELECT source_id, snapshot_version, snapshot_harvested_at, records_in FROM ops.source_status "
            "WHERE run_id = ? AND snapshot_version IS NOT NULL", [row[0]]).fetchall()}
    except duckdb.Error as exc:
        raise PublishError(f"{db_path}: cannot read its run history ({str(exc).splitlines()[0][:160]})") from None
    finally:
        con.close()
    summary = json.loads(row[1]) if row[1] else {}
    return {"run_id": row[0], **summary, "served": served}


def _plan(state_dir: Path, config: SourcesConfig, served: dict) -> list[LoadedSource]:
    """plan_sources, reading a snapshot's harvest time and record count from the published
    catalogue when it recorded that very snapshot version (opening 200 snapshot files costs
    seconds); a version it does not know is read from the snapshot itself."""
    now = utcnow()
    planned = []
    for source in config.enabled:
        store = SourceStore(state_dir, source.id)
        pointer = store.root / "CURRENT"
        version = pointer.read_text().strip() if pointer.exists() else None
        path = store.snapshots / f"{version}.duckdb"
        known = served.get((source.id, version))
        if known is None or not path.exists():
            planned += plan_sources(state_dir, SourcesConfig(config.path, [source]))
            continue
        attempt = store.read_status() or {}
        harvested_at, records_in = known
        cur = SnapshotInfo(source.id, version, path, {"harvested_at": harvested_at.isoformat() if harvested_at else None,
                                                      "records_in": records_in or 0})
        planned.append(served_from(source, cur, attempt.get("status", "no-data"),
                                   attempt.get("message", "never harvested"), attempt, now))
    return planned


def decide(config: SourcesConfig, db_path: Path, full_reread: bool = False,
           rebuild_after_days: int = REBUILD_AFTER_DAYS) -> Decision:
    """Whether tonight's catalogue must be built, or the published one is still what it would be."""
    try:
        last = published_build(db_path)
    except PublishError:
        last, unreadable = None, True
    else:
        unreadable = False
    planned = _plan(state_dir_for(db_path), config, (last or {}).get("served", {}))
    inputs = build_inputs(config.path, db_path, {p.source_id: p.served for p in planned})
    if full_reread:
        return Decision(False, "--full-reread asks for a full build", planned=planned, inputs=inputs)
    if unreadable:
        return Decision(False, "the published catalogue cannot be read", planned=planned, inputs=inputs)
    if last is None:
        return Decision(False, "no catalogue published yet", planned=planned, inputs=inputs)
    if previous_full_build(db_path) == db_path:
        # The night's full build (staging, matching state) is not the published catalogue's: a
        # catalogue copied back by hand, or published before the privacy boundary.
        return Decision(False, "the internal catalogue does not belong to the published one", planned=planned,
                        inputs=inputs)
    if "inputs" not in last:
        return Decision(False, "the published catalogue does not record what it was built from",
                        planned=planned, inputs=inputs)
    damaged = [p.source_id for p in planned if p.status == "degraded" and p.served is None]
    if damaged:
        return Decision(False, f"{', '.join(damaged)}: snapshot in force is damaged", planned=planned, inputs=inputs)
    changed = differences(inputs, last["inputs"])
    if changed:
        more = f" (and {len(changed) - 3} more)" if len(changed) > 3 else ""
        return Decision(False, "; ".join(changed[:3]) + more, planned=planned, inputs=inputs)
    built_at = dt.datetime.fromisoformat(last["catalogue_built_at"])
    age = (utcnow() - built_at).total_seconds() / 86400
    if age > rebuild_after_days:
        return Decision(False, f"the catalogue was last built {age:.0f} days ago (rebuilt every {rebuild_after_days})",
                        planned=planned, inputs=inputs)
    return Decision(True, "every source's snapshot, the sources and overrides files, the reference data and "
                          "the code are as the published catalogue was built from",
                    built_by=last["catalogue_built_by"], planned=planned, inputs=inputs)


def record_unchanged_night(db_path: Path, run_id: str, decision: Decision, extra_summary: dict | None = None) -> dict:
    """Publish the catalogue as built, with tonight's run, source statuses and scorecard added."""
    build = start_copy_build(db_path, run_id)
    now = utcnow()
    try:
        with build.connect() as con:
            record_source_status(con, run_id, decision.planned, now)
            scorecard_rows = _record_scorecard(con, run_id, decision.built_by)
            golden = con.execute("SELECT count(*) FROM catalogue.service").fetchone()[0]
            con.execute("UPDATE ops.run SET summary = ? WHERE run_id = ?", [json.dumps({
                "inputs": decision.inputs, "catalogue_built_by": decision.built_by,
                "catalogue_built_at": _built_at(con, decision.built_by), "build": "skipped: no input changed"}),
                run_id])
    except duckdb.Error as exc:
        build.path.unlink(missing_ok=True)
        raise PublishError(f"{build.path}: cannot record tonight's run ({str(exc).splitlines()[0][:200]}); "
                           f"the published catalogue is unchanged") from None
    publish_build(build, {**(extra_summary or {}), "golden_services": golden, "changes": {}})
    return {"golden_services": golden, "scorecard_rows": scorecard_rows, "db": str(db_path)}


def _built_at(con: duckdb.DuckDBPyConnection, built_by: str) -> str | None:
    row = con.execute("SELECT summary FROM ops.run WHERE run_id = ?", [built_by]).fetchone()
    return (json.loads(row[0]) or {}).get("catalogue_built_at") if row and row[0] else None


def _record_scorecard(con: duckdb.DuckDBPyConnection, run_id: str, built_by: str) -> int:
    """Tonight's scorecard: the builder's figures, tonight's statuses, freshness as of today."""
    ensure_source_health(con)
    con.execute("""
        INSERT INTO quality.source_health BY NAME
        SELECT h.* REPLACE (? AS run_id, (SELECT started_at FROM ops.run WHERE run_id = ?) AS run_at,
                            st.status AS status, st.status IN ('ok', 'unchanged') AS up,
                            st.snapshot_version IS NOT NULL AND st.status NOT IN ('dropped', 'failed', 'no-data')
                                AND h.issues_blocking = 0 AND h.records > 0 AS valid)
        FROM quality.source_health h JOIN ops.source_status st ON st.source_id = h.source_id AND st.run_id = ?
        WHERE h.run_id = ?""", [run_id, run_id, run_id, built_by])
    # Freshness counts in days up to today, so it moves even when no record does.
    fresh = [f"fresh_{name.replace('-', '_').replace('+', '_plus')}" for name, _, _ in FRESHNESS_BUCKETS]
    sets = ", ".join([f'{col} = r."{name}"' for col, (name, _, _) in zip(fresh, FRESHNESS_BUCKETS)]
                     + ["stale = r.stale", "undated = r.undated", "median_age_days = r.median_age_days"])
    con.execute(f"""UPDATE quality.source_health SET {sets}
                    FROM ({source_richness_sql(not_quarantined(built_by))}) r
                    WHERE quality.source_health.run_id = ? AND quality.source_health.source_id = r.source_id""",
                [run_id])
    return con.execute("SELECT count(*) FROM quality.source_health WHERE run_id = ?", [run_id]).fetchone()[0]
