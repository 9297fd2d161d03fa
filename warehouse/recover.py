"""`placecat recover --db FILE`: put the newest good catalogue back, with its run history.

The published catalogue and the internal one are checked against their seals
(warehouse/integrity.py). When the published file is damaged (changed after publishing, truncated,
unreadable), it is rebuilt from the newest good catalogue there is:

1. the internal catalogue (``<state>/internal.duckdb``) of the same night, when it is good: the
   published file is written afresh from it, exactly as publishing does, so nothing is lost;
2. else ``<state>/published/night-before.duckdb``, the catalogue published the night before, when
   it is good: golden ids, run history and the change feed up to that night come back, and the
   next night re-does what came after.

A damaged internal catalogue is moved aside (the next night then matches in full and copies the
history from the published one). Damaged files are kept as evidence under
``<state>/published/damaged/``, never used again. A night (`placecat run`) does the same before it
builds, so damage never reaches the backup or the next catalogue; the command is for between
nights (`placecat serve` reading a damaged file, say).
"""
from __future__ import annotations

import argparse
import errno
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from warehouse.integrity import Verdict, seal, verify
from warehouse.release import internal_path, write_public_copy
from warehouse.state import (PUBLISHED_DIR, PublishError, fsync_dir, night_before_file, run_lock, state_dir_for,
                             utcnow)

DAMAGED_DIR = "damaged"


@dataclass
class Recovery:
    changed: bool = False
    notes: list[str] = field(default_factory=list)  # one line each, for the night's summary or the command


def _latest_run(verdict: Verdict) -> str:
    return verdict.run_id or "an earlier run"


def move_aside(path: Path, state_dir: Path) -> Path:
    """Keep a damaged file as evidence, out of the way: ``<state>/published/damaged/<stamp>-<name>``
    (beside it, as ``<name>.damaged-<stamp>``, when the state folder is on another file system)."""
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    folder = Path(state_dir) / PUBLISHED_DIR / DAMAGED_DIR
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{stamp}-{path.name}"
    try:
        os.replace(path, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        target = path.with_name(f"{path.name}.damaged-{stamp}")
        os.replace(path, target)
    fsync_dir(target.parent)
    return target


def recover(db_path: Path, state_dir: Path | None = None) -> Recovery:
    """Check the published and internal catalogues; put the newest good one back where one is
    damaged. Raises PublishError (one line) when no good catalogue is left. The caller holds the
    run lock."""
    db_path = Path(db_path)
    state_dir = Path(state_dir or state_dir_for(db_path))
    out = Recovery()
    internal_file = internal_path(state_dir)
    internal = verify(state_dir, internal_file, "internal") if internal_file.exists() else None
    if internal is not None and not internal.good:
        aside = move_aside(internal_file, state_dir)
        out.changed = True
        out.notes.append(f"{internal_file}: damaged ({internal.problem}); moved to {aside}. Tonight matches in full "
                         f"and copies the history from the published catalogue")
        internal = None
    if not db_path.exists():
        return out
    published = verify(state_dir, db_path, "public")
    if published.good:
        return out
    tmp = db_path.with_name(f".{db_path.name}.recovered.tmp")
    tmp.unlink(missing_ok=True)
    if internal is not None:
        write_public_copy(internal_file, tmp)
        seal(state_dir, tmp, _latest_run(internal), "public")
        restored, source = internal, f"the internal catalogue in {internal_file} (the same night's full build)"
    else:
        before = verify(state_dir, night_before_file(state_dir), "public")
        if not before.good:
            why = "missing" if before.problem == "missing" else f"damaged too ({before.problem})"
            raise PublishError(
                f"{db_path}: the published catalogue is damaged ({published.problem}), and no good catalogue is left "
                f"to restore (the internal one is damaged or missing; {night_before_file(state_dir)} is {why}). "
                f"Move {db_path.name} aside and run `placecat run` to rebuild it from the source snapshots "
                f"(golden services come back; run history and the change feed start again)")
        shutil.copyfile(before.path, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        restored, source = before, f"the backup {before.path} (the catalogue published the night before)"
    aside = move_aside(db_path, state_dir)
    os.replace(tmp, db_path)
    fsync_dir(db_path.parent)
    out.changed = True
    out.notes.append(f"{db_path}: damaged ({published.problem}); restored the catalogue of run {_latest_run(restored)} "
                     f"({restored.services} services, with its run history) from {source}; the damaged file is "
                     f"kept at {aside}")
    return out


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", required=True, help="the published catalogue DuckDB file (its state lives in FILE.state/)")


def run(args: argparse.Namespace) -> int:
    db = Path(args.db).resolve()
    state_dir = state_dir_for(db)
    if not db.exists() and not internal_path(state_dir).exists():
        print(f"placecat: {args.db}: no such catalogue, and no state folder to recover it from; "
              f"run `placecat run --sources FILE --db {args.db}`", file=sys.stderr)
        return 2
    try:
        with run_lock(state_dir):
            result = recover(db, state_dir)
            verdict = verify(state_dir, db, "public") if db.exists() else None
    except PublishError as exc:
        print(f"placecat: {exc}", file=sys.stderr)
        return 2
    for note in result.notes:
        print(note)
    if verdict is None:
        print(f"{args.db}: no published catalogue; the next `placecat run` publishes one")
    elif not result.changed:
        sealed = f"sealed by run {verdict.run_id}" if verdict.sealed else "published before seals were kept"
        print(f"{args.db}: good ({sealed}, {verdict.services} services); nothing to recover")
    return 0
