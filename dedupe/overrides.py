"""The overrides file: must-link and cannot-link decisions that every later run honours.

A YAML file, by default ``overrides.yaml`` next to the sources file (``PLACECAT_OVERRIDES``
overrides the path). It is versioned: each saved decision bumps ``version`` and keeps who
decided, when and why, so the file can live in git beside the sources file::

    version: 3
    decisions:
      - decision: cannot-link          # or must-link
        a: {source_id: leeds-council, record_id: svc-12}
        b: {source_id: leeds-nhs, record_id: 991}
        decided_at: 2026-11-22T06:10:00Z
        note: different clubs in different halls
"""
from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DECISIONS = ("must-link", "cannot-link")


class OverridesError(ValueError):
    """The overrides file is unreadable or malformed; one line for the user."""


@dataclass
class Overrides:
    path: Path | None = None
    version: int = 0
    decisions: list[dict] = field(default_factory=list)

    def resolve(self, key_of: dict[tuple[str, str], int]) -> tuple[list[tuple[int, int]], set[tuple[int, int]]]:
        """Decisions as pairs of record numbers; decisions about records not present are skipped."""
        must, cannot = [], set()
        for d in self.decisions:
            a = key_of.get((d["a"]["source_id"], str(d["a"]["record_id"])))
            b = key_of.get((d["b"]["source_id"], str(d["b"]["record_id"])))
            if a is None or b is None or a == b:
                continue
            if d["decision"] == "must-link":
                must.append((a, b))
            else:
                cannot.add((min(a, b), max(a, b)))
        return must, cannot

    def add(self, decision: str, a: tuple[str, str], b: tuple[str, str], note: str = "") -> None:
        if decision not in DECISIONS:
            raise OverridesError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
        key = {frozenset([a, b])}
        self.decisions = [d for d in self.decisions
                          if {frozenset([(d["a"]["source_id"], str(d["a"]["record_id"])),
                                         (d["b"]["source_id"], str(d["b"]["record_id"]))])} != key]
        self.decisions.append({"decision": decision, "a": {"source_id": a[0], "record_id": a[1]},
                               "b": {"source_id": b[0], "record_id": b[1]},
                               "decided_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "note": note})

    def save(self) -> Path:
        """Write atomically with the version bumped."""
        if self.path is None:
            raise OverridesError("no overrides file path")
        self.version += 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = "# placecat matching overrides: edited by `placecat review`; safe to edit by hand\n" + yaml.safe_dump(
            {"version": self.version, "decisions": self.decisions}, sort_keys=False, allow_unicode=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".overrides.")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, self.path)
        return self.path


def default_overrides_path(sources_file: str | Path | None) -> Path | None:
    env = os.environ.get("PLACECAT_OVERRIDES")
    if env:
        return Path(env)
    if sources_file is None:
        return None
    return Path(sources_file).resolve().parent / "overrides.yaml"


def load_overrides(path: str | Path | None) -> Overrides:
    """Read the overrides file; a missing file means no decisions yet."""
    if path is None:
        return Overrides()
    path = Path(path)
    if not path.exists():
        return Overrides(path=path)
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise OverridesError(f"{path}{where}: not valid YAML; fix or remove the file") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("decisions", []), list):
        raise OverridesError(f"{path}: expected a mapping with a 'decisions' list")
    decisions = []
    for n, d in enumerate(doc.get("decisions") or [], start=1):
        ok = (isinstance(d, dict) and d.get("decision") in DECISIONS
              and all(isinstance(d.get(side), dict) and d[side].get("source_id") and d[side].get("record_id") is not None
                      for side in ("a", "b")))
        if not ok:
            raise OverridesError(f"{path}: decision {n} needs decision: must-link|cannot-link and a/b with "
                                 "source_id and record_id")
        decisions.append(d)
    return Overrides(path=path, version=int(doc.get("version") or 0), decisions=decisions)
