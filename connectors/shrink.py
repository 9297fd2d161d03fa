"""The shrink guard: a source that suddenly serves far fewer records is held, not published.

An empty feed, a header-only CSV, or a feed that consistently says it has 5 records when it had
19 used to be `ok`: its services were removed and deletions went out on `/changes` to every hub.
Now a harvest whose service count falls by more than the source's ``max_shrink`` (a fraction,
default 0.5) against the snapshot in force, or falls to 0 from any count, is **held**: it is kept
aside (``<state>/sources/<id>/held/``), the snapshot in force stays in force (so nothing is
withdrawn downstream), and the source's status is ``held`` with a one-line reason. A person
accepts the shrink with ``placecat accept SOURCE`` (the held harvest is put in force and the next
night publishes it), or by setting ``accept_shrink: true`` on the source for one night.

A held source is never dropped for staleness: dropping it would withdraw what the guard keeps.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from connectors.config import ConfigError, Source, load_sources
from warehouse.snapshots import SnapshotInfo, SourceStore
from warehouse.state import PublishError, run_lock, state_dir_for, utcnow

# The largest fall in a source's service count, as a fraction of the last good count, published
# without a person's say-so. Half: a directory that loses more than half its services overnight
# has in every case seen (an empty page, a wrong total, a truncated export) lost them by accident.
DEFAULT_MAX_SHRINK = 0.5


@dataclass
class ShrinkVerdict:
    held: bool
    message: str  # why it is held, or that a shrink was accepted ("" when there was no shrink)


def check_shrink(source: Source, before: int | None, after: int, accepted_by: str | None = None) -> ShrinkVerdict:
    """Whether a harvest of ``after`` services may replace one of ``before``. ``accepted_by``:
    who accepted the next shrink (`placecat accept`), if anyone."""
    if not before:
        return ShrinkVerdict(False, "")
    limit = float(source.option("max_shrink", DEFAULT_MAX_SHRINK))
    fall = (before - after) / before
    if after > 0 and fall <= limit:
        return ShrinkVerdict(False, "")
    what = (f"{after} services, down from {before}" if after else f"no services, down from {before}")
    why = "a fall to none" if after == 0 else f"{fall:.0%} fewer, more than max_shrink {limit:g}"
    if source.option("accept_shrink") is True:
        return ShrinkVerdict(False, f"{what}: shrink accepted by accept_shrink: true (remove it after this night)")
    if accepted_by:
        return ShrinkVerdict(False, f"{what}: shrink accepted by {accepted_by}")
    return ShrinkVerdict(True, f"held: {what} ({why}); the last good snapshot stays in force and nothing is withdrawn "
                               f"downstream. If the source really shrank, run `placecat accept {source.id}` (or set "
                               f"accept_shrink: true on it for one night)")


def accept(source: Source, state_dir: Path) -> str:
    """Accept the source's shrink: put its held harvest in force, or (none held) accept the next
    harvest whatever its size. Holds the run lock, so no night runs meanwhile. Returns one line."""
    with run_lock(state_dir):
        store = SourceStore(state_dir, source.id)
        before: SnapshotInfo | None = store.current()
        accepted = store.accept_held()
        when = utcnow().isoformat(timespec="seconds")
        if accepted is None:
            store.accept_next_shrink(f"`placecat accept` of {when}Z")
            return (f"{source.id}: no harvest is held; its next harvest will be accepted whatever its size "
                    f"(run placecat run as usual)")
        was = int(before.meta.get("records_in", 0)) if before else 0
        now = int(accepted.meta.get("records_in", 0))
        store.write_status("ok", f"{now} services (were {was}): shrink accepted by `placecat accept` of {when}Z",
                           answered=True, snapshot_version=accepted.version, records_in=now)
        return (f"{source.id}: accepted the held harvest of {accepted.version} ({now} services, were {was}); "
                f"the next `placecat run` publishes it")


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE", help="the id of the held source, as in the sources file")
    p.add_argument("--sources", required=True, help="the sources YAML file")
    p.add_argument("--db", required=True, help="the catalogue DuckDB file (its state lives in FILE.state/)")


def run(args: argparse.Namespace) -> int:
    try:
        source = load_sources(args.sources).get(args.source)
        print(accept(source, state_dir_for(Path(args.db).resolve())))
    except (ConfigError, PublishError) as exc:
        for line in str(exc).splitlines():
            print(f"placecat: {line}", file=sys.stderr)
        return 2
    return 0
