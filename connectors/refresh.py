"""The two per-source steps of a night, for every kind of source: harvest, then normalise and promote.

``harvest_source`` fetches a source into a pending snapshot through its connector (the kinds are
registered in ``CONNECTORS``); only a complete harvest leaves one behind, and a harvest that is not
complete never replaces the last good snapshot. ``normalise_source`` turns the pending snapshot's
raw records into staging rows and promotes it. Every attempt is recorded in the source's status.
``refresh_sources`` runs both for many sources, in worker processes.
"""
from __future__ import annotations

import concurrent.futures
import ctypes
import functools
import multiprocessing
import os
import signal
import threading
import time
import traceback
from pathlib import Path
from types import ModuleType

from connectors import openactive, oruk, spreadsheet, sql
from connectors.base import ROWS_LOST_RULE, HarvestContext, HarvestError, HarvestOutcome, SourceReport, log
from connectors.config import ConfigError, Source, load_sources
from connectors.shrink import check_shrink
from connectors.staging import StagingRows
from warehouse.snapshots import SourceStore
from warehouse.state import RUN_GONE_EXIT, ensure_run_alive, run_alive, storage_problem, utcnow, work_for_run

# Each kind of source and the module that harvests and normalises it (connectors.base's contract).
CONNECTORS: dict[str, ModuleType] = {"oruk": oruk, "openactive": openactive, "spreadsheet": spreadsheet, "sql": sql}


def connector_for(kind: str) -> ModuleType:
    try:
        return CONNECTORS[kind]
    except KeyError:
        raise ConfigError(f"sources of kind '{kind}' are not supported by this version of placecat") from None


def harvest_source(source: Source, state_dir: Path, run_id: str, full_reread: bool = False) -> SourceReport:
    """Fetch a source into a pending snapshot. Only a complete harvest leaves one behind."""
    started = time.monotonic()
    store = SourceStore(state_dir, source.id)
    connector = connector_for(source.kind)
    incremental = bool(getattr(connector, "INCREMENTAL", False)) and not full_reread
    writer = store.begin(carry_forward_raw=incremental)
    ctx = HarvestContext(run_id=run_id, full_reread=full_reread)
    state = store.harvest_state()
    if full_reread:  # start afresh, but keep what the connector never forgets (an ORUK feed's version)
        state = {k: state[k] for k in getattr(connector, "KEPT_ON_FULL_REREAD", ()) if k in state}
    try:
        outcome = connector.harvest(source, writer, state, ctx)
    except HarvestError as exc:
        outcome = HarvestOutcome("failed", str(exc))
    except ConfigError as exc:
        outcome = HarvestOutcome("failed", str(exc))
    except Exception as exc:  # a bug or an unforeseen fault: the source fails, the night goes on
        log.error("harvest of %s crashed:\n%s", source.id, traceback.format_exc())
        outcome = HarvestOutcome("failed", f"{type(exc).__name__}: {exc}")
    seconds = time.monotonic() - started

    if outcome.status == "complete":
        writer.set_meta(harvest_state=outcome.state, harvested_at=utcnow().isoformat(),
                        harvest_stats=outcome.stats, run_id=run_id, kind=source.kind,
                        locator=source.locator)
        records = writer.raw_count()
        writer.close()
        return SourceReport(source.id, source.kind, "ok", outcome.message, writer.version,
                            records_in=records, seconds=seconds, stats=outcome.stats)
    writer.abandon()
    cur = store.current()
    if outcome.status == "unchanged" and cur is not None:
        store.write_status("unchanged", outcome.message or "source unchanged since the last harvest",
                           snapshot_version=cur.version, run_id=run_id)
        return SourceReport(source.id, source.kind, "unchanged", outcome.message, None,
                            records_in=int(cur.meta.get("records_in", 0)), seconds=seconds, stats=outcome.stats)
    status = "degraded" if outcome.status == "partial" else "failed"
    keep = f"; keeping the snapshot of {cur.version}" if cur else "; no earlier snapshot to fall back on"
    message = (outcome.message or "harvest did not complete") + keep
    store.write_status(status, message, snapshot_version=cur.version if cur else None, run_id=run_id)
    return SourceReport(source.id, source.kind, status, message, None, seconds=seconds, stats=outcome.stats)


def normalise_source(source: Source, state_dir: Path, version: str, run_id: str) -> SourceReport:
    """Normalise a pending snapshot's raw records to staging, then promote it, unless the shrink
    guard holds it (connectors/shrink.py): far fewer services than the snapshot in force."""
    started = time.monotonic()
    store = SourceStore(state_dir, source.id)
    connector = connector_for(source.kind)
    writer = store.open_pending(version)
    try:
        rows = StagingRows(source.id)
        connector.normalise(source, writer.iter_raw(), rows)
        counts = writer.write_staging(rows.tables(), [i.as_row(run_id) for i in rows.issues])
        quarantined = len({i.record_id for i in rows.issues if i.severity == "blocking"})
        unreadable = sum(1 for i in rows.issues if i.rule == ROWS_LOST_RULE)
        records_in = counts.get("service", 0)
        writer.set_meta(records_in=records_in, staging_counts=counts, normalised_at=utcnow().isoformat())
        harvest_note = (writer.get_meta("harvest_stats") or {}).get("degraded")
        in_force = store.current()
        shrink = check_shrink(source, int(in_force.meta.get("records_in", 0)) if in_force else None, records_in,
                              store.take_accept_mark())
        if shrink.held:
            writer.close()
            store.hold(version)
        else:
            writer.commit()
    except Exception as exc:
        writer.abandon()
        log.error("normalising %s crashed:\n%s", source.id, traceback.format_exc())
        cur = store.current()
        message = f"normalisation failed ({type(exc).__name__}: {exc})" + (
            f"; keeping the snapshot of {cur.version}" if cur else "")
        store.write_status("failed", message, snapshot_version=cur.version if cur else None, run_id=run_id)
        return SourceReport(source.id, source.kind, "failed", message, seconds=time.monotonic() - started)
    if shrink.held:
        store.write_status("held", shrink.message, snapshot_version=in_force.version, run_id=run_id,
                           held_version=version, held_records=records_in)
        return SourceReport(source.id, source.kind, "held", shrink.message, None, records_in=records_in,
                            records_quarantined=quarantined, seconds=time.monotonic() - started)
    # Rows of the file that could not be read are quarantined, and the rest published; the source
    # is `degraded` so that somebody looks (its snapshot is promoted: it did answer).
    status, message = "ok", f"{records_in} services"
    if shrink.message:
        message += f" ({shrink.message})"
    if harvest_note:  # the harvest completed, but something about it needs a person's eye
        status = "degraded"
        message += f"; {harvest_note}"
    if unreadable:
        status = "degraded"
        message += (f"; {unreadable} row(s) of the file could not be read and were quarantined "
                    f"(quality.issue rule {ROWS_LOST_RULE}: each names its line)")
    store.write_status(status, message, snapshot_version=version, run_id=run_id, answered=True,
                       records_in=records_in, records_quarantined=quarantined)
    return SourceReport(source.id, source.kind, status, "" if status == "ok" else message, version,
                        records_in=records_in, records_quarantined=quarantined, seconds=time.monotonic() - started)


def refresh_source(source: Source, state_dir: Path, run_id: str, full_reread: bool = False) -> SourceReport:
    """Both per-source steps: harvest, then, when the harvest completed, normalise and promote."""
    report = harvest_source(source, state_dir, run_id, full_reread=full_reread)
    if report.status != "ok":
        return report
    return normalise_source(source, state_dir, report.version, run_id)


@functools.lru_cache(maxsize=4)
def _sources_of(sources_file: str, mtime_ns: int):
    return load_sources(sources_file)


def _refresh_source_in_worker(sources_file: str, state_dir: str, source_id: str, run_id: str,
                              full_reread: bool) -> SourceReport:
    # A worker reads the sources file once, not once per source: national runs have 200 sources.
    config = _sources_of(sources_file, Path(sources_file).stat().st_mtime_ns)
    source = config.get(source_id)
    try:
        return refresh_source(source, Path(state_dir), run_id, full_reread)
    except Exception as exc:  # e.g. a full disk while writing the snapshot: this source fails, the night goes on
        message = storage_problem(exc)
        log.debug("refreshing %s failed:\n%s", source_id, traceback.format_exc())
        try:
            store = SourceStore(Path(state_dir), source_id)
            cur = store.current()
            store.write_status("failed", message + (f"; keeping the snapshot of {cur.version}" if cur else ""),
                               snapshot_version=cur.version if cur else None, run_id=run_id)
        except Exception:  # the same fault (a full disk) can stop the status being written too
            pass
        return SourceReport(source_id, source.kind, "failed", message)


def refresh_sources(sources_file: str, state_dir: Path, source_ids: list[str], run_id: str,
                    workers: int = 1, full_reread: bool = False) -> list[SourceReport]:
    """Every source, ``workers`` at a time in worker processes. A failed source is recorded in its
    status and the rest go on. Each source writes only its own snapshot files, so workers never
    contend for a DuckDB writer. The workers die with the run (see ``_worker_start``)."""
    args = [(str(sources_file), str(state_dir), sid, run_id, full_reread) for sid in source_ids]
    if workers <= 1 or len(source_ids) <= 1:
        return [_refresh_source_in_worker(*a) for a in args]
    # forkserver: workers start clean (no inherited DuckDB handles, threads or the run lock's file),
    # once each, and import only the connectors, not Dagster.
    ctx = multiprocessing.get_context("forkserver")
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(workers, len(source_ids)), mp_context=ctx,
                                                initializer=_worker_start, initargs=(os.getpid(),)) as pool:
        return list(pool.map(_refresh_source_in_worker, *zip(*args)))


WORKER_WATCH_SECONDS = 0.5  # how often a worker looks for its run (PR_SET_PDEATHSIG acts at once)


def _worker_start(run_pid: int) -> None:
    """In each worker: die with the run. The kernel kills the worker when its parent (the pool's
    fork server, which exits when the run does) dies; a thread also checks every half second
    that the run lives; and every promotion or state write checks it first (warehouse/state.py),
    so a worker never writes once the next run may hold the lock."""
    work_for_run(run_pid)
    _kill_me_with_my_parent()
    ensure_run_alive()  # the parent may have died before the line above took effect

    def watch() -> None:
        while True:
            time.sleep(WORKER_WATCH_SECONDS)
            if not run_alive():
                os._exit(RUN_GONE_EXIT)

    threading.Thread(target=watch, name="run-watch", daemon=True).start()


def _kill_me_with_my_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass  # not Linux: the watching thread and the write checks remain
