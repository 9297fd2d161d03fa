"""`placecat match` at scale on skewed records (``gen_scale``), with Splink 5 beside it.

    .venv/bin/python benchmarks/bench_scale.py --records 100000,300000 [--seed 1] [--repeats 1]
        [--splink /work/splink-venv/bin/python] [--splink-memory 4GB] [--splink-chunks 4]
        [--cap-gb 12] [--only placecat|splink]

For each size it prints the machine (CPU, cores, memory, load before and after), then for placecat
and for Splink: wall time, CPU time (user + system of the process and its children), peak RSS of
the whole process tree (sampled from /proc every 0.1 s, the sum over the process and its
descendants), the candidate pairs scored, the review queue (placecat: the uncertain pairs, the
questions they make, one per pair of clusters, and how many the bounded queue holds) and pairwise
P / R / F1 against the generator's entities. With ``--repeats`` > 1, the median wall and CPU.

placecat runs ``dedupe.match_cli.match_file`` (what `placecat match INPUT --out CSV` runs) in a
child process, so its summary (candidate pairs, pairs for review) can be printed. Splink runs in its
own venv (``benchmarks/splink_compare.py scale``): DuckDB ``memory_limit`` 4 GB, two threads,
``predict`` in chunks (``num_chunks_left`` x ``num_chunks_right``).

A run whose process tree passes ``--cap-gb`` is stopped (its own processes only) and reported as
such, so that a shared machine is never run out of memory.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.eval_scoring import clusters_over_truth, pairwise  # noqa: E402
from benchmarks.gen_scale import ensure  # noqa: E402
from benchmarks.labelled_set import read_truth  # noqa: E402

PLACECAT_CHILD = """
import json, sys
from pathlib import Path
from dedupe.match_cli import match_file
print("SUMMARY " + json.dumps(match_file(Path(sys.argv[1]), Path(sys.argv[2])), default=str))
"""


# -- the machine and the process tree --------------------------------------------------------------

def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    mem = next((int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")), 0)
    import duckdb  # noqa: PLC0415
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    return (f"{cpu}; {os.cpu_count()} cores; {mem / 1024 ** 2:.1f} GB; Python {platform.python_version()}, "
            f"DuckDB {duckdb.__version__}; placecat {commit}")


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
            out.extend(int(c) for c in text)
    except OSError:
        pass
    return out


def tree_rss_kb(pid: int) -> int:
    """VmRSS of a process and all its descendants, in kB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for ln in Path(f"/proc/{p}/status").read_text().splitlines():
                if ln.startswith("VmRSS:"):
                    total += int(ln.split()[1])
                    break
        except OSError:
            continue
        todo.extend(_children(p))
    return total


def monitored(cmd: list[str], cap_gb: float, cwd: Path = REPO) -> dict:
    """Run a command, sampling its process tree's RSS; stop it (its process group) past the cap."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    peak, capped = [0], [False]

    def sample():
        while proc.poll() is None:
            rss = tree_rss_kb(proc.pid)
            peak[0] = max(peak[0], rss)
            if rss > cap_gb * 1024 ** 2 and not capped[0]:
                capped[0] = True
                os.killpg(proc.pid, signal.SIGKILL)
            time.sleep(0.1)

    t0 = time.perf_counter()
    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    watcher.join()
    return {"wall_s": wall, "peak_rss_mb": peak[0] / 1024, "capped": capped[0], "rc": proc.returncode,
            "stdout": out, "stderr": err}


def cpu_of_children() -> float:
    r = os.times()
    return r.children_user + r.children_system


# -- the two matchers ------------------------------------------------------------------------------

def score(folder: Path, clusters_csv: Path, record_col: str = "record_id") -> dict:
    truth = read_truth(folder / "truth.csv")
    with clusters_csv.open(newline="") as f:
        predicted = {(r["source_id"], r[record_col]): r["cluster_id"] for r in csv.DictReader(f)}
    return pairwise(truth, clusters_over_truth(truth, predicted))


def run_child(cmd: list[str], cap_gb: float, folder: Path, out: Path) -> dict:
    """One monitored run of a matcher that writes clusters to ``out`` and prints a SUMMARY line."""
    c0 = cpu_of_children()
    r = monitored(cmd, cap_gb)
    r["cpu_s"] = cpu_of_children() - c0
    if r["rc"] != 0:
        r["error"] = "stopped at the memory cap" if r["capped"] else (r["stderr"].strip().splitlines() or ["?"])[-1]
        return r
    r["summary"] = json.loads(next(ln[8:] for ln in r["stdout"].splitlines() if ln.startswith("SUMMARY ")))
    r["accuracy"] = score(folder, out)
    return r


def run_placecat(folder: Path, cap_gb: float, work: Path) -> dict:
    out = work / "placecat_clusters.csv"
    r = run_child([sys.executable, "-c", PLACECAT_CHILD, str(folder / "records.jsonl"), str(out)], cap_gb, folder, out)
    if r["rc"] == 0:
        r |= {k: r["summary"].get(k) for k in ("candidate_pairs", "compared_pairs", "review_pairs", "matched_pairs", "clusters")}
        r["queue"] = r["summary"].get("review_queue") or {}
    return r


def run_splink(python: str, folder: Path, cap_gb: float, work: Path, memory: str, chunks: int) -> dict:
    out = work / "splink_clusters.csv"
    r = run_child([python, str(REPO / "benchmarks" / "splink_compare.py"), "scale", str(folder / "flat.csv"), str(out),
                   memory, str(chunks)], cap_gb, folder, out)
    if r["rc"] == 0:
        r["candidate_pairs"] = r["summary"].get("candidate_pairs")
    return r


def line(tool: str, runs: list[dict]) -> str:
    ok = [r for r in runs if r["rc"] == 0]
    if not ok:
        return f"  {tool:9s} FAILED: {runs[-1].get('error')} (after {runs[-1]['wall_s']:.0f} s, peak RSS {runs[-1]['peak_rss_mb']:.0f} MB)"
    wall = statistics.median(r["wall_s"] for r in ok)
    cpu = statistics.median(r["cpu_s"] for r in ok)
    peak = max(r["peak_rss_mb"] for r in ok)
    last = ok[-1]
    acc = last["accuracy"]
    queue = last.get("queue") or {}
    extra = (f"uncertain pairs {last['review_pairs']:,} -> review questions {queue.get('questions', 0):,} -> "
             f"queued {queue.get('queued', 0):,}; ") if "review_pairs" in last else ""
    return (f"  {tool:9s} wall {wall:7.1f} s  CPU {cpu:7.1f} s  peak RSS {peak:7.0f} MB  candidate pairs "
            f"{last.get('candidate_pairs') or 0:,}; {extra}P {acc['precision']:.4f} R {acc['recall']:.4f} F1 {acc['f1']:.4f}"
            + (f"  (median of {len(ok)})" if len(ok) > 1 else ""))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", default="100000", help="comma-separated sizes")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--data", default="/tmp/placecat-scale", help="where generated sets are kept")
    ap.add_argument("--splink", help="the python of a venv with splink==5.0.0 (e.g. /work/splink-venv/bin/python)")
    ap.add_argument("--splink-memory", default="4GB", help="DuckDB memory_limit for Splink")
    ap.add_argument("--splink-chunks", type=int, default=4, help="predict in N x N chunks")
    ap.add_argument("--cap-gb", type=float, default=12.0, help="stop a run whose process tree passes this RSS")
    ap.add_argument("--only", choices=["placecat", "splink"])
    a = ap.parse_args(argv)
    print(f"machine: {machine()}")
    for n in [int(x) for x in a.records.split(",")]:
        t0 = time.perf_counter()
        folder, m = ensure(n, a.seed, Path(a.data))
        print(f"\n{n:,} records ({folder}; {m['services']:,} services, duplicate share {m['duplicate_share']}; "
              f"{m['postcodes_used']:,} postcodes, records per postcode {m['records_per_postcode']}; top phone "
              f"{m['top_phones'][0][1]:,} records; top web site {m['top_web_sites'][0][1]:,}; top name "
              f"{m['top_names'][0][0]!r} {m['top_names'][0][1]:,}) ready in {time.perf_counter() - t0:.0f} s")
        with tempfile.TemporaryDirectory(prefix="placecat_scale_") as work:
            for tool in ("placecat", "splink"):
                if a.only and tool != a.only or (tool == "splink" and not a.splink):
                    continue
                runs = []
                for _ in range(a.repeats):
                    before = load()
                    r = run_placecat(folder, a.cap_gb, Path(work)) if tool == "placecat" else \
                        run_splink(a.splink, folder, a.cap_gb, Path(work), a.splink_memory, a.splink_chunks)
                    r["load"] = (before, load())
                    runs.append(r)
                    if r["rc"] != 0:
                        break
                print(line(tool, runs) + f"   [load {runs[-1]['load'][0]} -> {runs[-1]['load'][1]}]")
                if tool == "placecat" and runs[-1]["rc"] == 0:
                    # where the time went, by stage (match_file's summary), for the last run
                    print(f"            stages (s): {json.dumps(runs[-1]['summary'].get('file_seconds'))}; matching "
                          f"{json.dumps(runs[-1]['summary'].get('seconds'))}; review queue {runs[-1]['queue'].get('seconds')} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
