"""Per-source snapshots: the last good harvest of each source, kept until a better one exists.

Each source has its own folder under the state directory (warehouse/state.py)::

    <state>/sources/<source_id>/
        snapshots/<version>.duckdb   raw.record, staging.*, quality.issue, meta.* of one harvest
        CURRENT                      the version in force (replaced atomically)
        status.json                  the last attempt: when, how it went, why

A harvest writes a new ``<version>.duckdb.partial`` file. Only a complete harvest that was
normalised is promoted (renamed, then CURRENT switched); a partial or failed one is thrown away
and the previous snapshot stays in force. Each source writes only its own files, so sources can
run in parallel processes without contending for one DuckDB writer lock.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import duckdb
import pandas as pd

from warehouse.model import ORUK_TABLES, staging_columns
from warehouse.schema import QUALITY_ISSUE_DDL, RAW_RECORD_DDL, create_staging_tables
from warehouse.state import atomic_write_text, ensure_run_alive, failpoint, fsync_dir, source_dir, utcnow

KEEP_SNAPSHOTS = 3
FULL_HARVEST_MARK = "NEEDS_FULL_HARVEST"
ACCEPT_SHRINK_MARK = "ACCEPT_NEXT_SHRINK"  # `placecat accept` with no harvest held: take the next one
HELD_DIR = "held"                          # a harvest held back by the shrink guard, kept for `accept`
_RAW_BATCH = 5000


def new_version() -> str:
    return utcnow().strftime("%Y%m%dT%H%M%S%fZ")


class SnapshotUnreadable(Exception):
    """A snapshot file that DuckDB cannot open or read (truncated, overwritten, not DuckDB)."""


@dataclass
class SnapshotInfo:
    source_id: str
    version: str
    path: Path
    meta: dict[str, Any]
    note: str = ""  # why an older snapshot is in force (the newer one is unreadable)

    @property
    def harvested_at(self) -> dt.datetime | None:
        v = self.meta.get("harvested_at")
        return dt.datetime.fromisoformat(v) if v else None


def read_snapshot_meta(path: Path) -> dict[str, Any]:
    """meta.info of a snapshot file; SnapshotUnreadable with one line when the file is damaged.

    Remembered per file (path, inode, size, modification and change times) for the life of the
    process: a refresh reads its source's snapshot in force two or three times, and each read opens
    a DuckDB file (about 50 ms: most of the cost of an unchanged source). Promoted snapshot files
    are never rewritten; any write to one changes its change time (which, unlike the modification
    time, cannot be set back), so it is read afresh.
    """
    try:
        st = os.stat(path)
        key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    except OSError:
        key = None
    if key is not None and key in _META_CACHE:
        return copy.deepcopy(_META_CACHE[key])
    meta = _read_snapshot_meta(path)
    if key is not None:
        if len(_META_CACHE) > 1000:
            _META_CACHE.clear()
        _META_CACHE[key] = copy.deepcopy(meta)
    return meta


_META_CACHE: dict[tuple, dict[str, Any]] = {}


def _read_snapshot_meta(path: Path) -> dict[str, Any]:
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            meta = dict(con.execute("SELECT key, value FROM meta.info").fetchall())
    except (duckdb.Error, OSError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise SnapshotUnreadable(f"snapshot {path} is unreadable ({first[:160]})") from None
    return {k: json.loads(v) for k, v in meta.items()}


class SourceStore:
    """The files of one source under the state directory."""

    def __init__(self, state_dir: Path, source_id: str):
        self.source_id = source_id
        self.root = source_dir(state_dir, source_id)
        self.snapshots = self.root / "snapshots"

    def ensure(self) -> None:
        self.snapshots.mkdir(parents=True, exist_ok=True)

    # -- what is in force ---------------------------------------------------------------
    def current(self) -> SnapshotInfo | None:
        """The snapshot in force: CURRENT, or the newest readable older one if CURRENT is unreadable."""
        for info in self.candidates():
            return info
        return None

    def candidates(self):
        """Readable snapshots, the one in force first, then older ones, newest first.

        A corrupted or truncated snapshot file is skipped with a note naming it, so a source is
        served from its previous good harvest rather than failing the whole night.
        """
        pointer = self.root / "CURRENT"
        if not pointer.exists():
            return
        version = pointer.read_text().strip()
        versions = [version] + sorted((p.name[:-len(".duckdb")] for p in self.snapshots.glob("*.duckdb")
                                       if p.name[:-len(".duckdb")] < version), reverse=True)
        notes: list[str] = []
        for v in versions:
            path = self.snapshots / f"{v}.duckdb"
            if not path.exists():
                notes.append(f"snapshot {path} is missing")
                continue
            try:
                meta = read_snapshot_meta(path)
            except SnapshotUnreadable as exc:
                notes.append(str(exc))
                continue
            yield SnapshotInfo(self.source_id, v, path, meta, note="; ".join(notes))
            notes = []

    def harvest_state(self) -> dict:
        """What the last promoted harvest left for the next one (ETags, page hashes, RPDE next)."""
        cur = self.current()
        if cur is None or cur.note or (self.root / FULL_HARVEST_MARK).exists():
            # The snapshot in force is missing or damaged: harvest afresh so a good one replaces it.
            return {}
        return dict(cur.meta.get("harvest_state") or {})

    # -- the last attempt ----------------------------------------------------------------
    def write_status(self, status: str, message: str = "", answered: bool | None = None, **extra: Any) -> dict:
        """Record this attempt. ``answered``: the source gave a harvest that was promoted (default:
        for ok and unchanged; a degraded harvest that was promoted all the same says so)."""
        self.ensure()
        now = utcnow().isoformat()
        # When the source last answered properly: staleness counts from here, not from the last
        # content change (an unchanged source re-confirms its snapshot every night).
        answered = status in ("ok", "unchanged") if answered is None else answered
        last_good = now if answered else (self.read_status() or {}).get("last_good_at")
        doc = {"source_id": self.source_id, "status": status, "message": message,
               "attempted_at": now, "last_good_at": last_good, **extra}
        atomic_write_text(self.root / "status.json", json.dumps(doc, default=str, indent=1))
        return doc

    def read_status(self) -> dict | None:
        p = self.root / "status.json"
        if not p.exists():
            return None
        try:
            return json.loads(p.read_text())
        except json.JSONDecodeError:
            return None

    # -- writing a new one -------------------------------------------------------------
    def begin(self, carry_forward_raw: bool = False) -> "SnapshotWriter":
        self.ensure()
        return SnapshotWriter(self, new_version(), self.current() if carry_forward_raw else None)

    def open_pending(self, version: str) -> "SnapshotWriter":
        """Reopen a partial snapshot written by an earlier step (the harvest) to normalise it."""
        return SnapshotWriter(self, version, None, reopen=True)

    def promote(self, version: str) -> None:
        partial = self.snapshots / f"{version}.duckdb.partial"
        final = self.snapshots / f"{version}.duckdb"
        with open(partial, "rb+") as f:
            os.fsync(f.fileno())
        ensure_run_alive()
        os.replace(partial, final)
        fsync_dir(self.snapshots)
        atomic_write_text(self.root / "CURRENT", version + "\n")
        (self.root / FULL_HARVEST_MARK).unlink(missing_ok=True)
        shutil.rmtree(self.root / HELD_DIR, ignore_errors=True)  # a harvest held earlier is superseded
        self.prune()

    # -- harvests held back by the shrink guard (connectors/shrink.py) ------------------------
    def hold(self, version: str) -> Path:
        """Keep a finished harvest aside instead of promoting it: the snapshot in force stays in
        force. Only the newest held harvest is kept (``placecat accept`` promotes it)."""
        partial = self.snapshots / f"{version}.duckdb.partial"
        held_dir = self.root / HELD_DIR
        held_dir.mkdir(parents=True, exist_ok=True)
        target = held_dir / f"{version}.duckdb"
        with open(partial, "rb+") as f:
            os.fsync(f.fileno())
        ensure_run_alive()
        os.replace(partial, target)
        for older in held_dir.glob("*.duckdb"):
            if older != target:
                older.unlink()
        fsync_dir(held_dir)
        return target

    def held(self) -> SnapshotInfo | None:
        """The harvest held back by the shrink guard, if any (and readable)."""
        files = sorted((self.root / HELD_DIR).glob("*.duckdb"))
        if not files:
            return None
        try:
            return SnapshotInfo(self.source_id, files[-1].stem, files[-1], read_snapshot_meta(files[-1]))
        except SnapshotUnreadable:
            return None

    def accept_held(self) -> SnapshotInfo | None:
        """Put the held harvest in force (it becomes the snapshot the next build serves)."""
        held = self.held()
        if held is None:
            return None
        self.ensure()
        final = self.snapshots / f"{held.version}.duckdb"
        os.replace(held.path, final)
        fsync_dir(self.snapshots)
        atomic_write_text(self.root / "CURRENT", held.version + "\n")
        self.prune()
        return SnapshotInfo(self.source_id, held.version, final, held.meta)

    def accept_next_shrink(self, reason: str) -> None:
        self.ensure()
        atomic_write_text(self.root / ACCEPT_SHRINK_MARK, reason + "\n")

    def take_accept_mark(self) -> str | None:
        """The reason given by `placecat accept` for the next shrink, consumed (None: none given)."""
        mark = self.root / ACCEPT_SHRINK_MARK
        if not mark.exists():
            return None
        reason = mark.read_text().strip()
        mark.unlink()
        return reason or "placecat accept"

    def request_full_harvest(self, reason: str) -> None:
        """A damaged file can keep a readable header, so its harvest state may look usable while
        its data is not: the next harvest must ignore that state and fetch everything."""
        self.ensure()
        atomic_write_text(self.root / FULL_HARVEST_MARK, reason + "\n")

    def discard(self, version: str) -> None:
        for suffix in (".duckdb.partial", ".duckdb.partial.wal"):
            p = self.snapshots / f"{version}{suffix}"
            if p.exists():
                p.unlink()

    def prune(self, keep: int = KEEP_SNAPSHOTS) -> None:
        cur = (self.root / "CURRENT").read_text().strip() if (self.root / "CURRENT").exists() else None
        finals = sorted(self.snapshots.glob("*.duckdb"))
        for p in finals[:-keep]:
            if p.stem != cur:
                p.unlink()
        # Partial files older than a day are leftovers of killed runs.
        cutoff = utcnow().timestamp() - 86400
        for p in self.snapshots.glob("*.partial*"):
            if p.stat().st_mtime < cutoff:
                p.unlink()

    def drop(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class SnapshotWriter:
    """A snapshot being written. Raw records first (harvest), then staging rows (normalise)."""

    def __init__(self, store: SourceStore, version: str, base: SnapshotInfo | None, reopen: bool = False):
        self.store = store
        self.version = version
        self.path = store.snapshots / f"{version}.duckdb.partial"
        if not reopen and self.path.exists():
            self.path.unlink()
        self.raw_batch = _RAW_BATCH  # records buffered before they are written
        self.raw_flushes = 0         # batches handed to DuckDB so far
        self._raw = self._empty_raw_buffer()
        # A full batch is written by a thread of its own while the harvest goes on (DuckDB lets go
        # of the interpreter lock while it inserts and checkpoints); one batch at a time, in order.
        self._raw_writer: ThreadPoolExecutor | None = None
        self._raw_pending: Future | None = None
        # The file is made on first use: most sources are unchanged on most nights, and an unchanged
        # harvest then costs no snapshot file, no tables and (for RPDE) no copy of the last raw records.
        self._con: duckdb.DuckDBPyConnection | None = None
        self._base, self._reopen = base, reopen
        if reopen:
            self._open()

    def _open(self) -> duckdb.DuckDBPyConnection:
        if self._con is not None:
            return self._con
        con = duckdb.connect(str(self.path))
        if not self._reopen:
            for schema in ("raw", "staging", "quality", "meta"):
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            con.execute(RAW_RECORD_DDL)
            con.execute(QUALITY_ISSUE_DDL)
            con.execute("CREATE TABLE IF NOT EXISTS meta.info (key VARCHAR PRIMARY KEY, value JSON)")
            create_staging_tables(con)
            if self._base is not None:
                # Incremental sources (RPDE) read only what changed: start from the last good raw.
                con.execute(f"ATTACH '{self._base.path}' AS base (READ_ONLY)")
                con.execute("INSERT INTO raw.record SELECT * FROM base.raw.record")
                con.execute("DETACH base")
        self._con = con
        return con

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The snapshot's connection, once any raw batch being written in the background is in."""
        self._wait_raw()
        return self._open()

    # -- raw ---------------------------------------------------------------------------
    def put_raw(self, record_id: str, record_type: str, payload: Any, fetched_from: str) -> None:
        """Buffer one raw record; every ``raw_batch`` records go to DuckDB together (written by the
        writer thread while the next batch fills), so a harvest holds at most two batches in
        memory whatever the size of the source."""
        self.put_raw_many([(record_id, record_type, payload)], fetched_from)

    def put_raw_many(self, records: list[tuple[str, str, Any]], fetched_from: str) -> None:
        """``put_raw`` for the (record_id, record_type, payload) records of one page, with one
        fetch time for them all."""
        now = utcnow()
        buf = self._raw
        for record_id, record_type, payload in records:
            buf["record_id"].append(str(record_id))
            buf["record_type"].append(record_type)
            buf["payload"].append(payload if isinstance(payload, str) else
                                  json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
            buf["fetched_from"].append(fetched_from)
            buf["fetched_at"].append(now)
            if len(buf["record_id"]) >= self.raw_batch:
                self._flush_raw_behind()
                buf = self._raw

    def clear_raw(self) -> None:
        """Forget every raw record written so far (a harvest that starts again)."""
        self.flush_raw()
        if self._con is not None:
            self._con.execute("DELETE FROM raw.record")

    def delete_raw(self, record_id: str) -> None:
        self.flush_raw()
        self.con.execute("DELETE FROM raw.record WHERE record_id = ?", [str(record_id)])

    def delete_raw_many(self, record_ids) -> None:
        """Delete many records in one statement (an RPDE page can carry hundreds of tombstones)."""
        ids = [str(r) for r in record_ids]
        if ids:
            self.flush_raw()
            self.con.execute("DELETE FROM raw.record WHERE record_id IN (SELECT unnest(?::VARCHAR[]))", [ids])

    def _empty_raw_buffer(self) -> dict[str, list]:
        return {c: [] for c in ("record_id", "record_type", "payload", "fetched_from", "fetched_at")}

    def flush_raw(self) -> None:
        """Write the buffered raw records now (and whatever batch is still being written)."""
        self._flush_raw_behind()
        self._wait_raw()

    def _flush_raw_behind(self) -> None:
        """Hand the buffered raw records to the writing thread, and go on."""
        if not self._raw["record_id"]:
            return
        df = pd.DataFrame({"source_id": self.store.source_id, **self._raw})
        self._raw = self._empty_raw_buffer()
        self.raw_flushes += 1
        self._wait_raw()  # one batch in flight: memory stays bounded and batches land in order
        self._open()      # here, in the harvesting thread, not in the writer thread
        if self._raw_writer is None:
            self._raw_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raw-writer")
        self._raw_pending = self._raw_writer.submit(self._write_raw, df)

    def _wait_raw(self) -> None:
        pending, self._raw_pending = self._raw_pending, None
        if pending is not None:
            pending.result()  # a failed write is raised here, in the harvesting thread

    def _write_raw(self, df: pd.DataFrame) -> None:
        con = self._con
        # A record seen again replaces its earlier version (latest wins).
        con.execute("DELETE FROM raw.record WHERE record_id IN (SELECT record_id FROM df)")
        df = df.drop_duplicates("record_id", keep="last")
        # md5 of the payload's UTF-8 bytes, as hashlib would give, computed by DuckDB.
        con.execute("INSERT INTO raw.record BY NAME SELECT *, md5(payload) AS content_hash FROM df")
        failpoint("harvest")

    def raw_count(self) -> int:
        self.flush_raw()
        return self.con.execute("SELECT count(*) FROM raw.record").fetchone()[0]

    def iter_raw(self, batch: int = 2000) -> Iterator[tuple[str, str, str, str]]:
        """(record_id, record_type, payload JSON text, fetched_from), in a stable order."""
        self.flush_raw()
        cur = self.con.cursor()
        cur.execute("SELECT record_id, record_type, payload, fetched_from FROM raw.record ORDER BY record_type, record_id")
        while True:
            rows = cur.fetchmany(batch)
            if not rows:
                break
            yield from rows

    # -- staging -------------------------------------------------------------------------
    def write_staging(self, tables: Iterable[tuple[str, list[dict]]], issues: list[dict]) -> dict[str, int]:
        """Replace the snapshot's staging rows (``tables``: table name and its rows, as a
        normaliser's ``StagingRows.tables()`` gives them) and its record-level issues
        (``quality.issue`` rows)."""
        counts: dict[str, int] = {}
        for table in ORUK_TABLES:
            self.con.execute(f"DELETE FROM staging.{table}")
        for table, rs in tables:
            cols = [c for c, _ in staging_columns(table)]
            df = pd.DataFrame(rs, columns=cols)
            df = df.astype(object).where(df.notna(), None)
            self.con.execute(f"INSERT INTO staging.{table} BY NAME SELECT * FROM df")
            counts[table] = len(rs)
        self.con.execute("DELETE FROM quality.issue")
        if issues:
            idf = pd.DataFrame(issues)
            self.con.execute("INSERT INTO quality.issue BY NAME SELECT * FROM idf")
        return counts

    def get_meta(self, key: str) -> Any:
        row = self.con.execute("SELECT value FROM meta.info WHERE key = ?", [key]).fetchone()
        return json.loads(row[0]) if row and row[0] is not None else None

    def set_meta(self, **items: Any) -> None:
        for k, v in items.items():
            self.con.execute("INSERT OR REPLACE INTO meta.info VALUES (?, ?)", [k, json.dumps(v, default=str)])

    def close(self) -> None:
        self.flush_raw()
        self._stop_raw_writer()
        con = self._open()
        con.execute("CHECKPOINT")
        con.close()

    def _stop_raw_writer(self) -> None:
        if self._raw_writer is not None:
            self._raw_writer.shutdown(wait=True)
            self._raw_writer = None

    def commit(self) -> None:
        self.close()
        self.store.promote(self.version)

    def abandon(self) -> None:
        try:
            try:
                self._wait_raw()
            except Exception:  # noqa: BLE001 - the snapshot is being thrown away anyway
                pass
            self._stop_raw_writer()
            if self._con is not None:
                self._con.close()
        finally:
            self.store.discard(self.version)
