"""The accuracy bench's scoring and error classes, on a tiny labelled set built here with a known answer.

Every wrong merge and missed pair of the set is one of the classes of issue 17 by construction, so
the class the bench gives each is known; the pairwise figures are checked against
``../shared/eval/score.py`` (an independent implementation) and by hand, B-cubed by hand.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import duckdb
import pytest

from benchmarks.bench_eval import SHARED_EVAL, evaluate, openactive_keys_from_raw
from benchmarks.labelled_set import load_set, record_facts

ADDRESS = {"LS1 1AA": "1 Hope Street", "LS2 2BB": "2 Mill Road", "LS9 9ZZ": "9 Park Lane", "LS3 3CC": "3 Moor Road",
           "BS1 1AA": "1 Quay Street", "LS4 4DD": "4 Kirkstall Road", "LS5 5EE": "5 Green Lane", "LS6 6FF": "6 Hyde Park"}

# (source, record id, entity, name, organisation, venue, postcode or None, phone, website)
RECORDS = [
    # wrong merges, one per class 1-4
    ("dir", "d1", "E1", "Junior Youth Club", "Hope Church", "Hope Hall", "LS1 1AA", "0113 000 0001", None),
    ("sheet", "s1", "E2", "Senior Youth Club", "Hope Church", "Hope Hall", "LS1 1AA", "0113 000 0001", None),
    ("dir", "d2", "E3", "Foodbank Centre", "Leeds Foodbank", "St Mark's Hall", "LS2 2BB", "0113 111 1111", "https://www.leedsfoodbank.org/"),
    ("sheet", "s2", "E4", "Foodbank Centre", "Leeds Foodbank", "St Luke's Hall", "LS9 9ZZ", "01131111111", "leedsfoodbank.org"),
    ("dir", "d3", "E5", "Health Walk", "Walk Leeds", "Roundhay Park", "LS3 3CC", "0113 222 2222", "https://walkleeds.org/"),
    ("oa", "o1", "E6", "Health Walk", "Walk Bristol", "Castle Park", "BS1 1AA", "0117 333 3333", "https://walkbristol.org/"),
    ("dir", "d4", "E7", "Befriending Service", "Age Concern Leeds", None, None, "0113 444 4444", None),
    ("sheet", "s3", "E8", "Telephone Friendship", "Contact Leeds", None, None, "0113 555 5555", None),
    # missed pairs, one per class 5-8 (E12 three times in one source)
    ("dir", "d5", "E9", "Better: Spin Class", "Better", "Moor Leisure Centre", "LS4 4DD", "0113 666 6666", None),
    ("oa", "o2", "E9", "Spin Class", "Better", "Moor Leisure Centre", "LS4 4DD", "0113 666 6666", None),
    ("dir", "d6", "E10", "Jnr Gymnastics", "Leeds Gym Club", "Kirkstall Sports Hall", "LS5 5EE", "0113 777 7777", None),
    ("sheet", "s4", "E10", "Junior Gymnastics", "Leeds Gym Club", "Kirkstall Sports Hall", "LS5 5EE", "0113 777 7777", None),
    ("dir", "d7", "E11", "Active Life Zumba", "Leisure Co", "Hyde Park Centre", "LS6 6FF", "0113 888 8888", None),
    ("oa", "o3", "E11", "Zumba", "Leisure Co", "Hyde Park Centre", "LS6 6FF", "0113 888 8888", None),
    ("sheet", "s5", "E12", "Lunch Club", "St Mary's Church", "St Mary's Hall", "LS1 1AA", "0113 999 9999", None),
    ("sheet", "s6", "E12", "Lunch Club", "St Mary's Church", "St Mary's Hall", "LS1 1AA", "0113 999 9999", None),
    ("sheet", "s8", "E12", "Lunch Club", "St Mary's Church", "St Mary's Hall", "LS1 1AA", "0113 999 9999", None),
    # one right merge and one record alone (left out of the predictions: a singleton)
    ("dir", "d8", "E13", "Chair Yoga", "Yoga Leeds", "Hope Hall", "LS1 1AA", "0113 121 2121", None),
    ("sheet", "s7", "E13", "Chair Yoga", "Yoga Leeds", "Hope Hall", "LS1 1AA", "0113 121 2121", None),
    ("oa", "o4", "E14", "Aqua Fit", "Leisure Co", "Hyde Park Centre", "LS6 6FF", "0113 888 8888", None),
]
HARD_NEGATIVES = [("E1", "E2", "same_org"), ("E4", "E3", "shared_phone"), ("E5", "E6", "same_franchise_service_other_town"),
                  ("E9", "E10", "similar_name_nearby")]
PREDICTED = {("dir", "d1"): "c1", ("sheet", "s1"): "c1", ("dir", "d2"): "c2", ("sheet", "s2"): "c2",
             ("dir", "d3"): "c3", ("oa", "o1"): "c3", ("dir", "d4"): "c4", ("sheet", "s3"): "c4",
             ("dir", "d8"): "c5", ("sheet", "s7"): "c5",
             ("dir", "d5"): "c6", ("oa", "o2"): "c7", ("dir", "d6"): "c8", ("sheet", "s4"): "c9",
             ("dir", "d7"): "c10", ("oa", "o3"): "c11", ("sheet", "s5"): "c12", ("sheet", "s6"): "c13", ("sheet", "s8"): "c14",
             ("oa", "tombstone-1"): "c5"}   # not in truth: ignored
EXPECTED_MERGE_CLASS = {("E1", "E2"): ["qualifier"], ("E3", "E4"): ["branches"], ("E5", "E6"): ["generic_name"],
                        ("E7", "E8"): ["no_venue"]}
EXPECTED_MISS_CLASS = {"E9": ["org_venue_in_name"], "E10": ["abbreviation_typo"], "E11": ["brand_prefix"], "E12": ["same_source"]}


def _v3_service(rid, name, org, venue, postcode, phone, web) -> dict:
    loc = [] if postcode is None else [{"id": f"sal-{rid}", "location": {
        "id": f"loc-{rid}", "name": venue, "addresses": [{"id": f"a-{rid}", "address_1": ADDRESS[postcode], "city": "Leeds",
                                                            "postal_code": postcode, "address_type": "physical"}]}}]
    return {"id": rid, "name": name, "organization": {"id": f"org-{rid}", "name": org, "website": web},
            "service_at_locations": loc, "phones": [{"id": f"p-{rid}", "number": phone}]}


def _oa_item(rid, name, org, venue, postcode, phone, web) -> dict:
    return {"state": "updated", "kind": "SessionSeries", "id": rid, "modified": 1, "data": {
        "@type": "SessionSeries", "@id": f"https://oa.example/session-series/{rid}", "name": name,
        "organizer": {"@type": "Organization", "name": org, "telephone": phone, "url": web},
        "location": {"@type": "Place", "name": venue, "address": {"streetAddress": ADDRESS[postcode], "addressLocality": "Bristol"
                                                                   if postcode.startswith("BS") else "Leeds",
                                                                   "postalCode": postcode}}}}


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory) -> Path:
    """The records above in the layout of ../shared/eval/dev-2026 (an ORUK v3 source, a CSV, an RPDE feed)."""
    root = tmp_path_factory.mktemp("tiny_set")
    by_source = {}
    for src, rid, _e, name, org, venue, pc, phone, web in RECORDS:
        by_source.setdefault(src, []).append((rid, name, org, venue, pc, phone, web))
    (root / "dir" / "services").mkdir(parents=True)
    (root / "dir" / "services" / "page-0001.json").write_text(json.dumps({"contents": [_v3_service(*r) for r in by_source["dir"]]}))
    (root / "sheet").mkdir()
    with (root / "sheet" / "services.csv").open("w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f)
        w.writerow(["ID", "Service Name", "Organisation", "Address 1", "Town", "Postcode", "Telephone", "Website"])
        for rid, name, org, venue, pc, phone, web in by_source["sheet"]:
            w.writerow([rid, name, org, f"{venue}, {ADDRESS[pc]}" if pc else "", "Leeds" if pc else "", pc or "", phone, web or ""])
    (root / "oa" / "feed").mkdir(parents=True)
    items = [_oa_item(*r) for r in by_source["oa"]] + [{"state": "deleted", "kind": "SessionSeries", "id": "tombstone-1", "modified": 2}]
    (root / "oa" / "feed" / "page-0001.json").write_text(json.dumps({"items": items, "next": "x"}))
    manifest = {"sources": [{"id": "dir", "kind": "oruk_v3", "path": "dir"}, {"id": "sheet", "kind": "csv", "path": "sheet"},
                            {"id": "oa", "kind": "openactive", "path": "oa"}]}
    (root / "manifest.json").write_text(json.dumps(manifest))
    with (root / "truth.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["source_id", "record_id", "entity_id"])
        w.writerows((src, rid, e) for src, rid, e, *_ in RECORDS)
    with (root / "hard_negatives.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["entity_a", "entity_b", "reason"])
        w.writerows(HARD_NEGATIVES)
    return root


@pytest.fixture(scope="module")
def result(tiny_set) -> dict:
    s = load_set(tiny_set)
    return evaluate(s.truth, PREDICTED, s.hard_negatives, record_facts(s), examples=10)


def test_pairwise_and_hard_negatives_agree_with_score_py(tiny_set, result, tmp_path):
    if not (SHARED_EVAL / "score.py").exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{SHARED_EVAL}/score.py is missing: CI must have ../shared beside the clone")
        pytest.skip(f"{SHARED_EVAL} not found (set PLACECAT_SHARED)")
    pred = tmp_path / "pred.csv"
    with pred.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["source_id", "record_id", "cluster_id"])
        w.writerows((s, r, c) for (s, r), c in PREDICTED.items())
    out = subprocess.run([sys.executable, str(SHARED_EVAL / "score.py"), str(tiny_set / "truth.csv"), str(pred), "--json"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    oracle = json.loads(out[-2])
    pw = result["pairwise"]
    assert (pw["tp"], pw["fp"], pw["fn"]) == (oracle["tp"], oracle["fp"], oracle["fn"]) == (1, 4, 6)
    assert pw["precision"] == pytest.approx(oracle["precision"]) == pytest.approx(1 / 5)
    assert pw["recall"] == pytest.approx(oracle["recall"]) == pytest.approx(1 / 7)
    assert pw["f1"] == pytest.approx(oracle["f1"]) == pytest.approx(1 / 6)
    hn = result["hard_negatives_merged"]
    assert hn["by_reason"] == oracle["hard_negative_by_reason"] == {
        "same_org": 1, "shared_phone": 1, "same_franchise_service_other_town": 1}
    assert result["missing_from_predictions"] == oracle["missing"] == 1


def test_bcubed_by_hand(result):
    # 8 records in wrong pairs (P 1/2, R 1), the right pair (1, 1), E9-E11 apart (1, 1/2),
    # E12's three apart (1, 1/3), o4 alone (1, 1): 20 records.
    p = (8 * Fraction(1, 2) + 2 + 6 + 3 + 1) / 20
    r = (8 + 2 + 6 * Fraction(1, 2) + 3 * Fraction(1, 3) + 1) / 20
    assert result["bcubed"]["precision"] == pytest.approx(float(p))
    assert result["bcubed"]["recall"] == pytest.approx(float(r))
    assert result["bcubed"]["f1"] == pytest.approx(float(2 * p * r / (p + r)))


def _entities(example: dict) -> tuple[str, ...]:
    rec = {f"{src}/{rid}": e for src, rid, e, *_ in RECORDS}
    return tuple(sorted(rec[r] for r in example["records"]))


def test_each_wrong_merge_lands_in_its_class_and_only_there(result):
    block = result["wrong_merges"]
    assert block["pairs"] == 4
    got = {}
    for cls, examples in block["examples"].items():
        for ex in examples:
            got.setdefault(_entities(ex), []).append(cls)
    assert got == {tuple(sorted(k)): v for k, v in EXPECTED_MERGE_CLASS.items()}


def test_each_missed_pair_lands_in_its_class_and_only_there(result):
    block = result["missed_pairs"]
    assert block["pairs"] == 6
    assert block["by_class"] == {"org_venue_in_name": 1, "abbreviation_typo": 1, "brand_prefix": 1, "same_source": 3}
    for cls, examples in block["examples"].items():
        for ex in examples:
            entity = _entities(ex)[0]
            assert EXPECTED_MISS_CLASS[entity] == [cls], (ex, cls)


def test_openactive_records_are_mapped_to_their_rpde_ids_through_raw_record(tmp_path):
    con = duckdb.connect(str(tmp_path / "c.duckdb"))
    con.execute("CREATE SCHEMA raw")
    con.execute("CREATE TABLE raw.record (source_id VARCHAR, record_id VARCHAR, payload JSON)")
    item = _oa_item("o9", "Spin", "Better", "Hall", "LS1 1AA", "0113 000 0000", None)
    con.execute("INSERT INTO raw.record VALUES ('oa', 'SessionSeries/o9', ?), ('dir', 'd1', '{\"id\": \"d1\"}')", [json.dumps(item)])
    keys = openactive_keys_from_raw(con, ["oa"])
    assert keys[("oa", "https://oa.example/session-series/o9")] == "o9"
    assert ("dir", "d1") not in keys
