"""The OpenActive Activity List: concepts with their labels and broader concepts, loaded from a
file or a URL (cached a week).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.openactive.jsonld import as_list, oa_id

ACTIVITY_SCHEME = "https://openactive.io/activity-list"


ACTIVITY_TAXONOMY = "OpenActive Activity List"


ACTIVITY_LIST_URL = "https://openactive.io/activity-list/activity-list.jsonld"


# -- the activity list ---------------------------------------------------------------------------
@dataclass
class Concept:
    id: str
    label: str
    definition: str | None
    broader: list[str]
    notation: str | None = None


@dataclass
class ActivityList:
    """The OpenActive activity list (SKOS): concept lookup by id, label or altLabel."""

    concepts: dict[str, Concept] = field(default_factory=dict)  # by uuid fragment
    by_label: dict[str, Concept] = field(default_factory=dict)
    uri: str = ACTIVITY_SCHEME

    @classmethod
    def from_jsonld(cls, doc: dict) -> "ActivityList":
        al = cls(uri=str(doc.get("id") or doc.get("@id") or ACTIVITY_SCHEME))
        for c in doc.get("concept", []):
            cid = oa_id(c)
            if not cid or not c.get("prefLabel"):
                continue
            concept = Concept(cid, c["prefLabel"], c.get("definition"), as_list(c.get("broader")), c.get("notation"))
            al.concepts[cls.fragment(cid)] = concept
            for label in [c["prefLabel"], *as_list(c.get("altLabel"))]:
                al.by_label.setdefault(cls.label_key(label), concept)
        return al

    @staticmethod
    def fragment(concept_id: str) -> str:
        return concept_id.rsplit("#", 1)[-1].rsplit("/", 1)[-1].lower()

    @staticmethod
    def label_key(label: str) -> str:
        return re.sub(r"[^a-z0-9]+", " ", str(label).lower()).strip()

    def lookup(self, activity: Any) -> Concept | None:
        """An activity as published (a Concept with @id/id and/or prefLabel, or a plain string)."""
        if isinstance(activity, str):
            if "activity-list" in activity:
                return self.concepts.get(self.fragment(activity))
            return self.by_label.get(self.label_key(activity))
        if not isinstance(activity, dict):
            return None
        cid = oa_id(activity)
        if cid and "activity-list" in cid:
            hit = self.concepts.get(self.fragment(cid))
            if hit:
                return hit
        label = activity.get("prefLabel") or activity.get("name")
        return self.by_label.get(self.label_key(label)) if label else None

    def __len__(self) -> int:
        return len(self.concepts)


_ACTIVITY_CACHE: dict[str, tuple[float, ActivityList]] = {}


CACHE_MAX_AGE = 7 * 86400


def cache_dir() -> Path:
    base = os.environ.get("PLACECAT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "placecat")
    return Path(base)


def load_activity_list(location: str | os.PathLike | None, fetch=None) -> ActivityList:
    """Read the activity list from a file or URL, cached in memory and (for URLs) on disk for a week.

    ``fetch(url) -> bytes`` is how a URL is read (the connector passes its HttpClient).
    """
    loc = str(location or ACTIVITY_LIST_URL)
    now = time.time()
    if loc.startswith(("http://", "https://")):
        hit = _ACTIVITY_CACHE.get(loc)
        if hit and now - hit[0] < CACHE_MAX_AGE:
            return hit[1]
        cached = cache_dir() / f"activity-list-{hashlib.sha1(loc.encode()).hexdigest()[:12]}.jsonld"
        body = None
        if cached.exists() and now - cached.stat().st_mtime < CACHE_MAX_AGE:
            body = cached.read_bytes()
        else:
            if fetch is None:
                raise ValueError(f"{loc}: no way to fetch the activity list (offline?)")
            try:
                body = fetch(loc)
                cached.parent.mkdir(parents=True, exist_ok=True)
                tmp = cached.with_suffix(".tmp")
                tmp.write_bytes(body)
                os.replace(tmp, cached)
            except Exception:
                if not cached.exists():  # a stale copy beats none
                    raise
                body = cached.read_bytes()
        al = ActivityList.from_jsonld(json.loads(body.decode("utf-8-sig")))
        _ACTIVITY_CACHE[loc] = (now, al)
        return al
    path = Path(loc)
    key = f"{path.resolve()}:{path.stat().st_mtime_ns}"
    hit = _ACTIVITY_CACHE.get(key)
    if hit:
        return hit[1]
    al = ActivityList.from_jsonld(json.loads(path.read_text(encoding="utf-8-sig")))
    _ACTIVITY_CACHE[key] = (now, al)
    return al
