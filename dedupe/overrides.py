"""The overrides file: must-link and cannot-link decisions that every later run honours.

A YAML file, by default ``overrides.yaml`` next to the sources file (``PLACECAT_OVERRIDES``
overrides the path). It is versioned: each saved decision bumps ``version`` and keeps who
decided, when and why, so the file can live in git beside the sources file::

    version: 3
    decisions:
      - decision: cannot-link          # or must-link
        a: {source_id: leeds-council, record_id: svc-12, fingerprint: 9b1f0c2e7a4d5e60}
        b: {source_id: leeds-nhs, record_id: 991, fingerprint: 04aa6d1e3b7c9f21}
        decided_at: 2026-11-22T06:10:00Z
        note: different clubs in different halls

**Anchored to content as well as ids.** ``fingerprint`` (written by ``placecat review``; optional
when editing by hand) is a hash of the fields that say which service a record is
(``FINGERPRINT_SQL``). A run finds each side by its source and record id; when the source no
longer has that id (it re-issued its ids), or the id now names a record with other content while
another record has the decision's fingerprint (it renumbered them), the side is the one record of
that source with the fingerprint. A fingerprint two records of a source share finds neither.

**Consistent.** A decision that contradicts earlier ones (a cannot-link between records that
must-links chain together, or a must-link that would chain records a cannot-link keeps apart) is
refused when made (``Overrides.add``), and skipped and reported when a hand-edited file holds one
(``Overrides.consistent``): the earlier decisions stand.
"""
from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import yaml

DECISIONS = ("must-link", "cannot-link")

# What says which service a record is, over a row r of work.match_input, lightly normalised (case,
# spacing and punctuation; phones to their digits): the name, organisation, address, postcode,
# phones, e-mail and web address. Not the description, schedule or taxonomy, which publishers edit
# without the service becoming another.
_FINGERPRINT = """substr(md5(concat_ws('|',
    trim(regexp_replace(lower(coalesce({r}.name, '')), '[^a-z0-9]+', ' ', 'g')),
    trim(regexp_replace(lower(coalesce({r}.org_name, '')), '[^a-z0-9]+', ' ', 'g')),
    trim(regexp_replace(lower(coalesce({r}.address, '')), '[^a-z0-9]+', ' ', 'g')),
    upper(regexp_replace(coalesce({r}.postcode, ''), '\\s+', '', 'g')),
    array_to_string(list_sort(list_transform(coalesce({r}.phones, []), lambda x: regexp_replace(x, '[^0-9]', '', 'g'))), ','),
    lower(trim(coalesce({r}.email, ''))), lower(trim(coalesce({r}.url, ''))))), 1, 16)"""


def fingerprint_sql(alias: str = "r") -> str:
    """FINGERPRINT_SQL over the work.match_input row ``alias``."""
    return _FINGERPRINT.replace("{r}", alias)


FINGERPRINT_SQL = fingerprint_sql("r")

Key = tuple[str, str]


class OverridesError(ValueError):
    """The overrides file is unreadable or malformed, or a decision contradicts it; one line for the user."""


def _key(side: dict) -> Key:
    return side["source_id"], str(side["record_id"])


def _label(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


class _Decided:
    """The decisions so far as a graph: must-links join records into groups (union-find), cannot-links
    keep two groups apart. A record is known by its key, or by its source and fingerprint when
    another decision named it under an id its source has since re-issued."""

    def __init__(self):
        self.parent: dict[Key, Key] = {}
        self.alias: dict[tuple[str, str], Key] = {}     # (source, fingerprint) -> the key first seen with it
        self.must_edges: dict[Key, list[tuple[Key, int]]] = {}
        self.cannot: list[tuple[Key, Key, int]] = []

    def node(self, side: dict) -> Key:
        key = _key(side)
        fp = side.get("fingerprint")
        if fp:
            key = self.alias.setdefault((key[0], fp), key)
        self.parent.setdefault(key, key)
        return key

    def touch(self, x):
        """A node known by anything hashable (the run's record numbers), not a decision's side."""
        self.parent.setdefault(x, x)
        return x

    def find(self, x: Key) -> Key:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def chain(self, a: Key, b: Key) -> list[int]:
        """The must-link decisions (their numbers) that join a to b, by a breadth-first search."""
        seen, queue = {a: None}, deque([a])
        while queue:
            x = queue.popleft()
            if x == b:
                break
            for y, n in self.must_edges.get(x, []):
                if y not in seen:
                    seen[y] = (x, n)
                    queue.append(y)
        path = []
        while seen.get(b):
            b, n = seen[b]
            path.append(n)
        return path[::-1]

    def contradiction(self, decision: str, a: Key, b: Key) -> list[int] | None:
        """The earlier decisions (numbers) that the new one contradicts, or None."""
        ra, rb = self.find(a), self.find(b)
        if decision == "cannot-link":
            return self.chain(a, b) if ra == rb else None
        for x, y, n in self.cannot:
            rx, ry = self.find(x), self.find(y)
            if {rx, ry} == {ra, rb} and ra != rb:
                # the cannot-link, and the must-links that tie its two records to the new pair's
                near_a, near_b = (x, y) if rx == ra else (y, x)
                return sorted({n, *self.chain(a, near_a), *self.chain(b, near_b)})
        return None

    def apply(self, decision: str, a: Key, b: Key, n: int) -> None:
        if decision == "must-link":
            self.must_edges.setdefault(a, []).append((b, n))
            self.must_edges.setdefault(b, []).append((a, n))
            ra, rb = self.find(a), self.find(b)
            if ra != rb:
                self.parent[rb] = ra
        else:
            self.cannot.append((a, b, n))


@dataclass
class Overrides:
    path: Path | None = None
    version: int = 0
    decisions: list[dict] = field(default_factory=list)

    def describe(self, n: int) -> str:
        """Decision number n (from 1, as in the file) in a few words."""
        d = self.decisions[n - 1]
        when = f", {str(d['decided_at'])[:10]}" if d.get("decided_at") else ""
        return f"decision {n} ({d['decision']} {_label(_key(d['a']))} ~ {_label(_key(d['b']))}{when})"

    def _refusal(self, decision: str, a: Key, b: Key, earlier: list[int]) -> str:
        where = f" in {self.path}" if self.path else ""
        return (f"{decision} {_label(a)} ~ {_label(b)} refused: it contradicts "
                + " and ".join(self.describe(n) for n in earlier) + where
                + "; if that was wrong, remove it from the file first")

    def _graph(self) -> _Decided:
        graph = _Decided()
        for n, d in enumerate(self.decisions, start=1):
            graph.apply(d["decision"], graph.node(d["a"]), graph.node(d["b"]), n)
        return graph

    def check(self, decision: str, a: dict, b: dict) -> str | None:
        """Why a new decision on sides a and b ({source_id, record_id[, fingerprint]}) is refused, or None."""
        graph = self._graph()
        earlier = graph.contradiction(decision, graph.node(a), graph.node(b))
        return self._refusal(decision, _key(a), _key(b), earlier) if earlier else None

    def answering(self):
        """A function giving the decision the file already gives on records a and b, directly or
        through a chain of decisions ("must-link" when must-links join them, "cannot-link" when a
        cannot-link keeps their groups apart), else None: a pair so answered is not asked again."""
        graph = self._graph()
        apart = {frozenset((graph.find(x), graph.find(y))) for x, y, _ in graph.cannot}

        def answered(a: dict, b: dict) -> str | None:
            ra, rb = graph.find(graph.node(a)), graph.find(graph.node(b))
            if ra == rb:
                return "must-link"
            return "cannot-link" if frozenset((ra, rb)) in apart else None
        return answered

    def consistent(self) -> tuple[list[dict], list[str]]:
        """The decisions to honour, in order, and one line for each skipped because it contradicts
        earlier ones (a file edited by hand can hold such)."""
        graph, kept, skipped = _Decided(), [], []
        for n, d in enumerate(self.decisions, start=1):
            a, b = graph.node(d["a"]), graph.node(d["b"])
            earlier = graph.contradiction(d["decision"], a, b)
            if earlier:
                skipped.append(f"decision {n}: " + self._refusal(d["decision"], _key(d["a"]), _key(d["b"]), earlier))
                continue
            graph.apply(d["decision"], a, b, n)
            kept.append(d)
        return kept, skipped

    def resolve_in(self, con: duckdb.DuckDBPyConnection, records: str = "work.match_record",
                   inputs: str = "work.match_input") -> tuple[list[tuple[int, int]], set[tuple[int, int]], dict]:
        """The decisions as pairs of the records' mids in ``records``, each side found by its id or
        its fingerprint over ``inputs`` (see the module docstring), and a report: how each side was
        found, and one line per decision not honoured because, on tonight's records, it contradicts
        earlier ones (two decisions that name a record by different ids meet only here)."""
        report = {"decisions": len(self.decisions), "contradictions": [], "by_id": 0, "by_fingerprint": 0,
                  "not_found": 0}
        if not self.decisions:
            return [], set(), report
        schema, table = inputs.split(".")
        if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                           [schema, table]).fetchall()[0][0]:
            inputs = records        # no raw inputs to fingerprint: by id alone
        sides = [d[side] for d in self.decisions for side in ("a", "b")]
        # The named records, with their fingerprints.
        con.register("override_keys", pd.DataFrame(sorted({_key(s) for s in sides}),
                                                    columns=["source_id", "source_record_id"]))
        try:
            by_id = con.execute(f"""
                SELECT r.source_id, r.source_record_id, m.mid, {FINGERPRINT_SQL} AS fingerprint
                FROM {inputs} r SEMI JOIN override_keys k USING (source_id, source_record_id)
                JOIN {records} m USING (source_id, source_record_id)""").fetchall()
        finally:
            con.unregister("override_keys")
        fingerprint_of = {(s, r): f for s, r, _, f in by_id}
        # Only for the sides whose id is gone or now names other content, the records that alone in
        # their source carry the side's fingerprint: most nights there are none, and the sources'
        # records are not all fingerprinted.
        lost = sorted({(s["source_id"], s["fingerprint"]) for s in sides
                       if s.get("fingerprint") and fingerprint_of.get(_key(s)) != s["fingerprint"]})
        by_fp = []
        if lost:
            con.register("override_fps", pd.DataFrame(lost, columns=["source_id", "fingerprint"]))
            try:
                by_fp = con.execute(f"""
                    WITH fp AS (SELECT r.source_id, r.source_record_id, {FINGERPRINT_SQL} AS fingerprint FROM {inputs} r
                                WHERE r.source_id IN (SELECT source_id FROM override_fps)),
                         once AS (SELECT source_id, fingerprint, min(source_record_id) AS source_record_id FROM fp
                                  SEMI JOIN override_fps USING (source_id, fingerprint)
                                  GROUP BY 1, 2 HAVING count(*) = 1)
                    SELECT o.source_id, o.fingerprint, m.mid FROM once o JOIN {records} m USING (source_id, source_record_id)
                """).fetchall()
            finally:
                con.unregister("override_fps")
        key_of: dict = {(s, r): m for s, r, m, _ in by_id}
        key_of.update({(s, "#" + f): m for s, f, m in by_fp})
        graph, must, cannot = _Decided(), [], set()
        for n, d in enumerate(self.decisions, start=1):
            a, b = (_find(key_of, d[side], fingerprint_of) for side in ("a", "b"))
            for side, found in ((d["a"], a), (d["b"], b)):
                report["not_found" if found is None else "by_id" if key_of.get(_key(side)) == found else "by_fingerprint"] += 1
            if a is None or b is None or a == b:
                continue
            earlier = graph.contradiction(d["decision"], graph.touch(a), graph.touch(b))
            if earlier:
                report["contradictions"].append(
                    f"decision {n}: " + self._refusal(d["decision"], _key(d["a"]), _key(d["b"]), earlier))
                continue
            graph.apply(d["decision"], a, b, n)
            if d["decision"] == "must-link":
                must.append((a, b))
            else:
                cannot.add((min(a, b), max(a, b)))
        return must, cannot, report

    def add(self, decision: str, a: tuple, b: tuple, note: str = "") -> None:
        """Record a decision on records a and b: (source_id, record_id) or (source_id, record_id,
        fingerprint). Refused (OverridesError, one line) when it contradicts earlier decisions; a
        decision on the same pair replaces the earlier one when they agree."""
        if decision not in DECISIONS:
            raise OverridesError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
        side_a, side_b = (_side(x) for x in (a, b))
        why = self.check(decision, side_a, side_b)
        if why:
            raise OverridesError(why)
        pair = {_key(side_a), _key(side_b)}
        self.decisions = [d for d in self.decisions if {_key(d["a"]), _key(d["b"])} != pair]
        self.decisions.append({"decision": decision, "a": side_a, "b": side_b,
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


def _side(x: tuple) -> dict:
    side = {"source_id": x[0], "record_id": str(x[1])}
    if len(x) > 2 and x[2]:
        side["fingerprint"] = x[2]
    return side


def _find(key_of: dict, side: dict, fingerprint_of: dict | None = None) -> int | None:
    """A decision's side among tonight's records: by id, unless the id now names a record of other
    content while one record of the source has the side's fingerprint; else by fingerprint."""
    key, fp = _key(side), side.get("fingerprint")
    by_fp = key_of.get((key[0], "#" + fp)) if fp else None
    if key in key_of:
        moved = fingerprint_of is not None and fp and fingerprint_of.get(key) != fp and by_fp is not None
        return by_fp if moved else key_of[key]
    return by_fp


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
