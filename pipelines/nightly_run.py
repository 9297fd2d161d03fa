"""`placecat run`: the whole nightly job, in-process, with a summary a person can read.

Each source is refreshed on its own (harvest, normalise, promote: what the per-source partition
assets do in the Dagster UI and on the schedule); a failed source is reported and the night goes
on. Then the cross-source assets build, check and publish the catalogue as one Dagster run. With
``--workers N`` the sources are refreshed in N worker processes at once: each writes only its own
snapshot files, so they never contend for a DuckDB writer; the cross-source step then reads them all.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb

from connectors.config import ConfigError, load_sources
from connectors.refresh import refresh_sources
from pipelines.assets import CROSS_SOURCE_ASSETS, FULL_BUILD_TAG
from pipelines.checks import ALL_CHECKS
from pipelines.resources import PlacecatResource
from pipelines.unchanged import REBUILD_AFTER_DAYS, decide, record_unchanged_night
from warehouse.snapshots import SourceStore
from warehouse.recover import recover
from warehouse.state import PublishError, run_lock, state_dir_for

QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass
class NightlyResult:
    published: bool
    db_path: Path
    run_id: str | None = None
    sources: list[dict] = field(default_factory=list)
    golden_services: int = 0
    source_records: int = 0
    checks: list[tuple[str, bool, str, bool]] = field(default_factory=list)  # name, passed, metadata, blocking
    changes: dict[str, int] = field(default_factory=dict)
    withheld: int = 0            # golden services withheld for personal data left after scrubbing
    error: str | None = None
    # stage -> [start, end] (epoch seconds): "sources" for all partitions, then each cross-source asset
    stages: dict[str, list[float]] = field(default_factory=dict)
    build_skipped: bool = False  # no input changed: the published catalogue was kept, tonight recorded
    build_reason: str = ""       # why the catalogue was (or was not) rebuilt
    built_by: str | None = None  # with build_skipped: the run whose catalogue is published
    churn: dict | None = None    # golden-id churn since the last build (dedupe.golden.golden_id_churn)
    overrides_not_honoured: int = 0  # overrides that contradict earlier ones on tonight's records
    recovered: list[str] = field(default_factory=list)  # damaged catalogues put right before tonight's build
    stopped_by_storage: bool = False  # the build stopped on a PublishError or a full/unwritable disk (exit 2)


# A build that stopped on one of these is a problem of the machine (a full disk, a read-only or
# unwritable folder) or of the catalogue files: one line, and the exit code of every such stop
# (2), whichever stage met it. Any other failure of the build exits 1.
STORAGE_WORDS = ("No space left", "Read-only file system", "Permission denied", "not writable", "disk is full")


def _step_failure(result: dg.ExecuteInProcessResult) -> tuple[str | None, bool]:
    """(one line, whether it was a PublishError or a storage fault) for the build's first failure."""
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            err = event.event_specific_data.error
            while err.cause is not None:
                err = err.cause
            first = (err.message or event.message or "").strip().splitlines()[0]
            # "warehouse.build.PublishError: no source ..." -> "no source ..."
            line = first.split(": ", 1)[1] if ": " in first and first.split(": ", 1)[0].count(" ") == 0 else first
            storage = any(w in line for w in STORAGE_WORDS)
            if "No space left" in line and "disk is full" not in line:  # raw DuckDB text from a stage
                line = (f"the disk is full while building the catalogue ({line[:120]}): free some space and re-run; "
                        f"the published catalogue is unchanged")
            return line, storage or (err.cls_name or "").endswith("PublishError")
    return None, False


def _stage_times(instance: dg.DagsterInstance, run_id: str) -> dict[str, list[float]]:
    return {s.step_key: [s.start_time, s.end_time] for s in instance.get_run_step_stats(run_id)
            if s.start_time and s.end_time}


def run_nightly(sources_file: str | Path, db_path: str | Path, full_reread: bool = False,
                workers: int = 1, rebuild_after_days: int = REBUILD_AFTER_DAYS) -> NightlyResult:
    """Run every source, then build and publish the catalogue. Raises ConfigError/PublishError.

    When no input of the published catalogue changed (pipelines/unchanged.py), the catalogue is
    not rebuilt: tonight's run, source statuses and scorecard are added to a copy and published.
    """
    config = load_sources(sources_file)
    db_path = Path(db_path).resolve()
    state_dir = state_dir_for(db_path)
    sources_file = str(Path(sources_file).resolve())
    resource = PlacecatResource(sources_file=sources_file, db_path=str(db_path))
    instance = dg.DagsterInstance.ephemeral()
    with run_lock(state_dir):
        started = time.time()
        # Damage never spreads: last night's catalogues are checked against their seals, and a
        # damaged one is replaced by the newest good one before anything is copied from it.
        recovered = recover(db_path, state_dir).notes
        # The same plain functions the per-source assets call (pipelines/assets.py), without a Dagster
        # run per source: that cost about a second of CPU per source, most of a night with nothing new.
        refresh_sources(sources_file, state_dir, [s.id for s in config.enabled], str(uuid.uuid4()), workers,
                        full_reread)
        stages = {"sources": [started, time.time()]}
        compared = time.time()
        decision = decide(config, db_path, full_reread, rebuild_after_days)
        stages["compare_inputs"] = [compared, time.time()]
        if decision.skip:
            out = _record_unchanged(config, db_path, state_dir, decision, stages)
            out.recovered = recovered
            return out
        result = dg.materialize([*CROSS_SOURCE_ASSETS, *ALL_CHECKS], resources={"placecat": resource},
                                instance=instance, raise_on_error=False, run_config=QUIET_RUN_CONFIG,
                                tags={FULL_BUILD_TAG: "1"})
    out = NightlyResult(published=result.success, db_path=db_path, run_id=result.run_id, build_reason=decision.reason,
                        recovered=recovered)
    out.stages = {**stages, **_stage_times(instance, result.run_id)}
    for ev in result.get_asset_check_evaluations():
        meta = ", ".join(f"{k}={json.dumps(v.value, default=str)[:120] if isinstance(v.value, (list, dict)) else v.value}"
                         for k, v in ev.metadata.items())
        out.checks.append((ev.check_name, ev.passed, meta, ev.severity == dg.AssetCheckSeverity.ERROR))
    if not result.success:
        line, out.stopped_by_storage = _step_failure(result)
        out.error = line or "the catalogue run failed"
    _fill_summary(out, config, state_dir, result.run_id)
    return out


def _record_unchanged(config, db_path: Path, state_dir: Path, decision, stages: dict) -> NightlyResult:
    run_id = str(uuid.uuid4())
    started = time.time()
    record_unchanged_night(db_path, run_id, decision)
    stages["record_unchanged_night"] = [started, time.time()]
    out = NightlyResult(published=True, db_path=db_path, run_id=run_id, stages=stages, build_skipped=True,
                        build_reason=decision.reason, built_by=decision.built_by)
    _fill_summary(out, config, state_dir, run_id)
    return out


def _fill_summary(out: NightlyResult, config, state_dir: Path, run_id: str) -> None:
    rows = {}
    if out.published and out.db_path.exists():
        with duckdb.connect(str(out.db_path), read_only=True) as con:
            for r in con.execute("""SELECT source_id, status, message, records_in, records_quarantined
                                    FROM ops.source_status WHERE run_id = ?""", [run_id]).fetchall():
                rows[r[0]] = {"source_id": r[0], "status": r[1], "message": r[2], "records_in": r[3] or 0,
                              "records_quarantined": r[4] or 0}
            out.golden_services, out.source_records = con.execute(
                "SELECT (SELECT count(*) FROM catalogue.service), (SELECT count(*) FROM catalogue.service_source)").fetchone()
            out.changes = dict(con.execute("SELECT change, count(*) FROM publish.change WHERE run_id = ? GROUP BY 1",
                                           [run_id]).fetchall())
            out.withheld = _withheld(con, run_id)
            summary = con.execute("SELECT summary FROM ops.run WHERE run_id = ?", [run_id]).fetchone()
            recorded = json.loads(summary[0]) if summary and summary[0] else {}
            out.churn = recorded.get("golden_id_churn")
            out.overrides_not_honoured = recorded.get("overrides_not_honoured", 0)
    for source in config.enabled:
        if source.id not in rows:
            st = SourceStore(state_dir, source.id).read_status() or {}
            rows[source.id] = {"source_id": source.id, "status": st.get("status", "no-data"),
                               "message": st.get("message", ""), "records_in": st.get("records_in", 0),
                               "records_quarantined": st.get("records_quarantined", 0)}
    out.sources = [rows[s.id] for s in config.enabled]


def _withheld(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Golden services this run withheld because they still held personal data after scrubbing."""
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'quality' "
                         "AND table_name = 'withheld'").fetchone()[0]
    return con.execute("SELECT count(DISTINCT service_id) FROM quality.withheld WHERE run_id = ?",
                       [run_id]).fetchone()[0] if exists else 0


def format_summary(res: NightlyResult) -> str:
    lines = [f"{'source':<28} {'status':<10} {'records':>8} {'quarantined':>12}  note"]
    for s in res.sources:
        note = s["message"] if s["status"] not in ("ok",) else ""
        lines.append(f"{s['source_id']:<28} {s['status']:<10} {s['records_in']:>8} {s['records_quarantined']:>12}  {note}")
    lines.append("")
    lines.extend(f"recovered: {note}" for note in res.recovered)
    if res.published:
        lines.append(f"golden services: {res.golden_services}   source records: {res.source_records}   "
                     f"duplicates merged: {res.source_records - res.golden_services}")
        if res.changes:
            lines.append("changes since last run: " + ", ".join(f"{k} {v}" for k, v in sorted(res.changes.items())))
        if res.withheld:
            lines.append(f"withheld: {res.withheld} golden service(s) still held personal data after scrubbing "
                         f"(quality.issue rule personal_data_withheld names each source record and field)")
        if res.churn:
            c = res.churn
            lines.append(f"golden-id churn: {c['moved']} of {c['records_both_nights']} records moved to another golden id "
                         f"({c['changed']} records new, changed or gone); ids retired {c['retired']}, new {c['new']}")
    if res.overrides_not_honoured:
        lines.append(f"overrides: {res.overrides_not_honoured} decision{'s' if res.overrides_not_honoured > 1 else ''} "
                     "not honoured, contradicting earlier ones (see placecat review --list)")
    if res.build_skipped:
        lines.append("golden-id churn: 0 (the golden records are those last built)")
        lines.append(f"catalogue not rebuilt: {res.build_reason}; serving run {res.built_by}'s golden records, "
                     f"with tonight's source statuses and scorecard")
        lines.append(f"checks: not re-run (they passed when run {res.built_by} built this catalogue)")
        lines.append(f"catalogue published to {res.db_path}")
        return "\n".join(lines)
    if res.build_reason:
        lines.append(f"catalogue rebuilt: {res.build_reason}")
    passed = sum(1 for c in res.checks if c[1])
    failed = sum(1 for c in res.checks if not c[1] and c[3])
    warned = len(res.checks) - passed - failed
    lines.append(f"checks: {passed} passed, {failed} failed" + (f", {warned} warning(s)" if warned else ""))
    for name, ok, meta, blocking in res.checks:
        if not ok:
            lines.append(f"  {'FAILED' if blocking else 'WARNING'} {name}: {meta}")
    lines.append(f"catalogue published to {res.db_path}" if res.published else f"nothing published: {res.error}")
    return "\n".join(lines)


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sources", required=True, help="the sources YAML file")
    p.add_argument("--db", required=True, help="the catalogue DuckDB file to publish (its state lives in FILE.state/)")
    p.add_argument("--full-reread", action="store_true",
                   help="ignore harvest positions and re-read every source from the start")
    p.add_argument("--workers", type=int, default=int(os.environ.get("PLACECAT_WORKERS", "1")),
                   help="harvest and normalise this many sources at once, in worker processes (default 1, "
                        "or $PLACECAT_WORKERS)")
    p.add_argument("--rebuild-after-days", type=int, default=REBUILD_AFTER_DAYS, metavar="N",
                   help="rebuild the catalogue at least every N days even when no input changed, so "
                        f"date-dependent figures stay current (default {REBUILD_AFTER_DAYS}; 0 rebuilds every night)")
    p.add_argument("--timings", metavar="FILE",
                   help="also write each stage's start and end time (epoch seconds) to this JSON file")


def run(args: argparse.Namespace) -> int:
    logging.getLogger("dagster").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    try:
        if args.workers < 1:
            raise ConfigError(f"--workers {args.workers}: give 1 or more worker processes")
        if args.rebuild_after_days < 0:
            raise ConfigError(f"--rebuild-after-days {args.rebuild_after_days}: give 0 or more days")
        res = run_nightly(args.sources, args.db, full_reread=args.full_reread, workers=args.workers,
                          rebuild_after_days=args.rebuild_after_days)
    except (ConfigError, PublishError) as exc:
        for line in str(exc).splitlines():  # a sources file with several mistakes: one line each
            print(f"placecat: {line}", file=sys.stderr)
        return 2
    print(format_summary(res))
    if args.timings:
        Path(args.timings).write_text(json.dumps({"run_id": res.run_id, "published": res.published,
                                                  "build_skipped": res.build_skipped, "build_reason": res.build_reason,
                                                  "stages": res.stages}, indent=1))
    return 0 if res.published else (2 if res.stopped_by_storage else 1)
