"""What a catalogue build is made from, written down so that a later night can tell "nothing changed".

A build's inputs are: the snapshot each enabled source is served from (its version, size and
modification time, so a damaged or rewritten file counts as a change), the sources file and the
overrides file (their contents), the reference store (size and modification time: it is only
rewritten by ``placecat reference load``), the settings read from the environment by the
cross-source stages, and the version of placecat's own code (a hash of its source files). Every
published run records them in ``ops.run.summary`` under ``"inputs"``.
"""
from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from dedupe.overrides import default_overrides_path
from warehouse.reference import reference_path

# Environment settings that change what the cross-source stages compute.
SETTINGS_FROM_ENV = ("PLACECAT_ACCESS_KM", "PLACECAT_OVERRIDES")
# The packages whose code builds the catalogue (pipelines/ only assembles, but is cheap to include).
CODE_PACKAGES = ("connectors", "dedupe", "quality", "warehouse", "pipelines")


def code_version() -> str:
    """$PLACECAT_CODE_VERSION (a deployment may set it to its release or image tag), else a hash of
    every file of placecat's packages (code and bundled data)."""
    return os.environ.get("PLACECAT_CODE_VERSION") or code_files_hash()


@functools.lru_cache(maxsize=1)
def code_files_hash() -> str:
    """A hash of every file of placecat's packages, in path order (once per process)."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for package in CODE_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".duckdb"):
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def file_digest(path: Path | None) -> str | None:
    """The content hash of a small file (sources, overrides); None when there is no such file."""
    if path is None or not Path(path).is_file():
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def file_signature(path: Path | None) -> dict | None:
    """Size and modification time of a large file; None when there is no such file."""
    if path is None:
        return None
    try:
        st = Path(path).stat()
    except FileNotFoundError:
        return None
    return {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def snapshot_signature(version: str | None, path: Path | None) -> dict | None:
    """The snapshot a source is served from; None when it is not served (dropped, never harvested)."""
    if version is None or path is None:
        return None
    return {"version": version, **(file_signature(path) or {"missing": True})}


def build_inputs(sources_file: Path, db_path: Path, served: dict[str, dict | None]) -> dict:
    """Every input of a catalogue build; ``served`` maps each enabled source to its snapshot_signature."""
    return {
        "code": code_version(),
        "sources_file": file_digest(sources_file),
        "overrides": file_digest(default_overrides_path(sources_file)),
        "reference": file_signature(reference_path(db_path)),
        "settings": {name: os.environ.get(name) for name in SETTINGS_FROM_ENV},
        "snapshots": dict(sorted(served.items())),
    }


def differences(now: dict, then: dict) -> list[str]:
    """What differs between two builds' inputs, one short phrase each (empty: nothing)."""
    names = {"code": "placecat's code changed", "sources_file": "the sources file changed",
             "overrides": "the overrides file changed", "reference": "the reference data changed"}
    out = [phrase for key, phrase in names.items() if now.get(key) != then.get(key)]
    for name in SETTINGS_FROM_ENV:
        if (now.get("settings") or {}).get(name) != (then.get("settings") or {}).get(name):
            out.append(f"{name} changed")
    before, after = then.get("snapshots") or {}, now.get("snapshots") or {}
    for source_id in sorted(set(before) | set(after)):
        old, new = before.get(source_id, "absent"), after.get(source_id, "absent")
        if old == new:
            continue
        if old == "absent":
            out.append(f"{source_id} is a new source")
        elif new == "absent":
            out.append(f"{source_id} is no longer a source")
        elif new is None:
            out.append(f"{source_id} is no longer served")
        elif old is None or old.get("version") != new.get("version"):
            out.append(f"{source_id} has a new snapshot")
        else:
            out.append(f"{source_id}'s snapshot file changed on disk")
    return out
