"""Work through the review queue; decisions go to the overrides file.

`placecat review --db FILE` lists the pairs of the last run's queue (`catalogue.review_queue`,
built by `dedupe.queue`: ranked by what deciding them would change, one per pair of golden
services, bounded), each with why it is uncertain: which comparisons pulled towards the same
service, which pulled apart, which a gate discounted and which could not be compared. Pairs the
overrides file already answers (directly, through a chain of decisions, or for a record whose id
its source has re-issued) are not shown again. `--decide N must-link|cannot-link` records a
decision on pair N (pairs keep their number until the next run); without `--decide` and on a
terminal it asks pair by pair. A decision that contradicts earlier ones is refused with one line
naming them. Decisions go to the overrides file
(`--overrides`, else `overrides.yaml` next to `--sources`, else PLACECAT_OVERRIDES), which every
later run honours.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import duckdb

from dedupe.explain import direction, weigh
from dedupe.overrides import OverridesError, default_overrides_path, load_overrides
from warehouse.build import previous_full_build
from warehouse.state import existing_catalogue

COLUMNS = ["rank", "source_id_a", "record_id_a", "name_a", "fingerprint_a", "source_id_b", "record_id_b", "name_b",
           "fingerprint_b", "probability", "decision", "levels", "reasons", "cluster_size_a", "cluster_size_b",
           "records_affected", "pairs", "same_source"]

WHY = {"review": "uncertain", "veto": "probable, but the venues are far apart",
       "refused": "probable, but merging would chain services that differ"}


def review_queue(db: Path) -> tuple[list[dict], list[str]]:
    """The queue as the last run ranked it, and the decisions that run could not honour."""
    # The queue names both records of each pair: it lives in the internal catalogue, not the published file.
    with duckdb.connect(str(previous_full_build(Path(db))), read_only=True) as con:
        rows = con.execute(f"SELECT {', '.join(COLUMNS)} FROM catalogue.review_queue ORDER BY rank").fetchall()
        try:
            not_honoured = [m for (m,) in con.execute("SELECT message FROM catalogue.override_not_honoured").fetchall()]
        except duckdb.CatalogException:
            not_honoured = []
    return [dict(zip(COLUMNS, r)) for r in rows], not_honoured


def side(item: dict, s: str) -> dict:
    out = {"source_id": item[f"source_id_{s}"], "record_id": item[f"record_id_{s}"]}
    if item.get(f"fingerprint_{s}"):
        out["fingerprint"] = item[f"fingerprint_{s}"]
    return out


def open_items(queue: list[dict], overrides) -> list[dict]:
    """The queue without the pairs the overrides file already answers."""
    answered = overrides.answering()
    return [item for item in queue if answered(side(item, "a"), side(item, "b")) is None]


def format_item(n: int, item: dict) -> str:
    """One pair: the records, the probability, what deciding it changes, and why it is uncertain."""
    reasons = json.loads(item["reasons"] or "{}")
    size_a, size_b = item["cluster_size_a"] or 1, item["cluster_size_b"] or 1
    stake = (f"a must-link joins {item['records_affected']} records" +
             (f" (golden services of {size_a} and {size_b})" if size_a > 1 or size_b > 1 else ""))
    if (item["pairs"] or 1) > 1:
        stake += f"; answers {item['pairs']} uncertain pairs between them"
    lines = [f"[{n}] {item['probability']:.0%} {WHY.get(item['decision'], item['decision'])}: {stake}"
             + (" (both in one source: a possible duplicate listing)" if item.get("same_source") else ""),
             f"    A {item['source_id_a']}/{item['record_id_a']}: {item['name_a']}",
             f"    B {item['source_id_b']}/{item['record_id_b']}: {item['name_b']}"]
    w = weigh(reasons.get("comparisons", []))
    if reasons.get("held"):
        lines.append(f"    {reasons['held']}")
    for way, label in (("for", "towards the same service"), ("against", "apart")):
        pulled = [f"{field} {level} ({weight:+.1f})" for weight, field, level in w["counted"] if direction(weight) == way]
        if pulled:
            lines.append(f"    pulled {label}: " + "; ".join(pulled))
    if w["discounted"]:
        lines.append("    not counted: " + "; ".join(w["discounted"]))
    if w["missing"]:
        lines.append("    not compared (missing on one side): " + ", ".join(w["missing"]))
    return "\n".join(lines)


def resolve_overrides_path(args) -> Path:
    if args.overrides:
        return Path(args.overrides)
    path = default_overrides_path(args.sources)
    if path is None:
        raise OverridesError("say where the overrides file is: --overrides FILE or --sources FILE (it lives next to it)")
    return path


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", required=True, help="the published catalogue DuckDB file")
    p.add_argument("--sources", help="the sources YAML file (the overrides file lives next to it)")
    p.add_argument("--overrides", help="the overrides YAML file (default: overrides.yaml next to --sources)")
    p.add_argument("--decide", nargs=2, metavar=("N", "DECISION"), help="record must-link or cannot-link for pair N")
    p.add_argument("--note", default="", help="why (kept in the overrides file)")
    p.add_argument("--list", action="store_true", help="only list the queue")


def _decide(overrides, item: dict, decision: str, note: str) -> None:
    a, b = side(item, "a"), side(item, "b")
    overrides.add(decision, (a["source_id"], a["record_id"], a.get("fingerprint")),
                  (b["source_id"], b["record_id"], b.get("fingerprint")), note)


def run(args: argparse.Namespace) -> int:
    db = existing_catalogue(args.db)
    try:
        queue, not_honoured = review_queue(db)
    except duckdb.Error:
        print(f"placecat review: {db}: has no review queue; run `placecat run` with this version first", file=sys.stderr)
        return 2
    listing = args.list or (not args.decide and not sys.stdin.isatty())
    try:
        # Listing needs no overrides file (without one, nothing is answered yet); deciding writes one.
        overrides = load_overrides(args.overrides or default_overrides_path(args.sources)) if listing \
            else load_overrides(resolve_overrides_path(args))
    except OverridesError as exc:
        print(f"placecat review: {exc}", file=sys.stderr)
        return 2
    items = open_items(queue, overrides)
    if listing:
        # As the last run found them on its records, and as the file reads now.
        for line in dict.fromkeys(not_honoured + overrides.consistent()[1]):
            print(f"not honoured: {line}")
        print(f"{len(items)} pair(s) to review" + (":" if items else "."))
        for item in items:
            print(format_item(item["rank"], item))
        return 0
    try:
        if args.decide:
            # Pairs keep their number (the queue's rank) until the next run, whatever is decided meanwhile.
            n, decision = args.decide
            by_rank = {str(item["rank"]): item for item in queue}
            if n not in by_rank:
                raise OverridesError(f"pair {n} is not in the queue (1..{len(queue)}); see `placecat review --db {db} --list`")
            _decide(overrides, by_rank[n], decision, args.note)
        else:
            for item in items:
                if overrides.answering()(side(item, "a"), side(item, "b")):
                    continue    # answered by a decision taken earlier in this session
                print(format_item(item["rank"], item))
                answer = input("    same service? [m]ust-link / [c]annot-link / [s]kip / [q]uit: ").strip().lower()
                if answer.startswith("q"):
                    break
                if answer[:1] in ("m", "c"):
                    try:
                        _decide(overrides, item, "must-link" if answer[0] == "m" else "cannot-link", "")
                    except OverridesError as exc:
                        print(f"    {exc}")
        path = overrides.save()
    except OverridesError as exc:
        print(f"placecat review: {exc}", file=sys.stderr)
        return 2
    print(f"saved to {path} (version {overrides.version}); the next run honours it")
    return 0
