"""Loading the night's sources into the build: which snapshot serves each source tonight, and its
rows copied into ``staging``.

A source is served from its snapshot in force (warehouse/snapshots.py); after a failed harvest it
is served ``stale`` from its last good one, and ``dropped`` once it has failed for longer than its
``max_stale_days``. A damaged snapshot file is skipped for the newest readable older one
(``degraded``). Every source's status tonight becomes a row of ``ops.source_status``.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

from connectors.config import SourcesConfig
from pipelines.inputs import build_inputs, snapshot_signature
from warehouse.build import Build
from warehouse.model import ORUK_TABLES
from warehouse.snapshots import SourceStore
from warehouse.state import failpoint, utcnow


@dataclass
class LoadedSource:
    source_id: str
    kind: str
    status: str
    message: str
    version: str | None
    harvested_at: dt.datetime | None
    records_in: int
    records_quarantined: int
    served: dict | None = None  # inputs.snapshot_signature of the snapshot served (None: not served)


def load_snapshots(build: Build, config: SourcesConfig) -> list[LoadedSource]:
    """Load each source's snapshot in force into staging, and record each source's status.

    The build's inputs (pipelines/inputs.py) go into this run's ``ops.run.summary``, so that a
    later night with the same inputs can skip the build (pipelines/unchanged.py).
    """
    loaded: list[LoadedSource] = []
    now = utcnow()
    with build.connect() as con:
        con.execute("DELETE FROM ops.source")
        for source in config.sources:
            locator = source.url if source.kind != "sql" else (source.url or "").split("@")[-1]
            con.execute("INSERT INTO ops.source (source_id, kind, publisher, role, locator, licence, attribution) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)", [source.id, source.kind, source.publisher, source.role,
                                                         locator or str(source.path), source.licence, source.attribution])
        for source in config.enabled:
            loaded.append(_load_source(con, build, source, now))
            failpoint("build")
        record_source_status(con, build.run_id, loaded, now)
        inputs = build_inputs(config.path, build.db_path, {ls.source_id: ls.served for ls in loaded})
        con.execute("UPDATE ops.run SET summary = ? WHERE run_id = ?",
                    [json.dumps({"inputs": inputs, "catalogue_built_by": build.run_id,
                                 "catalogue_built_at": now.isoformat(), "build": "full"}), build.run_id])
    return loaded


def record_source_status(con: duckdb.DuckDBPyConnection, run_id: str, sources: list[LoadedSource],
                         now: dt.datetime) -> None:
    for ls in sources:
        con.execute("INSERT INTO ops.source_status VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            run_id, ls.source_id, ls.kind, ls.status, ls.message, now, ls.version,
            ls.harvested_at, ls.records_in, ls.records_quarantined])


def plan_sources(state_dir: Path, config: SourcesConfig) -> list[LoadedSource]:
    """What a build would serve for each enabled source tonight, and with which status, without
    loading anything. A source whose newest snapshot is damaged is planned as ``degraded`` with
    ``served`` None: only a build, which tries the older snapshots, can serve it."""
    now = utcnow()
    planned = []
    for source in config.enabled:
        store = SourceStore(state_dir, source.id)
        attempt = store.read_status() or {}
        status = attempt.get("status", "no-data")
        message = attempt.get("message", "never harvested")
        cur = store.current()
        if cur is None:
            planned.append(LoadedSource(source.id, source.kind, "failed" if status != "no-data" else status,
                                        message, None, None, 0, 0))
        elif cur.note:
            planned.append(LoadedSource(source.id, source.kind, "degraded", cur.note, cur.version,
                                        cur.harvested_at, 0, 0, served=None))
        else:
            planned.append(served_from(source, cur, status, message, attempt, now))
    return planned


def served_from(source, cur, status: str, message: str, attempt: dict, now: dt.datetime) -> LoadedSource:
    """How a source is served from the readable snapshot ``cur``: as it is, stale, or dropped when
    it has failed for longer than its max_stale_days."""
    age_days = _snapshot_age_days(cur, attempt, now)
    if status in ("failed", "degraded") and age_days > source.max_stale_days:
        return LoadedSource(source.id, source.kind, "dropped",
                            f"{message}; last good harvest {age_days} days ago, over max_stale_days={source.max_stale_days}, so it is no longer served",
                            cur.version, cur.harvested_at, 0, 0, served=None)
    if status in ("failed", "degraded"):
        status = "stale" if age_days >= 1 else status
    return LoadedSource(source.id, source.kind, status, message, cur.version, cur.harvested_at,
                        int(cur.meta.get("records_in", 0)), 0, served=snapshot_signature(cur.version, cur.path))


def _snapshot_age_days(cur, attempt: dict, now: dt.datetime) -> int:
    """Whole days (nights) since the source last answered properly (a good or an unchanged harvest).

    Rounded, so that a run a few minutes later than last night's still counts as one night on.
    """
    seen = [t for t in (cur.harvested_at,) if t is not None]
    if attempt.get("last_good_at"):
        seen.append(dt.datetime.fromisoformat(attempt["last_good_at"]))
    return round((now - max(seen)).total_seconds() / 86400) if seen else 0


def _load_source(con: duckdb.DuckDBPyConnection, build: Build, source, now: dt.datetime) -> LoadedSource:
    """Load one source's snapshot in force; fall back to an older one if that file is damaged."""
    store = SourceStore(build.state_dir, source.id)
    attempt = store.read_status() or {}
    status = attempt.get("status", "no-data")
    message = attempt.get("message", "never harvested")
    problems: list[str] = []
    for cur in store.candidates():
        if cur.note:
            problems.append(cur.note)
        verdict = served_from(source, cur, status, message, attempt, now)
        if verdict.status == "dropped":
            return verdict
        try:
            _copy_snapshot(con, build, source.id, cur)
        except duckdb.Error as exc:
            store.request_full_harvest(f"snapshot {cur.version} could not be loaded")
            problems.append(f"snapshot {cur.path} is unreadable ({str(exc).splitlines()[0][:160]})")
            continue
        if problems:
            verdict.status = "degraded"
            verdict.message = "; ".join(problems) + f"; serving the older snapshot {cur.version} (a fresh harvest replaces it)"
        return verdict
    if problems:
        message = "; ".join(problems) + "; no readable snapshot left: the next complete harvest rebuilds it"
    return LoadedSource(source.id, source.kind, "failed" if status != "no-data" or problems else status,
                        message, None, None, 0, 0)


def _copy_snapshot(con: duckdb.DuckDBPyConnection, build: Build, source_id: str, cur) -> None:
    """Copy one snapshot into the build in one transaction, so a damaged file adds nothing."""
    con.execute(f"ATTACH '{cur.path}' AS snap (READ_ONLY)")
    try:
        con.execute("BEGIN")
        try:
            for table in ORUK_TABLES:
                con.execute(f"INSERT INTO staging.{table} BY NAME SELECT * FROM snap.staging.{table}")
            con.execute("INSERT INTO raw.record BY NAME SELECT * FROM snap.raw.record")
            # The snapshot's issues are the ones in force for this run, whichever run found them.
            con.execute("INSERT INTO quality.issue BY NAME SELECT * REPLACE (? AS run_id) FROM snap.quality.issue",
                        [build.run_id])
            con.execute("INSERT INTO ops.harvest_state VALUES (?, ?, ?)",
                        [source_id, json.dumps(cur.meta.get("harvest_state") or {}), cur.harvested_at])
            con.execute("COMMIT")
        except duckdb.Error:
            con.execute("ROLLBACK")
            raise
    finally:
        con.execute("DETACH snap")
