"""The state folder beside the catalogue, ``<db>.state/`` (or ``$PLACECAT_STATE``): its layout,
its run lock, and the crash-safe writes every file in it is made with.

    <state>/
        run.lock                         one nightly build per catalogue at a time
        sources/<source_id>/             each source's snapshots (warehouse/snapshots.py)
        build/<run_id>.duckdb            the catalogue being built tonight (warehouse/build.py)
        published/night-before.duckdb    the catalogue replaced last, kept as a hard link
        reference.duckdb                 postcodes, areas, deprivation (warehouse/reference.py)

Everything under it is private to placecat: it holds raw and staging data as sources sent them.
A file is written under a temporary name, fsynced and renamed, so a run killed at any point
leaves either the old file or the new one.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import os
import time
from pathlib import Path
from typing import Iterator

STATE_ENV = "PLACECAT_STATE"
RUN_LOCK = "run.lock"
SOURCES_DIR = "sources"
BUILD_DIR = "build"
PUBLISHED_DIR = "published"
NIGHT_BEFORE = "night-before.duckdb"
REFERENCE_FILE = "reference.duckdb"


class PublishError(RuntimeError):
    """The catalogue could not be built or published; one line for the user."""


def state_dir_for(db_path: Path) -> Path:
    """The state folder of the catalogue ``db_path``: ``$PLACECAT_STATE``, else ``<db>.state``."""
    env = os.environ.get(STATE_ENV)
    return Path(env) if env else Path(db_path).with_name(Path(db_path).name + ".state")


def source_dir(state_dir: Path, source_id: str) -> Path:
    return Path(state_dir) / SOURCES_DIR / source_id


def build_file(state_dir: Path, run_id: str) -> Path:
    return Path(state_dir) / BUILD_DIR / f"{run_id}.duckdb"


def night_before_file(state_dir: Path) -> Path:
    return Path(state_dir) / PUBLISHED_DIR / NIGHT_BEFORE


def reference_file(state_dir: Path) -> Path:
    return Path(state_dir) / REFERENCE_FILE


@contextlib.contextmanager
def run_lock(state_dir: Path) -> Iterator[None]:
    """One nightly build per catalogue at a time; a second one refuses at once."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublishError(f"{state_dir}: cannot create the state directory ({exc.strerror}); choose another --db "
                           f"location or set PLACECAT_STATE; nothing was changed") from None
    lock_path = state_dir / RUN_LOCK
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise PublishError(f"{lock_path}: cannot write the run lock ({exc.strerror}); placecat needs a writable "
                           f"state directory beside --db (or set PLACECAT_STATE); nothing was changed") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                holder = lock_path.read_text().strip() or "another process"
                raise PublishError(f"{lock_path}: another placecat run holds the lock ({holder}); wait for it to finish") from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} since {utcnow().isoformat(timespec='seconds')}Z".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)


def failpoint(name: str) -> None:
    """A rehearsal hook for the failure tests (tests/pipelines/test_nightly_{kill,stale,storage}.py), off unless asked for.

    ``PLACECAT_FAILPOINT=NAME@MARKER`` makes the process that reaches failpoint NAME write its pid
    to the file MARKER and wait there, so a test can ``kill -9`` it at exactly that stage. Names:
    ``harvest`` (raw records half written), ``build`` (the catalogue build half loaded),
    ``publish`` (the build finished, just before the atomic swap).
    """
    spec = os.environ.get("PLACECAT_FAILPOINT")
    if not spec or spec.partition("@")[0] != name:
        return
    Path(spec.partition("@")[2]).write_text(str(os.getpid()))
    while True:  # held here until the test kills the run
        time.sleep(0.05)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- worker processes write only while their run lives ------------------------------------------------
# A night with --workers harvests in worker processes. If the run is killed, a worker must neither
# outlive it nor write: the next run may already hold the lock (a killed run's worker once replaced
# a source snapshot under the next run). The run's workers record the run's pid here
# (connectors/refresh.py), and every promotion and state-file write checks it first.
RUN_GONE_EXIT = 75   # a worker that found its run gone exits with this code, having written nothing
_run_owner: int | None = None
_run_parent: int | None = None


def work_for_run(owner_pid: int) -> None:
    """Mark this process as a worker of the run ``owner_pid`` (its parent now is the pool's)."""
    global _run_owner, _run_parent
    _run_owner, _run_parent = owner_pid, os.getppid()


def run_alive() -> bool:
    """True unless this is a worker whose run has died (its parent changed, or the run's process
    is gone or a zombie)."""
    if _run_owner is None:
        return True
    if os.getppid() != _run_parent:
        return False
    try:
        os.kill(_run_owner, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{_run_owner}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return True  # no /proc: the signal test above is all there is


def ensure_run_alive() -> None:
    """Exit at once (writing nothing) when this is a worker whose run has died."""
    if not run_alive():
        os._exit(RUN_GONE_EXIT)


def atomic_write_text(path: Path, text: str) -> None:
    ensure_run_alive()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def storage_problem(exc: BaseException) -> str:
    """One line for a failed write: a full disk is named as such."""
    text = (str(exc).splitlines() or [type(exc).__name__])[0]
    if "No space left" in text or getattr(exc, "errno", None) == errno.ENOSPC:
        return "the disk is full: free some space and re-run"
    return text[:200]


class NoCatalogue(LookupError):
    """A command that reads a catalogue was given a path with none: a user's mistake, which
    `placecat` reports in one line with exit 2 (pipelines/cli.py)."""


def existing_catalogue(db: str | Path) -> Path:
    """``db`` as a path, when a catalogue is there; else NoCatalogue, saying the same thing for
    every command that reads one."""
    db_path = Path(db)
    if not db_path.exists():
        raise NoCatalogue(f"{db_path}: no such catalogue; run `placecat run --sources FILE --db {db_path}` first")
    return db_path
