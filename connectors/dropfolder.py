"""The drop folder: spreadsheets emailed in are saved to an inbox folder and loaded from there.

A spreadsheet source that says ``pattern: "hounslow-*.xlsx"`` takes every file in the inbox whose
name matches. A file is picked up once it is complete: when a ``NAME.done`` marker sits beside it,
or when its size and modification time are the same at two looks in a row (a copy in progress
keeps growing). Before a run is asked for, the file is opened and its header checked against the
source's mapping, so a wrong file is turned away at once: it moves to ``rejects/`` with a
``NAME.reason.txt`` beside it saying why. A good file moves to ``archive/`` (stamped with the time
it was taken, so nothing is overwritten) and the run reads it from there.

These are plain functions; ``pipelines/sensors.py`` calls them from a Dagster sensor.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.base import HarvestError
from connectors.config import ConfigError, Source
from connectors.spreadsheet import reader_options, source_mapping
from connectors.tabular import open_table

FILE_TAG = "placecat/file"
INBOX_NAME_TAG = "placecat/inbox_file"
ARCHIVE = "archive"
REJECTS = "rejects"
DONE_SUFFIX = ".done"
REASON_SUFFIX = ".reason.txt"


@dataclass
class Decision:
    """What to do with one inbox file this tick."""

    action: str                  # run | reject
    name: str                    # the file's name in the inbox
    source_id: str | None = None
    path: Path | None = None     # where the file is now (archive or rejects)
    run_key: str | None = None
    reason: str | None = None


def inbox_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    value = explicit or os.environ.get("PLACECAT_INBOX")
    return Path(value).expanduser() if value else None


def watched_sources(sources: list[Source]) -> list[Source]:
    return [s for s in sources if s.kind == "spreadsheet" and s.option("pattern")]


def matching_sources(name: str, sources: list[Source]) -> list[Source]:
    return [s for s in sources if fnmatch.fnmatch(name.lower(), str(s.option("pattern")).lower())]


def inbox_files(inbox: Path) -> list[Path]:
    """The files waiting in the inbox: not hidden, not markers, not the archive or rejects."""
    if not inbox.is_dir():
        return []
    return sorted(p for p in inbox.iterdir()
                  if p.is_file() and not p.name.startswith((".", "~$"))
                  and not p.name.endswith((DONE_SUFFIX, REASON_SUFFIX)))


def signature(p: Path) -> list[int]:
    st = p.stat()
    return [st.st_size, st.st_mtime_ns]


def is_complete(p: Path, previous: dict[str, list[int]]) -> bool:
    if p.with_name(p.name + DONE_SUFFIX).exists():
        return True
    sig = signature(p)
    return sig[0] > 0 and previous.get(p.name) == sig


def check_file(path: Path, source: Source) -> None:
    """Open the file and check its header against the source's mapping (no rows loaded)."""
    mapping = source_mapping(source)
    table = open_table(path, **reader_options(source, mapping))
    try:
        mapping.bind(table.columns, table.where)
    finally:
        table.close()


def _stamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def _move(p: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{_stamp()}-{p.name}"
    shutil.move(str(p), target)
    marker = p.with_name(p.name + DONE_SUFFIX)
    if marker.exists():
        marker.unlink()
    return target


def archive_file(p: Path, inbox: Path) -> Path:
    return _move(p, inbox / ARCHIVE)


def reject_file(p: Path, inbox: Path, reason: str) -> Path:
    target = _move(p, inbox / REJECTS)
    target.with_name(target.name + REASON_SUFFIX).write_text(reason.rstrip() + "\n", encoding="utf-8")
    return target


def process_inbox(inbox: Path, sources: list[Source], previous: dict[str, list[int]]
                  ) -> tuple[list[Decision], dict[str, list[int]]]:
    """Look at the inbox once: which complete files to run, which to reject. Moves the files it
    decides on; returns the decisions and the signatures to compare with at the next look."""
    watched = watched_sources(sources)
    decisions: list[Decision] = []
    pending: dict[str, list[int]] = {}
    for p in inbox_files(inbox):
        try:
            sig = signature(p)
        except FileNotFoundError:
            continue  # moved away while we looked
        if not is_complete(p, previous):
            pending[p.name] = sig
            continue
        decisions.append(_decide(p, sig, inbox, watched))
    return decisions, pending


def _decide(p: Path, sig: list[int], inbox: Path, watched: list[Source]) -> Decision:
    matches = matching_sources(p.name, watched)
    if not matches:
        patterns = ", ".join(f"{s.id}: {s.option('pattern')}" for s in watched) or "none configured"
        reason = f"{p.name}: matches no spreadsheet source's pattern ({patterns}); rename it or add a source"
        return Decision("reject", p.name, path=reject_file(p, inbox, reason), reason=reason)
    if len(matches) > 1:
        reason = (f"{p.name}: matches the patterns of several sources ({', '.join(s.id for s in matches)}); "
                  f"make the patterns tell them apart")
        return Decision("reject", p.name, path=reject_file(p, inbox, reason), reason=reason)
    source = matches[0]
    try:
        check_file(p, source)
    except (HarvestError, ConfigError) as exc:
        reason = f"source {source.id}: {exc}"
        return Decision("reject", p.name, source.id, reject_file(p, inbox, reason), reason=reason)
    run_key = f"{source.id}:{p.name}:{sig[0]}:{sig[1]}"
    return Decision("run", p.name, source.id, archive_file(p, inbox), run_key=run_key)


def source_for_file(source: Source, path: str | os.PathLike | None) -> Source:
    """The source as configured, but reading a file dropped in the inbox."""
    if not path:
        return source
    return dataclasses.replace(source, path=Path(path), url=None)


def run_tags(d: Decision) -> dict[str, Any]:
    return {FILE_TAG: str(d.path), INBOX_NAME_TAG: d.name}
