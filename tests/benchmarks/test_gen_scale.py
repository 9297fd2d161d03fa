"""The skewed scale set and the scale bench's measuring: the skews scale with N, `placecat match`
reads the records, and a run past the memory cap is stopped with its whole process tree."""
from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.bench_scale import monitored, tree_rss_kb
from benchmarks.gen_eval_set import POSTCODES
from benchmarks.gen_scale import NATIONAL_LINE, generate
from dedupe.match_cli import read_services

N = 6000


@pytest.fixture(scope="module")
def scale_set(tmp_path_factory) -> Path:
    if not POSTCODES.exists():
        pytest.skip(f"{POSTCODES} not found (set PLACECAT_SHARED)")
    folder = tmp_path_factory.mktemp("scale") / f"{N}-3"
    generate(N, 3, folder)
    return folder


def test_the_skews_scale_with_the_number_of_records(scale_set):
    m = json.loads((scale_set / "manifest.json").read_text())
    assert m["records"] == N
    assert 0.45 <= m["duplicate_share"] <= 0.56                       # about half the records duplicate another
    phone, count = m["top_phones"][0]
    assert phone == NATIONAL_LINE[1] and abs(count - NATIONAL_LINE[3] * N / 1_000_000) <= 5
    assert m["records_per_postcode"]["max"] >= 5 * m["records_per_postcode"]["median"]   # a long tail of blocks
    assert 8 <= m["records_per_postcode"]["mean"] <= 25                # as dense as the national set
    rows = list(csv.DictReader((scale_set / "flat.csv").open()))
    assert len(rows) == N
    per_entity = Counter(r["entity"] for r in rows)
    sources_per_entity = {e: {r["source_id"] for r in rows if r["entity"] == e} for e in list(per_entity)[:300]}
    assert all(len(s) == per_entity[e] for e, s in sources_per_entity.items())   # never twice in one source
    real = {r["postcode"].replace(" ", "") for r in csv.DictReader(POSTCODES.open())}
    published = [r["postcode"].replace(" ", "").upper() for r in rows if r["postcode"]]
    assert sum(p in real for p in published) / len(published) > 0.85


def test_placecat_match_reads_every_record(scale_set):
    per_source = read_services(scale_set / "records.jsonl")
    ids = {(s, r) for s, r, _ in csv.reader((scale_set / "truth.csv").open()) if s != "source_id"}
    read = {(src, rec["source_record_id"]) for src, rows in per_source.items()
            for table, recs in rows.tables() if table == "service" for rec in recs}
    assert read == ids


def test_a_run_past_the_memory_cap_is_stopped_with_its_children(tmp_path):
    grow = ("import subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; b = bytearray(150 * 2**20); time.sleep(60)'])\n"
            "b = bytearray(150 * 2**20)\n"
            "time.sleep(60)\n")
    r = monitored([sys.executable, "-c", grow], cap_gb=0.2, cwd=tmp_path)
    assert r["capped"] and r["rc"] != 0
    assert 200 <= r["peak_rss_mb"] < 1000          # the sum over the process and its child
    assert r["wall_s"] < 30


def test_tree_rss_counts_the_process_itself():
    import os
    assert tree_rss_kb(os.getpid()) > 10_000
