"""Work through the review queue; decisions go to the overrides file.

`placecat review --db FILE` lists the uncertain pairs of the last run (`catalogue.review_queue`).
`--decide N must-link|cannot-link` records a decision on pair N; without `--decide` and on a
terminal it asks pair by pair. Decisions go to the overrides file (`--overrides`, else
`overrides.yaml` next to `--sources`, else PLACECAT_OVERRIDES), which every later run honours.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import duckdb

from dedupe.overrides import OverridesError, default_overrides_path, load_overrides


def review_queue(db: Path) -> list[dict]:
    with duckdb.connect(str(db), read_only=True) as con:
        cols = ["source_id_a", "record_id_a", "name_a", "source_id_b", "record_id_b", "name_b", "probability", "decision", "levels"]
        rows = con.execute(f"SELECT {', '.join(cols)} FROM catalogue.review_queue ORDER BY probability DESC, 1, 2, 4, 5").fetchall()
    return [dict(zip(cols, r)) for r in rows]


def format_item(n: int, item: dict) -> str:
    levels = json.loads(item["levels"] or "{}")
    agreed = ", ".join(f"{k}: {v}" for k, v in levels.items() if v != "not compared")
    why = {"review": "uncertain", "veto": "probable, but the venues are far apart", "refused": "would chain clusters"}.get(
        item["decision"], item["decision"])
    return (f"[{n}] {item['probability']:.0%} ({why})\n    A {item['source_id_a']}/{item['record_id_a']}: {item['name_a']}\n"
            f"    B {item['source_id_b']}/{item['record_id_b']}: {item['name_b']}\n    {agreed}")


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
    overrides.add(decision, (item["source_id_a"], item["record_id_a"]), (item["source_id_b"], item["record_id_b"]), note)


def run(args: argparse.Namespace) -> int:
    db = Path(args.db)
    if not db.exists():
        print(f"placecat review: {db}: no such catalogue; run `placecat run` first", file=sys.stderr)
        return 2
    try:
        queue = review_queue(db)
    except duckdb.Error:
        print(f"placecat review: {db}: has no review queue; run `placecat run` with this version first", file=sys.stderr)
        return 2
    if args.list or (not args.decide and not sys.stdin.isatty()):
        print(f"{len(queue)} pair(s) to review" + (":" if queue else "."))
        for n, item in enumerate(queue, start=1):
            print(format_item(n, item))
        return 0
    try:
        overrides = load_overrides(resolve_overrides_path(args))
        if args.decide:
            n, decision = args.decide
            if not n.isdigit() or not 1 <= int(n) <= len(queue):
                raise OverridesError(f"pair {n} is not in the queue (1..{len(queue)}); see `placecat review --db {db} --list`")
            _decide(overrides, queue[int(n) - 1], decision, args.note)
        else:
            for n, item in enumerate(queue, start=1):
                print(format_item(n, item))
                answer = input("    same service? [m]ust-link / [c]annot-link / [s]kip / [q]uit: ").strip().lower()
                if answer.startswith("q"):
                    break
                if answer[:1] in ("m", "c"):
                    _decide(overrides, item, "must-link" if answer[0] == "m" else "cannot-link", "")
        path = overrides.save()
    except OverridesError as exc:
        print(f"placecat review: {exc}", file=sys.stderr)
        return 2
    print(f"saved to {path} (version {overrides.version}); the next run honours it")
    return 0
