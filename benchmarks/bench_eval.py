"""Accuracy on a labelled set, measured the way a new user meets placecat (issue 17).

    .venv/bin/python benchmarks/bench_eval.py [--set ../shared/eval/dev-2026] [--modes run,match] [--json] [--keep DIR]

Two modes:

- ``run``: the set is served by ``../shared/eval/serve.py --faults`` on a free port (500s, 429s, a
  truncated body, a slow page); a sources file is written for it, each spreadsheet's mapping made
  by ``placecat mapping suggest`` and checked (the identifier and the name placed, every placed
  column at least ``MIN_CONFIDENCE``); then ``placecat run`` builds the catalogue and
  ``catalogue.service_source`` is scored.
- ``match``: ``../shared/eval/v3_jsonl.py`` writes the set's ORUK v3 sources as JSON Lines and
  ``placecat match`` clusters them (``--match-dedupe`` passes ``--dedupe``).
- ``splink`` (with ``--splink PYTHON``): Splink 5 on the same v3 sources, in its own venv
  (``splink_compare.py v3``), scored the same way: the fair comparison with ``match``.

For each mode it prints pairwise P / R / F1 (``score.py``'s definitions; ``score.py`` itself is run
on the same predictions and its F1 line must agree), B-cubed P / R / F1, hard-negative pairs merged
by reason, the review-queue size, and the wrong merges and missed pairs by the classes of issue 17
with examples (``eval_scoring``). The labels are read only after placecat has finished.

OpenActive records are keyed in the catalogue by the SessionSeries ``@id`` URL and in ``truth.csv``
by the RPDE item id: the catalogue's own ``raw.record`` holds both (the item's ``id`` and its
``data.@id``), so predictions are mapped through it.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import duckdb
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.eval_scoring import (EXTRA_MERGE, EXTRA_MISS, MERGE_CLASSES, MISS_CLASSES, UNCLASSIFIED,  # noqa: E402
                                     attribute, bcubed, clusters_over_truth, error_pairs, hard_negatives_merged,
                                     merge_classes, miss_classes, pairwise)
from benchmarks.labelled_set import Key, LabelledSet, load_set, read_truth, record_facts  # noqa: E402
from warehouse.release import internal_path  # noqa: E402
from warehouse.state import state_dir_for  # noqa: E402

SHARED_EVAL = Path(os.environ.get("PLACECAT_SHARED", REPO.parent / "shared")) / "eval"
# The installed command, as a user runs it (the module when the bench runs from another interpreter).
PLACECAT = [str(Path(sys.executable).with_name("placecat"))] if Path(sys.executable).with_name("placecat").exists() \
    else [sys.executable, "-m", "pipelines.cli"]
# A suggested column below this confidence is what a careful user would stop and map by hand.
MIN_CONFIDENCE = 0.6
SERVER_SECONDS = 3600


# -- the set served --------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """``serve.py`` on a free port for the life of a ``with`` block."""

    def __init__(self, set_dir: Path, faults: bool = True):
        self.set_dir, self.faults = set_dir, faults
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "Served":
        cmd = [sys.executable, str(SHARED_EVAL / "serve.py"), "--out", str(self.set_dir), "--port", str(self.port),
               "--max-seconds", str(SERVER_SECONDS)] + (["--faults"] if self.faults else [])
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"serve.py stopped at once: {self.proc.stderr.read().strip()[-300:]}")
            try:
                urllib.request.urlopen(self.base + "/", timeout=1).read()
                return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise SystemExit(f"serve.py did not answer on {self.base} within 60 s")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- a new user's sources file ---------------------------------------------------------------------

def suggest_mapping(csv_path: Path, out: Path) -> list[str]:
    """``placecat mapping suggest``, then the check a careful user makes; returns the columns not placed."""
    proc = subprocess.run(PLACECAT + ["mapping", "suggest", str(csv_path), "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"placecat mapping suggest {csv_path}: exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
    text = out.read_text()
    mapping = yaml.safe_load(text)
    columns = mapping.get("columns") or {}
    if not mapping.get("id") or "service.name" not in columns:
        raise SystemExit(f"{out}: the suggested mapping places no id or no service.name; map them by hand")
    low = [(line.split(":")[0].strip(), float(c)) for line in text.splitlines()
           if (m := re.search(r"#\s*([01]\.\d+)\s*$", line)) and (c := m.group(1)) and float(c) < MIN_CONFIDENCE]
    if low:
        raise SystemExit(f"{out}: suggested columns below confidence {MIN_CONFIDENCE}: {low}; check them by hand")
    return re.findall(r'^#\s+-\s+"(.+)"$', text, flags=re.M)


def write_sources(s: LabelledSet, base: str, workdir: Path) -> tuple[Path, dict[str, list[str]]]:
    entries, unplaced = [], {}
    for src in s.sources:
        sid, kind = src["id"], src["kind"]
        entry = {"id": sid, "publisher": src.get("publisher_base_url", sid), "role": "none"}
        if kind == "oruk_v3":
            entry |= {"kind": "oruk", "url": f"{base}/{sid}"}
        elif kind == "oruk_v1":
            entry |= {"kind": "oruk", "url": f"{base}/{sid}", "version": 1}
        elif kind == "openactive":
            entry |= {"kind": "openactive", "url": f"{base}/{sid}/feed"}
        elif kind == "csv":
            mapping = workdir / f"{sid}-mapping.yaml"
            unplaced[sid] = suggest_mapping(s.path / src["path"] / "services.csv", mapping)
            entry |= {"kind": "spreadsheet", "url": f"{base}/{sid}/services.csv", "mapping": mapping.name}
        else:
            raise SystemExit(f"{s.path}: source {sid!r} of kind {kind!r} is not one this bench can serve")
        entries.append(entry)
    path = workdir / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": entries}, sort_keys=False))
    return path, unplaced


# -- running placecat ------------------------------------------------------------------------------

def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str], what: str) -> tuple[subprocess.CompletedProcess, float, float]:
    t0, c0 = time.perf_counter(), child_cpu()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, child_cpu() - c0
    if proc.returncode != 0:
        raise SystemExit(f"{what}: exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-600:]}")
    return proc, wall, cpu


def openactive_keys_from_raw(con: duckdb.DuckDBPyConnection, sources: list[str]) -> dict[tuple[str, str], str]:
    """(source, the catalogue's record id) -> RPDE item id, from the harvested items in ``raw.record``."""
    if not sources:
        return {}
    rows = con.execute("""
        SELECT source_id, payload->>'$.id', payload->>'$.data."@id"', payload->>'$.data.identifier'
        FROM raw.record WHERE source_id IN (SELECT unnest(?)) AND payload->>'$.id' IS NOT NULL
    """, [sources]).fetchall()
    out = {}
    for source, item_id, at_id, identifier in rows:
        for k in (at_id, identifier, item_id):
            if k:
                out.setdefault((source, k), item_id)
    return out


def run_mode(s: LabelledSet, workdir: Path) -> dict:
    with Served(s.path, faults=True) as served:
        sources, unplaced = write_sources(s, served.base, workdir)
        db = workdir / "placecat.duckdb"
        proc, wall, cpu = timed(PLACECAT + ["run", "--sources", str(sources), "--db", str(db)], "placecat run")
    # The internal file is the whole build: the published one leaves out raw.record and the
    # review queue (warehouse/release.py), which this scoring needs.
    con = duckdb.connect(str(internal_path(state_dir_for(db))), read_only=True)
    oa = [src["id"] for src in s.sources if src["kind"] == "openactive"]
    oa_keys = openactive_keys_from_raw(con, oa)
    predicted: dict[Key, str] = {}
    unmapped = 0
    for source, record, service in con.execute(
            "SELECT source_id, source_record_id, service_id FROM catalogue.service_source").fetchall():
        if source in oa:
            item = oa_keys.get((source, record))
            unmapped += item is None
            record = item or record
        predicted[(source, record)] = service
    queue = dict(con.execute("SELECT decision, count(*) FROM catalogue.review_queue GROUP BY 1 ORDER BY 1").fetchall())
    con.close()
    status = [ln for ln in proc.stdout.splitlines() if ln.startswith(tuple(src["id"] for src in s.sources))]
    return {"predicted": predicted, "truth": s.truth, "review_queue": sum(queue.values()), "review_by_decision": queue,
            "wall_s": wall, "cpu_s": cpu, "notes": {"spreadsheet columns not placed": unplaced,
                                                    "openactive records not found in raw.record": unmapped,
                                                    "sources": status}}


def match_mode(s: LabelledSet, workdir: Path, dedupe: bool = False) -> dict:
    jsonl, truth_path = workdir / "v3.jsonl", workdir / "v3_truth.csv"
    subprocess.run([sys.executable, str(SHARED_EVAL / "v3_jsonl.py"), str(s.path), str(jsonl), str(truth_path)],
                   check=True, capture_output=True)
    out = workdir / "v3_clusters.csv"
    proc, wall, cpu = timed(PLACECAT + ["match", str(jsonl), "--out", str(out)] + (["--dedupe"] if dedupe else []),
                            "placecat match")
    with out.open(newline="", encoding="utf-8") as f:
        predicted = {(r["source_id"], r["record_id"]): r["cluster_id"] for r in csv.DictReader(f)}
    m = re.search(r"\((\d+) merges, (\d+) pairs for review\)", proc.stdout)
    return {"predicted": predicted, "truth": read_truth(truth_path), "review_queue": int(m.group(2)) if m else None,
            "wall_s": wall, "cpu_s": cpu, "notes": {"placecat match": proc.stdout.strip()}}


def splink_mode(s: LabelledSet, workdir: Path, python: str) -> dict:
    """Splink 5 on the same v3 sources as `placecat match` (benchmarks/splink_compare.py v3, its own venv)."""
    jsonl, truth_path = workdir / "v3.jsonl", workdir / "v3_truth.csv"
    if not jsonl.exists():
        subprocess.run([sys.executable, str(SHARED_EVAL / "v3_jsonl.py"), str(s.path), str(jsonl), str(truth_path)],
                       check=True, capture_output=True)
    out = workdir / "splink_clusters.csv"
    proc, wall, cpu = timed([python, str(REPO / "benchmarks" / "splink_compare.py"), "v3", str(jsonl), str(out)], "splink")
    with out.open(newline="", encoding="utf-8") as f:
        predicted = {(r["source_id"], r["record_id"]): r["cluster_id"] for r in csv.DictReader(f)}
    summary = next((ln[8:] for ln in proc.stdout.splitlines() if ln.startswith("SUMMARY ")), "{}")
    return {"predicted": predicted, "truth": read_truth(truth_path), "review_queue": None, "wall_s": wall, "cpu_s": cpu,
            "notes": {"splink": summary}}


# -- scoring ---------------------------------------------------------------------------------------

def score_with_score_py(truth: dict[Key, str], predicted: dict[Key, str], truth_csv: Path, hard_csv: Path,
                        workdir: Path, name: str) -> str:
    """``score.py``'s own last line on the same predictions: the independent check of our figures."""
    pred_csv = workdir / f"{name}_predictions.csv"
    with pred_csv.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["source_id", "record_id", "cluster_id"])
        w.writerows((src, rid, c) for (src, rid), c in sorted(predicted.items()))
    with truth_csv.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["source_id", "record_id", "entity_id"])
        w.writerows((src, rid, e) for (src, rid), e in truth.items())
    proc = subprocess.run([sys.executable, str(SHARED_EVAL / "score.py"), str(truth_csv), str(pred_csv), "--hard", str(hard_csv)],
                          capture_output=True, text=True, check=True)
    return proc.stdout.strip().splitlines()[-1]


def evaluate(truth: dict[Key, str], predicted: dict[Key, str], hard: dict, facts: dict, examples: int = 4) -> dict:
    clusters = clusters_over_truth(truth, predicted)
    wrong, missed = error_pairs(truth, clusters)
    sizes = sorted((len(m) for m in clusters.values()), reverse=True)
    return {"records": len(truth), "entities": len(set(truth.values())), "clusters": len(clusters),
            "largest_cluster": sizes[0] if sizes else 0,
            "missing_from_predictions": sum(1 for k in truth if k not in predicted),
            "pairwise": pairwise(truth, clusters), "bcubed": bcubed(truth, clusters),
            "hard_negatives_merged": hard_negatives_merged(truth, clusters, hard),
            "wrong_merges": attribute(wrong, facts, merge_classes, examples),
            "missed_pairs": attribute(missed, facts, miss_classes, examples)}


def print_mode(name: str, r: dict) -> None:
    pw, b3 = r["pairwise"], r["bcubed"]
    print(f"\n== {name}: {r['records']} records of {r['entities']} services -> {r['clusters']} clusters "
          f"(largest {r['largest_cluster']}); {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU of "
          f"{'Splink' if name == 'splink' else 'placecat'}")
    print(f"pairwise  P {pw['precision']:.4f}  R {pw['recall']:.4f}  F1 {pw['f1']:.4f}   "
          f"(tp {pw['tp']}, fp {pw['fp']}, fn {pw['fn']}; true pairs {pw['true_pairs']})")
    print(f"score.py  {r['score_py']}")
    print(f"B-cubed   P {b3['precision']:.4f}  R {b3['recall']:.4f}  F1 {b3['f1']:.4f}")
    hn = r["hard_negatives_merged"]
    print(f"hard-negative pairs merged: {hn['pairs']} record pairs ({hn['entity_pairs']} entity pairs)"
          + "".join(f"; {k} {v}" for k, v in hn["by_reason"].items()))
    by = r.get("review_by_decision")
    if r["review_queue"] is not None:
        print(f"review queue: {r['review_queue']} pairs" + (f" ({', '.join(f'{k} {v}' for k, v in by.items())})" if by else ""))
    for title, key, classes in (("wrong merges", "wrong_merges", MERGE_CLASSES | EXTRA_MERGE | {UNCLASSIFIED: UNCLASSIFIED}),
                                ("missed pairs", "missed_pairs", MISS_CLASSES | EXTRA_MISS)):
        block = r[key]
        print(f"{title}: {block['pairs']} pairs, by class (a pair may be in several):")
        for cls, label in classes.items():
            n = block["by_class"].get(cls, 0)
            print(f"  {label:52s} {n:6d}")
            for ex in block["examples"].get(cls, []):
                print(f"      {ex['a']}\n    ~ {ex['b']}")
    for k, v in r["notes"].items():
        if v:
            print(f"note: {k}: {v}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default=str(SHARED_EVAL / "dev-2026"), help="a labelled set folder (manifest.json, truth.csv, ...)")
    ap.add_argument("--modes", default="run,match", help="comma-separated: run (whole pipeline, served with faults), match")
    ap.add_argument("--match-dedupe", action="store_true", help="pass --dedupe to placecat match")
    ap.add_argument("--splink", help="also run Splink 5 on the v3 sources (mode splink): the python of its venv, "
                                     "e.g. /work/splink-venv/bin/python")
    ap.add_argument("--examples", type=int, default=4, help="examples printed per error class")
    ap.add_argument("--json", action="store_true", help="print one JSON document instead of the text report")
    ap.add_argument("--keep", help="keep the work files (sources, mappings, catalogue, predictions) in this folder")
    a = ap.parse_args(argv)
    s = load_set(a.set)
    facts = record_facts(s)
    workdir = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="placecat_eval_"))
    workdir.mkdir(parents=True, exist_ok=True)
    report = {"set": str(s.path.resolve()), "modes": {}}
    try:
        modes = [m.strip() for m in a.modes.split(",") if m.strip()] + (["splink"] if a.splink else [])
        for mode in modes:
            if mode == "run":
                got = run_mode(s, workdir)
            elif mode == "match":
                got = match_mode(s, workdir, a.match_dedupe)
            elif mode == "splink":
                got = splink_mode(s, workdir, a.splink)
            else:
                raise SystemExit(f"--modes: unknown mode {mode!r}; use run, match")
            r = evaluate(got["truth"], got["predicted"], s.hard_negatives, facts, a.examples)
            r |= {k: got[k] for k in ("review_queue", "wall_s", "cpu_s", "notes")}
            if "review_by_decision" in got:
                r["review_by_decision"] = got["review_by_decision"]
            r["score_py"] = score_with_score_py(got["truth"], got["predicted"], workdir / f"{mode}_truth.csv",
                                                s.path / "hard_negatives.csv", workdir, mode)
            mine = f"F1={r['pairwise']['f1']:.4f} P={r['pairwise']['precision']:.4f} R={r['pairwise']['recall']:.4f}"
            if r["score_py"] != mine:
                raise SystemExit(f"{mode}: this bench's pairwise figures ({mine}) disagree with score.py ({r['score_py']})")
            report["modes"][mode] = r
            if not a.json:
                print_mode(mode, r)
    finally:
        if not a.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if a.json:
        print(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
