"""Damage never spreads: every catalogue placecat publishes is sealed, and checked before it is used.

Publishing writes two files (warehouse/release.py): the published catalogue (``--db``) and the
internal one (``<state>/internal.duckdb``), which the next night copies its history and matching
state from. A damaged file used to spread: 4 KiB of random bytes inside the published file went on
being republished, became ``night-before.duckdb`` (the backup), and later nights failed with a
misleading line. So:

- **sealed**: when a night publishes, each file's SHA-256, size and the row count of every table
  are recorded in ``<state>/published/seals.json`` (the last ``KEEP_SEALS`` files), before the
  file is renamed into place;
- **verified**: before a file is copied forward, made the backup or restored, its checksum must
  match a seal and it must open with the sealed row count in every table. A file whose checksum
  matches no seal was changed after placecat published it: it is damaged. A catalogue from before
  seals existed is checked by opening it and counting every table (``sealed`` False).

Hashing runs at about 200-500 MB/s here; a file is hashed once per process for the same inode,
size and modification time.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from warehouse.state import PUBLISHED_DIR, atomic_write_text, utcnow

SEALS_FILE = "seals.json"
KEEP_SEALS = 20  # about ten nights of published and internal files


@dataclass
class Verdict:
    path: Path
    good: bool
    sealed: bool = False            # a seal vouches for it (else: an unsealed file that opens)
    run_id: str | None = None       # the run that published it (from its seal)
    tables: dict[str, int] = field(default_factory=dict)
    problem: str = ""               # why it is not good: one phrase

    @property
    def services(self) -> int:
        return self.tables.get("catalogue.service", 0)


def seals_path(state_dir: Path) -> Path:
    return Path(state_dir) / PUBLISHED_DIR / SEALS_FILE


def read_seals(state_dir: Path) -> list[dict]:
    try:
        doc = json.loads(seals_path(state_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return doc.get("seals", []) if isinstance(doc, dict) else []


_DIGESTS: dict[tuple, str] = {}


def file_sha256(path: Path) -> str:
    st = os.stat(path)
    key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
        _DIGESTS.clear()  # one run looks at a handful of files; keep the memo small
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def table_counts(path: Path) -> dict[str, int]:
    """Rows of every table, reading the file read-only (duckdb.Error when it cannot be read, or is
    shorter than the blocks it uses: a truncated file opens, and fails only when a missing block is
    read. Its free blocks may lie past its end, so those are not counted)."""
    with duckdb.connect(str(path), read_only=True) as con:
        block_size, used = con.execute("SELECT block_size, used_blocks FROM pragma_database_size()").fetchone()
        if path.stat().st_size < block_size * used:
            raise duckdb.IOException(f"the file is shorter than the {used} blocks it uses: it was truncated")
        tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                             "WHERE database_name = current_database() ORDER BY 1, 2").fetchall()
        return {f"{s}.{t}": con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0] for s, t in tables}


def seal(state_dir: Path, path: Path, run_id: str, role: str) -> dict:
    """Record ``path`` as published by ``run_id`` (role: public | internal). Call it before the
    file is renamed into place: a seal for a file that never arrives does no harm."""
    entry = {"sha256": file_sha256(path), "size": path.stat().st_size, "run_id": run_id, "role": role,
             "tables": table_counts(path), "sealed_at": utcnow().isoformat(timespec="seconds")}
    seals = [s for s in read_seals(state_dir) if s.get("sha256") != entry["sha256"]]
    target = seals_path(state_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, json.dumps({"seals": [entry, *seals][:KEEP_SEALS]}, indent=1))
    return entry


def verify(state_dir: Path, path: Path, role: str) -> Verdict:
    """Whether ``path`` is a catalogue placecat published, unchanged since."""
    if not path.exists():
        return Verdict(path, False, problem="missing")
    seals = read_seals(state_dir)
    try:
        digest = file_sha256(path)
    except OSError as exc:
        return Verdict(path, False, problem=f"cannot be read ({exc.strerror})")
    match = next((s for s in seals if s.get("sha256") == digest), None)
    if match is None and any(s.get("role") == role for s in seals):
        return Verdict(path, False, problem="its checksum matches no catalogue placecat published: it was changed "
                                            "or damaged after publishing")
    try:
        counts = table_counts(path)
    except duckdb.Error as exc:
        return Verdict(path, False, problem=f"it cannot be read ({str(exc).splitlines()[0][:160]})")
    if match is None:  # published before seals existed: it opens and every table counts
        return Verdict(path, True, sealed=False, tables=counts)
    if counts != match.get("tables"):
        differ = sorted(t for t in set(counts) | set(match.get("tables", {}))
                        if counts.get(t) != match.get("tables", {}).get(t))
        return Verdict(path, False, problem=f"its row counts differ from those sealed (in {', '.join(differ[:3])})")
    return Verdict(path, True, sealed=True, run_id=match.get("run_id"), tables=counts)
