"""Building the catalogue database for one run, and publishing it atomically.

The published catalogue (``--db FILE``) is never written in place. Each run builds a new DuckDB
file under ``<db>.state/build/`` (warehouse/state.py): it copies forward the history tables of the
published file (runs, source status, scorecards, change feed); the night then loads every source's
snapshot in force into ``staging`` (pipelines/loading.py) and later stages add quality, catalogue,
gap and publish tables. Publishing is a
checkpoint, an fsync and one ``os.replace``, so a run killed at any point leaves the previous
catalogue intact and served.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse.reference import copy_reference_into
from warehouse.integrity import seal, verify
from warehouse.release import internal_path, write_public_copy
from warehouse.schema import create_all
from warehouse.state import (PublishError, build_file, failpoint, fsync_dir, night_before_file, state_dir_for,
                             storage_problem, utcnow)

# Tables whose rows accumulate night after night; each run copies them forward.
HISTORY_TABLES = ("ops.run", "ops.source_status", "publish.change", "quality.source_health")
# The previous run's results that matching and the change feed compare against.
PREVIOUS_TABLES = ("catalogue.service", "catalogue.service_source", "catalogue.replaced_by",
                   "publish.service_digest",
                   # incremental matching (dedupe.nightly_match): last run's keys, scored pairs and model
                   "catalogue.match_record", "catalogue.match_pair", "catalogue.match_model",
                   "catalogue.match_cluster", "catalogue.match_block_key")
ISSUE_HISTORY_RUNS = 30


@dataclass
class Build:
    db_path: Path
    run_id: str

    @property
    def state_dir(self) -> Path:
        return state_dir_for(self.db_path)

    @property
    def path(self) -> Path:
        return build_file(self.state_dir, self.run_id)

    def connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        if not self.path.exists():
            raise PublishError(f"{self.path}: no catalogue build for run {self.run_id}; materialise the staging asset of this run first")
        return connect_build(self.path, read_only=read_only)


# DuckDB's own memory for a build: cached blocks of the file, hash tables, sorts, temporary tables.
# Past the limit it evicts cached blocks and spills the rest to <build>.duckdb.tmp beside the file
# (DuckDB's default temporary directory for a database file). DuckDB's default limit is 80% of
# the machine's memory, and it keeps what it has read cached up to it, so the catalogue stage of
# a national night grew with the catalogue. Memory held in Python (pandas, GX) is not counted.
MEMORY_LIMIT_ENV = "PLACECAT_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "3GB"


def connect_build(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to a catalogue build file, as every stage of the nightly job opens it, with
    DuckDB's memory limit set (PLACECAT_DUCKDB_MEMORY_LIMIT, e.g. 3GB or 500MB; default 3GB)."""
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        set_memory_limit(con)
    except PublishError:
        con.close()
        raise
    return con


def set_memory_limit(con: duckdb.DuckDBPyConnection, default: str = DEFAULT_MEMORY_LIMIT) -> None:
    """DuckDB's memory limit from PLACECAT_DUCKDB_MEMORY_LIMIT, else ``default``; a value DuckDB
    cannot read is a PublishError of one line naming the variable."""
    limit = os.environ.get(MEMORY_LIMIT_ENV, "").strip() or default
    try:
        # SET, not connect(config=...): DuckDB refuses a second connection to the same file in
        # this process with a configuration different from the first's.
        con.execute("SET memory_limit = ?", [limit])
    except duckdb.Error as exc:
        raise PublishError(f"{MEMORY_LIMIT_ENV}={limit!r} is not a memory size DuckDB accepts "
                           f"({str(exc).splitlines()[0]}); give one such as 3GB or 500MB") from None


def _remove_leftovers(build_dir: Path) -> None:
    for stale in build_dir.glob("*.duckdb*"):
        # Leftovers of killed runs: never published, safe to remove (a directory is DuckDB's spill).
        shutil.rmtree(stale) if stale.is_dir() else stale.unlink()


def _check_writable(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(path.parent, os.W_OK):
        raise PublishError(f"{path.parent}: directory is not writable; choose another --db location or fix its permissions")


def open_previous(db_path: Path) -> duckdb.DuckDBPyConnection | None:
    if not db_path.exists():
        return None
    try:
        con = duckdb.connect(str(db_path), read_only=True)
        block_size, blocks = con.execute("SELECT block_size, total_blocks FROM pragma_database_size()").fetchone()
        if db_path.stat().st_size < block_size * blocks:
            con.close()  # a truncated file opens, and fails only when a missing block is read
            raise duckdb.IOException(f"the file is shorter than the {blocks} blocks it holds: it was truncated")
        return con
    except duckdb.Error as exc:
        raise PublishError(
            f"{db_path}: the published catalogue cannot be opened ({str(exc).splitlines()[0]}); "
            f"run `placecat recover --db {db_path}` to restore the newest good catalogue with its run history"
        ) from None


def previous_full_build(db_path: Path) -> Path:
    """The file holding everything last night built: the internal catalogue in the state folder
    when it belongs to the published catalogue's latest run, else the published file itself (a
    catalogue published before the privacy boundary, or an internal file lost: the next night then
    matches in full and copies the history the published file has)."""
    internal = internal_path(state_dir_for(db_path))
    if not internal.exists() or not db_path.exists():
        return db_path
    try:
        latest = []
        for path in (db_path, internal):
            with duckdb.connect(str(path), read_only=True) as con:
                latest.append(con.execute("SELECT max_by(run_id, started_at) FROM ops.run WHERE status = 'published'")
                              .fetchone()[0])
    except duckdb.Error:
        return db_path
    return internal if latest[0] == latest[1] else db_path


def check_previous(db_path: Path) -> None:
    """Before anything is copied from last night's catalogues (the published one and the internal
    one), both must be as they were published (warehouse/integrity.py): a damaged file is never
    copied forward. `placecat run` repairs them first (warehouse/recover.py); this is the guard."""
    state_dir = state_dir_for(db_path)
    for path, role in ((internal_path(state_dir), "internal"), (db_path, "public")):
        if path.exists():
            verdict = verify(state_dir, path, role)
            if not verdict.good:
                raise PublishError(f"{path}: damaged ({verdict.problem}); nothing was copied from it. Run "
                                   f"`placecat recover --db {db_path}` to restore the newest good catalogue with its "
                                   f"run history, then run again")


def start_build(db_path: Path, run_id: str) -> Build:
    """Create this run's build file with empty schemas and the history copied forward."""
    build = Build(db_path, run_id)
    _check_writable(db_path)
    check_previous(db_path)
    build.path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(build.path.parent)
    for stale in db_path.parent.glob(f".{db_path.name}.*.tmp"):
        # A copy to another file system that a killed run never renamed into place.
        stale.unlink()
    try:
        con = connect_build(build.path)
    except duckdb.Error as exc:
        build.path.unlink(missing_ok=True)
        raise PublishError(f"{build.path}: cannot create the build file ({storage_problem(exc)}); "
                           f"the published catalogue is unchanged") from None
    try:
        _fill_new_build(con, db_path, run_id)
    except (duckdb.Error, OSError) as exc:
        con.close()
        build.path.unlink(missing_ok=True)
        raise PublishError(f"{build.path}: cannot write the catalogue build ({storage_problem(exc)}); "
                           f"the published catalogue is unchanged") from None
    return build


def start_copy_build(db_path: Path, run_id: str) -> Build:
    """This run's build as a copy of the published catalogue, with this run's ops.run row.

    For a night whose inputs are those the published catalogue was built from
    (pipelines/unchanged.py): the copy is published like any build, so publishing stays atomic.
    """
    build = Build(db_path, run_id)
    _check_writable(db_path)
    build.path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(build.path.parent)
    open_previous(db_path).close()  # a damaged catalogue is named in one line, not copied
    check_previous(db_path)
    full = previous_full_build(db_path)
    if full == db_path and internal_path(build.state_dir).exists():
        raise PublishError(f"{internal_path(build.state_dir)}: does not belong to the published catalogue; "
                           f"re-run with --rebuild-after-days 0 to rebuild it")
    try:
        shutil.copyfile(full, build.path)
        with connect_build(build.path) as con:
            con.execute("INSERT INTO ops.run (run_id, started_at, status) VALUES (?, ?, 'building')",
                        [run_id, utcnow()])
            con.execute("CHECKPOINT")
    except (duckdb.Error, OSError) as exc:
        build.path.unlink(missing_ok=True)
        raise PublishError(f"{build.path}: cannot write the catalogue build ({storage_problem(exc)}); "
                           f"the published catalogue is unchanged") from None
    return build


def _fill_new_build(con: duckdb.DuckDBPyConnection, db_path: Path, run_id: str) -> None:
    with con:
        create_all(con)
        # Reference data (ref.*) persists in <state>/reference.duckdb; every build carries a copy.
        copy_reference_into(con, db_path)
        con.execute("CREATE SCHEMA IF NOT EXISTS previous")
        if db_path.exists():
            prev = open_previous(db_path)
            prev.close()
            con.execute(f"ATTACH '{previous_full_build(db_path)}' AS pub (READ_ONLY)")
            existing = {f"{s}.{t}" for s, t in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'pub'").fetchall()}
            for table in HISTORY_TABLES:
                if table in existing:
                    _copy_table(con, f"pub.{table}", table)
            if "quality.issue" in existing:
                con.execute(f"""
                    INSERT INTO quality.issue BY NAME SELECT * FROM pub.quality.issue WHERE run_id IN (
                      SELECT run_id FROM pub.ops.run ORDER BY started_at DESC LIMIT {ISSUE_HISTORY_RUNS - 1})""")
            for table in PREVIOUS_TABLES:
                if table in existing:
                    name = table.split(".")[1]
                    con.execute(f"CREATE TABLE previous.{name} AS SELECT * FROM pub.{table}")
            con.execute("DETACH pub")
        con.execute("INSERT INTO ops.run (run_id, started_at, status) VALUES (?, ?, 'building')",
                    [run_id, utcnow()])
        con.execute("CHECKPOINT")


def _copy_table(con: duckdb.DuckDBPyConnection, src: str, dst: str) -> None:
    schema, name = dst.split(".")
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                         "AND schema_name = ? AND table_name = ?", [schema, name]).fetchone()[0]
    if exists:
        con.execute(f"INSERT INTO {dst} BY NAME SELECT * FROM {src}")
    else:
        con.execute(f"CREATE TABLE {dst} AS SELECT * FROM {src}")


def keep_night_before(target: Path, state_dir: Path) -> None:
    """Hard-link the catalogue about to be replaced as ``<state>/published/night-before.duckdb``.

    No copy is made (the old file's blocks are kept rather than freed, so it costs one catalogue's
    worth of disk). It is the recovery path that keeps golden ids and history if the published file
    is later damaged (see docs/operations.md).
    """
    if not target.exists() or not verify(state_dir, target, "public").good:
        return  # a damaged file is never the backup: the one from an earlier night stays
    keep = night_before_file(state_dir)
    keep.parent.mkdir(parents=True, exist_ok=True)
    tmp = keep.with_name(f".{keep.stem}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.link(target, tmp)
    except OSError:
        return  # another file system, or links not allowed: the recovery path is the snapshots
    os.replace(tmp, keep)


def publish_build(build: Build, summary: dict) -> Path:
    """Swap the finished build in as the published catalogue, atomically."""
    try:
        with build.connect() as con:
            # The summary adds to what the build recorded already (its inputs, see load_snapshots).
            (recorded,) = con.execute("SELECT summary FROM ops.run WHERE run_id = ?", [build.run_id]).fetchone() or (None,)
            summary = {**(json.loads(recorded) if recorded else {}), **summary}
            con.execute("UPDATE ops.run SET finished_at = ?, status = 'published', summary = ? WHERE run_id = ?",
                        [utcnow(), json.dumps(summary, default=str), build.run_id])
            # An incremental night leaves views over last night's tables (the matcher's work.*, updated in
            # place); they would outlive the schema they read and fail whoever opens them.
            for schema, view in con.execute("""SELECT schema_name, view_name FROM duckdb_views()
                                               WHERE NOT internal AND database_name = current_database()
                                                 AND contains(sql, 'previous.')""").fetchall():
                con.execute(f'DROP VIEW "{schema}"."{view}"')
            con.execute("DROP SCHEMA IF EXISTS previous CASCADE")
            con.execute("CHECKPOINT")
    except duckdb.Error as exc:
        raise PublishError(f"{build.path}: could not finish the catalogue build ({storage_problem(exc)}); "
                           f"the previous catalogue is unchanged") from None
    target = build.db_path
    internal = internal_path(build.state_dir)
    # Written beside the build (a killed run's leftover is removed by the next one, see start_build).
    public = build.path.with_name(f"{build.run_id}.public.duckdb")
    try:
        with open(build.path, "rb+") as f:
            os.fsync(f.fileno())
        # The privacy boundary (warehouse/release.py): only publishable tables leave the state folder.
        write_public_copy(build.path, public)
        # Seals first (warehouse/integrity.py): a file in place is always one placecat can vouch for.
        seal(build.state_dir, build.path, build.run_id, "internal")
        seal(build.state_dir, public, build.run_id, "public")
        failpoint("publish")
        if target.parent.stat().st_dev != public.parent.stat().st_dev:
            if shutil.disk_usage(target.parent).free < public.stat().st_size:
                raise PublishError(f"{target.parent}: not enough free disk space to publish the catalogue")
            tmp = target.with_name(f".{target.name}.{build.run_id}.tmp")
            shutil.copyfile(public, tmp)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            public.unlink()
            public = tmp
        os.replace(build.path, internal)
        fsync_dir(internal.parent)
        keep_night_before(target, build.state_dir)
        os.replace(public, target)
        fsync_dir(target.parent)
    except duckdb.Error as exc:
        public.unlink(missing_ok=True)
        raise PublishError(f"{target}: could not write the published catalogue ({storage_problem(exc)}); "
                           f"the previous catalogue is unchanged") from None
    except OSError as exc:
        public.unlink(missing_ok=True)
        raise PublishError(f"{target}: could not publish the catalogue ({exc.strerror}); the previous catalogue is unchanged") from None
    return target
