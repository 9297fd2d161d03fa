"""Single-source dedupe on a directory without venues (issue 17's target: precision >= 0.95, no
cluster of more than 5 records).

    .venv/bin/python benchmarks/bench_novenue.py [--seeds 7,11,23] [--services 1200] [--examples 4]

For each seed, ``gen_eval_set --kind novenue`` writes one ORUK v3 source of names, organisations,
e-mails and web addresses only (no venue, phone or schedule; about one service in eight listed twice
or three times), to /tmp/placecat-sets/novenue-<seed>; ``placecat match --dedupe`` clusters it and
the bench prints pairwise precision / recall / F1, the largest cluster and whether the targets hold,
with the errors by class (see ``bench_eval``).
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_eval import evaluate, match_mode, print_mode, score_with_score_py  # noqa: E402
from benchmarks.gen_eval_set import generate_novenue  # noqa: E402
from benchmarks.labelled_set import load_set, record_facts  # noqa: E402

TARGET_PRECISION = 0.95
TARGET_LARGEST_CLUSTER = 5


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="7,11,23")
    ap.add_argument("--services", type=int, default=1200)
    ap.add_argument("--examples", type=int, default=3)
    ap.add_argument("--out", default="/tmp/placecat-sets", help="where the sets are written (novenue-<seed>)")
    a = ap.parse_args(argv)
    rows = []
    for seed in [int(s) for s in a.seeds.split(",")]:
        folder = Path(a.out) / f"novenue-{seed}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        generate_novenue(folder, seed, a.services)
        s = load_set(folder)
        with tempfile.TemporaryDirectory(prefix="placecat_novenue_") as work:
            got = match_mode(s, Path(work), dedupe=True)
            r = evaluate(got["truth"], got["predicted"], s.hard_negatives, record_facts(s), a.examples)
            r |= {k: got[k] for k in ("review_queue", "wall_s", "cpu_s", "notes")}
            r["score_py"] = score_with_score_py(got["truth"], got["predicted"], Path(work) / "truth.csv",
                                                folder / "hard_negatives.csv", Path(work), "novenue")
        print_mode(f"novenue seed {seed}", r)
        pw = r["pairwise"]
        ok = pw["precision"] >= TARGET_PRECISION and r["largest_cluster"] <= TARGET_LARGEST_CLUSTER
        rows.append((seed, pw["precision"], pw["recall"], pw["f1"], r["largest_cluster"], ok))
    print(f"\n{'seed':>6} {'P':>7} {'R':>7} {'F1':>7} {'largest':>8}  targets (P >= {TARGET_PRECISION}, "
          f"no cluster over {TARGET_LARGEST_CLUSTER})")
    for seed, p, r, f1, big, ok in rows:
        print(f"{seed:>6} {p:7.4f} {r:7.4f} {f1:7.4f} {big:>8}  {'met' if ok else 'NOT met'}")
    print(f"{'median':>6} {statistics.median(x[1] for x in rows):7.4f} {statistics.median(x[2] for x in rows):7.4f} "
          f"{statistics.median(x[3] for x in rows):7.4f} {statistics.median(x[4] for x in rows):>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
