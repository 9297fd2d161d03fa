"""The matcher on hand-written listings: the hard cases, the guard against the venue trap,
non-chaining clustering, overrides, `placecat match` and `placecat explain`."""
import csv
import json
import subprocess
import sys
import zlib

import duckdb
import numpy as np
import pytest

from dedupe.clustering import cluster_pairs
from dedupe.comparisons import SERVICE_COMPARISONS
from dedupe.matcher import match_records
from dedupe.overrides import load_overrides
from dedupe.records import key_records
from dedupe.levels import fetch_gammas
from dedupe.scoring import MATCH_PROBABILITY, Model, explain_pair, record_facts, score_gammas
from tests.support.environment import REPO
from tests.support.listings import CLASSES, SOURCES, cluster_of, clusters, keyed, leisure_world
from tests.support.match_nights import as_previous, generated_rows, reload_inputs


@pytest.fixture(scope="module")
def matched():
    con = keyed(leisure_world())
    outcome = match_records(con)
    return con, outcome, clusters(con)


def test_real_duplicates_merge_across_sources_despite_formatting(matched):
    _, _, groups = matched
    for n in range(3):
        assert cluster_of(groups, f"council-svc-{n}") == {f"{s}-svc-{n}" for s in SOURCES}


def test_classes_at_one_venue_with_one_phone_stay_apart_but_each_class_merges(matched):
    _, _, groups = matched
    for n in range(len(CLASSES)):
        assert cluster_of(groups, f"council-class-{n}") == {f"{s}-class-{n}" for s in SOURCES}


def test_franchise_branches_in_different_towns_stay_apart(matched):
    _, _, groups = matched
    assert cluster_of(groups, "council-lunch-leeds") == {"council-lunch-leeds", "nhs-lunch-leeds"}
    assert cluster_of(groups, "council-lunch-york") == {"council-lunch-york", "nhs-lunch-york"}


def test_near_identical_names_at_nearby_venues_stay_apart(matched):
    _, _, groups = matched
    assert cluster_of(groups, "toddler-mary") == {"toddler-mary"}


def test_the_gates_are_what_keeps_siblings_apart(matched):
    """Shared venue and phone carry many bits of evidence; for siblings (names disagree) the gates
    clamp them to zero, so the same weights without the gates score every sibling far higher."""
    con, outcome, _ = matched
    # Siblings' names disagree, so the matcher does not compare them in full (NAME_PREFILTER); the
    # training pairs (every candidate, on a set this small) hold their levels.
    mid_l, mid_r, g = fetch_gammas(con, "work.training_gamma", outcome.model.comparisons)
    rid = dict(con.execute("SELECT mid, source_record_id FROM work.match_record").fetchall())
    sibling = np.array(["-class-" in rid[a] and "-class-" in rid[b] and rid[a].split("-class-")[-1] != rid[b].split("-class-")[-1]
                        for a, b in zip(mid_l.tolist(), mid_r.tolist())])
    assert sibling.sum() > 100
    m = outcome.model
    ungated = Model(m.comparisons, m.m, m.u, m.prior, gates=False)
    gated_weight, gated_prob, _ = score_gammas(m, g[sibling])
    ungated_weight, _, _ = score_gammas(ungated, g[sibling])
    assert (ungated_weight - gated_weight > 5).all()
    assert (gated_prob < MATCH_PROBABILITY).all()
    reason = explain_pair(m, g[sibling][0])
    gated = {c["comparison"] for c in reason["comparisons"] if "gated" in c}
    assert {"venue", "phone"} <= gated


def test_the_prior_is_the_share_of_matches_among_all_pairs(matched):
    """Estimated without labels over every pair of records (not over the candidates, most of which
    share a venue): it should come out near the true share, which the fixture knows (12 classes and
    3 services in 3 sources, one lunch club in 2 towns in 2 sources: 47 pairs)."""
    con, outcome, _ = matched
    sizes = [n for (n,) in con.execute("SELECT count(*) FROM work.match_record GROUP BY source_id").fetchall()]
    cross_pairs = (sum(sizes) ** 2 - sum(n * n for n in sizes)) // 2
    assert 47 / 3 <= outcome.model.prior * cross_pairs <= 47 * 3
    assert outcome.model.trained_on["m"] == "declared with the comparisons"
    assert [list(m) for m in outcome.model.m] == [list(c.m) for c in SERVICE_COMPARISONS]


def test_match_reason_carries_levels_and_weights(matched):
    con, _, _ = matched
    reason = json.loads(con.execute("""SELECT c.reason FROM work.record_cluster c JOIN work.match_record r USING (mid)
                                       WHERE r.source_record_id = 'nhs-svc-0'""").fetchone()[0])
    assert reason["rule"] == "matched" or reason["rule"] == "founding record"
    other = json.loads(con.execute("""SELECT c.reason FROM work.record_cluster c JOIN work.match_record r USING (mid)
                                      WHERE r.source_record_id IN ('nhs-svc-0', 'vcs-svc-0', 'council-svc-0')
                                      AND c.score < 1.0 LIMIT 1""").fetchone()[0])
    levels = {c["comparison"]: c["level"] for c in other["comparisons"]}
    assert levels["phone"] == "same local number" and levels["venue"].startswith("same postcode")
    assert all("weight" in c for c in other["comparisons"])


def test_clustering_does_not_chain():
    # A≈B and B≈C are strong, A and C clearly differ (a scored pair below 5%): C stays out.
    mid_l, mid_r = np.array([1, 2, 1]), np.array([2, 3, 3])
    prob = np.array([0.99, 0.98, 0.01])
    res = cluster_pairs(mid_l, mid_r, prob, prob >= 0.95, {1: "a", 2: "b", 3: "c"})
    assert res.root[1] == res.root[2] != res.root[3]
    assert res.refused["a member pair clearly differs"] == 1
    # Without the A–C evidence, unscored names that clearly differ also stop the chain.
    res = cluster_pairs(mid_l[:2], mid_r[:2], prob[:2], prob[:2] >= 0.95, {1: "a", 2: "b", 3: "c"},
                        names={1: "chair yoga", 2: "chair yoga class", 3: "junior gym class"})
    assert res.root[2] != res.root[3]


@pytest.mark.parametrize("offset", [0, 10**12])
def test_clustering_numbers_records_the_same_whether_their_mids_are_dense_or_sparse(offset):
    """Records are numbered by a table over dense mids, by a search over sparse ones: the clusters,
    the merges and the refusals are the same."""
    rng = np.random.default_rng(3)
    pairs = {(int(a), int(b)) for a, b in rng.integers(0, 300, (900, 2)) if a < b}
    mid_l, mid_r = (np.array(x, np.int64) + offset for x in zip(*sorted(pairs)))
    prob = rng.choice([0.99, 0.97, 0.6, 0.01], len(mid_l))
    sources = {m: "abc"[m % 3] for m in np.concatenate([mid_l, mid_r]).tolist()}
    res = cluster_pairs(mid_l, mid_r, prob, prob >= 0.95, sources, cannot_link={(int(mid_l[0]), int(mid_r[0]))})
    base = cluster_pairs(mid_l - offset, mid_r - offset, prob, prob >= 0.95, {m - offset: s for m, s in sources.items()},
                         cannot_link={(int(mid_l[0] - offset), int(mid_r[0] - offset))})
    assert {m - offset: r - offset for m, r in res.root.items()} == base.root
    assert [(a - offset, b - offset, p) for a, b, p in res.accepted] == base.accepted and res.refused == base.refused
    assert len(set(base.root.values())) < len(base.root) and base.refused["one record per source"] > 0


def test_equally_probable_pairs_cluster_the_same_however_the_records_are_numbered():
    """Pairs with the same levels have the same probability. Which of them merges first decides who
    joins whom; with tie keys (the matcher's hash of source and record id) that does not depend on
    the record numbers, which differ between an incremental night and a full match."""
    ids = ["a/1", "b/1", "b/2", "c/1", "c/2"]
    pairs = [("a/1", "b/1"), ("a/1", "b/2"), ("b/1", "c/1"), ("b/2", "c/2"), ("a/1", "c/2")]
    tie = {rid: zlib.crc32(rid.encode()) for rid in ids}

    def clusters_under(numbering, with_ties):
        number = dict(zip(numbering, range(len(numbering))))
        ordered = sorted((min(number[x], number[y]), max(number[x], number[y])) for x, y in pairs)
        mid_l, mid_r = (np.array(side, np.int64) for side in zip(*ordered))
        prob = np.full(len(mid_l), 0.99)
        res = cluster_pairs(mid_l, mid_r, prob, prob >= 0.95, {m: rid[0] for rid, m in number.items()},
                            tie_key={m: tie[rid] for rid, m in number.items()} if with_ties else None)
        groups = {}
        for rid, m in number.items():
            groups.setdefault(res.root.get(m, m), set()).add(rid)
        return {frozenset(g) for g in groups.values()}

    numberings = [ids, ids[::-1], ["b/2", "a/1", "c/1", "b/1", "c/2"]]
    assert len({frozenset(clusters_under(n, True)) for n in numberings}) == 1
    assert len({frozenset(clusters_under(n, False)) for n in numberings}) > 1    # without ties they differ


def test_one_record_per_source_in_a_cluster():
    mid_l, mid_r, prob = np.array([1, 2]), np.array([2, 3]), np.array([0.99, 0.98])
    res = cluster_pairs(mid_l, mid_r, prob, prob >= 0.95, {1: "a", 2: "b", 3: "a"})
    assert res.root[3] != res.root[2]
    assert res.refused["one record per source"] == 1


def test_overrides_are_honoured(tmp_path):
    path = tmp_path / "overrides.yaml"
    ov = load_overrides(path)
    ov.add("cannot-link", ("council", "council-svc-0"), ("nhs", "nhs-svc-0"), "checked by phone")
    ov.add("must-link", ("council", "council-class-0"), ("council", "council-class-1"), "renamed class")
    ov.save()
    assert load_overrides(path).version == 1
    con = keyed(leisure_world())
    match_records(con, overrides=load_overrides(path))
    groups = clusters(con)
    assert "nhs-svc-0" not in cluster_of(groups, "council-svc-0")
    assert "council-class-1" in cluster_of(groups, "council-class-0")


def test_a_malformed_overrides_file_is_one_clear_error(tmp_path):
    from dedupe.overrides import OverridesError
    path = tmp_path / "overrides.yaml"
    path.write_text("decisions:\n  - decision: maybe\n")
    with pytest.raises(OverridesError, match="decision 1"):
        load_overrides(path)


def oruk(row: dict) -> dict:
    return {"source_id": row["source_id"], "id": row["source_record_id"], "name": row["name"], "status": "active",
            "organization": {"id": "o-" + row["org_name"], "name": row["org_name"]},
            # ids unique within a source, as a feed's are (staging keeps one row per id)
            "phones": [{"id": "p-" + row["source_record_id"], "number": p} for p in row["phones"]],
            "schedules": [{"id": "s-" + row["source_record_id"], "freq": "WEEKLY", "byday": row["schedule"][0].split("@")[0],
                           "opens_at": "10:00"}],
            "service_at_locations": [{"id": "sal-" + row["source_record_id"], "location": {
                "id": "l-" + row["source_record_id"], "latitude": row["latitude"], "longitude": row["longitude"],
                "addresses": [{"id": "a-" + row["source_record_id"], "address_1": row["address"], "city": row["city"],
                               "postal_code": row["postcode"]}]}}]}


def test_placecat_match_writes_clusters_csv(tmp_path):
    rows = leisure_world()
    src = tmp_path / "services.jsonl"
    src.write_text("\n".join(json.dumps(oruk(r)) for r in rows) + "\n")
    out, queue = tmp_path / "clusters.csv", tmp_path / "queue.csv"
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "match", str(src), "--out", str(out),
                           "--review-out", str(queue)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    with out.open() as f:
        got = list(csv.DictReader(f))
    with queue.open() as f:
        asked = list(csv.DictReader(f))
    assert f"review queue: {len(asked)} of " in proc.stdout and asked and list(asked[0])[:3] == ["rank", "source_id_a", "record_id_a"]
    assert [int(q["rank"]) for q in asked] == list(range(1, len(asked) + 1))
    assert list(got[0]) == ["source_id", "record_id", "cluster_id", "score"]
    assert len(got) == len(rows)
    cluster = {r["record_id"]: r["cluster_id"] for r in got}
    assert len({cluster[f"{s}-svc-1"] for s in SOURCES}) == 1
    assert len({cluster[f"council-class-{n}"] for n in range(len(CLASSES))}) == len(CLASSES)


def test_placecat_match_reports_a_bad_line_in_one_line(tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"source_id": "a", "id": "1", "name": "x"}\n{oops\n')
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "match", str(src), "--out", str(tmp_path / "o.csv")],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert "line 2" in proc.stderr and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def _decisions(con) -> tuple[dict, set]:
    rid = dict(con.execute("SELECT mid, source_id || '/' || source_record_id FROM work.match_record").fetchall())
    pairs = {(rid[a], rid[b], d) for a, b, d in con.execute("SELECT mid_l, mid_r, decision FROM work.match_pair").fetchall()}
    return clusters(con), pairs


def test_the_name_prefilter_loses_no_merge_and_no_review_pair():
    """Pairs left out of the full comparison (names share too little) would have been neither merged
    nor queued for review: with and without the filter, the clusters and every kept pair agree."""
    sys.path.insert(0, str(REPO))
    from benchmarks.gen_services import generate
    frame = generate(400, seed=5)
    rows = frame[[c for c in frame.columns if c not in ("entity", "venue", "org", "kind")]].to_dict("records")
    filtered, full = keyed(rows), keyed(rows)
    out_filtered = match_records(filtered, explain=False)
    out_full = match_records(full, explain=False, prefilter=False)
    assert out_filtered.compared_pairs < out_full.compared_pairs      # the filter did leave pairs out
    assert _decisions(filtered) == _decisions(full)
    # Each pair it left out is one the full comparison calls "different" by name.
    left_out = set(full.execute("SELECT mid_l, mid_r FROM work.pair_gamma").fetchall()) - set(
        filtered.execute("SELECT mid_l, mid_r FROM work.compared").fetchall())
    different = [lv.label for lv in SERVICE_COMPARISONS[0].levels].index("different")
    levels = full.execute("SELECT mid_l, mid_r, g_name FROM work.pair_gamma").fetchall()
    assert left_out and {g for a, b, g in levels if (a, b) in left_out} == {different}


def test_candidates_read_in_parts_decide_as_read_at_once(monkeypatch):
    """The candidate pairs are filtered in parts (a bounded memory at scale): in parts of 2,048 pairs
    the training sample, the model, the clusters and every kept pair are those of one part."""
    import dedupe.matcher as matcher
    sys.path.insert(0, str(REPO))
    from benchmarks.gen_services import generate
    frame = generate(400, seed=5)
    rows = frame[[c for c in frame.columns if c not in ("entity", "venue", "org", "kind")]].to_dict("records")
    whole, parts = keyed(rows), keyed(rows)
    monkeypatch.setattr(matcher, "TRAINING_SAMPLE", 3_000)      # a sample drawn across the parts
    out_whole = match_records(whole, explain=False)
    monkeypatch.setattr(matcher, "CANDIDATE_CHUNK_VECTORS", 1)
    out_parts = match_records(parts, explain=False)
    assert out_parts.candidate_pairs > 2 * 2048 and out_parts.candidate_pairs > matcher.TRAINING_SAMPLE
    assert out_parts.model.to_json() == out_whole.model.to_json()
    assert (out_parts.compared_pairs, out_parts.review_pairs) == (out_whole.compared_pairs, out_whole.review_pairs)
    assert _decisions(parts) == _decisions(whole)


def test_an_incremental_night_equals_a_full_match_and_touches_only_what_changed():
    rows = generated_rows(400, seed=9)
    con = keyed(rows)
    night1 = match_records(con, explain=False)
    as_previous(con)
    # Night 2: one listing's name changes, ten disappear, and listings of 40 more services arrive.
    extra = [r for r in generated_rows(430, seed=9) if r["source_record_id"] not in {x["source_record_id"] for x in rows}]
    changed = dict(rows[3], name=rows[3]["name"] + " Plus")
    night2 = [changed] + rows[4:-10] + rows[:3] + extra
    reload_inputs(con, night2)
    fresh = key_records(con, previous="previous")
    assert fresh == 1 + len(extra)                     # the unchanged records kept their keyed rows
    out = match_records(con, explain=False, model=night1.model, previous="previous")
    region = con.execute("SELECT count(*) FROM work.region").fetchone()[0]
    assert region < len(night2) / 3                    # only the touched clusters were clustered again
    full = keyed(night2)
    match_records(full, explain=False, model=night1.model)
    assert _decisions(con)[0] == clusters(full)
    assert out.clusters == len(clusters(full))


def test_a_catalogue_whose_hashes_are_text_is_keyed_afresh_without_error():
    """An older placecat stored content hashes in another type: the night compares them as text,
    then keys every record afresh (last night's rows have other column types), and matches as usual."""
    rows = generated_rows(60, seed=4)
    con = keyed(rows)
    night1 = match_records(con, explain=False)
    as_previous(con)
    con.execute("ALTER TABLE previous.match_record ALTER content_hash TYPE VARCHAR")
    reload_inputs(con, rows)
    assert key_records(con, previous="previous") == len(rows)
    assert con.execute("SELECT count(*) FROM work.match_record").fetchone()[0] == len(rows)
    again = match_records(con, explain=False)
    assert again.clusters == night1.clusters


def test_levels_per_distinct_values_equal_the_levels_per_pair():
    """Comparisons with distinct_on are evaluated once per distinct pair of values; that must give
    every pair the level that evaluating it on its own records gives (and some pairs must share)."""
    import dataclasses

    from dedupe.levels import compute_gammas, fetch_gammas
    rows = generated_rows(300, seed=4)
    con = keyed(rows)
    match_records(con, explain=False, prefilter=False)
    assert any(c.distinct_on for c in SERVICE_COMPARISONS)
    per_pair = tuple(dataclasses.replace(c, distinct_on=()) for c in SERVICE_COMPARISONS)
    compute_gammas(con, "work.pair_gamma", comparisons=per_pair, target="work.per_pair_gamma")
    _, _, once = fetch_gammas(con, "work.pair_gamma", SERVICE_COMPARISONS)
    _, _, each = fetch_gammas(con, "work.per_pair_gamma", SERVICE_COMPARISONS)
    assert len(once) > 1000 and (once == each).all()
    names = con.execute("SELECT count(DISTINCT (l.name, r.name)) FROM work.pair_gamma p JOIN work.match_record l "
                        "ON l.mid = p.mid_l JOIN work.match_record r ON r.mid = p.mid_r").fetchone()[0]
    assert names < len(once) / 2


def test_the_region_clustered_again_does_not_depend_on_the_order_of_the_pair_table():
    """An incremental night clusters again the new records and the last-night clusters that a probable
    new pair touches. The pairs are read back from a table, whose rows need not be in any order."""
    from dedupe.matcher import _mark_region
    comps = SERVICE_COMPARISONS
    # Level 0 of every comparison strongly says "same", the last strongly says "different".
    m = [np.linspace(1, 0.01, len(c.levels)) / np.linspace(1, 0.01, len(c.levels)).sum() for c in comps]
    model = Model(comps, m, [x[::-1].copy() for x in m], 0.01)
    same, other = [0] * len(comps), [len(c.levels) - 1 for c in comps]
    con = duckdb.connect()
    con.execute("CREATE SCHEMA work; CREATE SCHEMA previous")
    con.execute("CREATE TABLE previous.match_cluster AS SELECT * FROM (VALUES (1, 1), (3, 1), (5, 5), (9, 9)) t(mid, cluster_mid)")
    con.execute("CREATE TABLE previous.match_pair (mid_l BIGINT, mid_r BIGINT, decision VARCHAR)")
    con.execute("CREATE TABLE work.changed AS SELECT 2 AS mid")
    con.execute("CREATE TABLE work.gone (mid BIGINT, source_id VARCHAR, name_key VARCHAR, place_key VARCHAR, org VARCHAR, "
                "postcode VARCHAR)")
    cols = ", ".join(f'"g_{c.name}" TINYINT' for c in comps)
    con.execute(f"CREATE TABLE work.pair_gamma (mid_l BIGINT, mid_r BIGINT, {cols})")
    # Not in (mid_l, mid_r) order: new record 2 is probably the same as 1; 5 and 9 differ.
    for pair, levels in (((5, 9), other), ((1, 2), same)):
        con.execute(f"INSERT INTO work.pair_gamma VALUES ({', '.join(map(str, pair + tuple(levels)))})")
    con.execute("CREATE TABLE work.match_record AS SELECT * FROM (VALUES (1, 'a'), (2, 'b'), (3, 'a'), (5, 'a'), (9, 'b')) "
                "t(mid, source_id)")
    con.execute("ALTER TABLE work.match_record ADD COLUMN name_key VARCHAR")
    for c in ("postcode", "org", "web_key", "org_web_key"):
        con.execute(f"ALTER TABLE work.match_record ADD COLUMN {c} VARCHAR")
    con.execute("ALTER TABLE work.match_record ADD COLUMN email_domains VARCHAR[]")
    _mark_region(con, "previous", MATCH_PROBABILITY, model, [], set(), record_facts(con, "work.match_record"))
    assert {m for (m,) in con.execute("SELECT mid FROM work.region").fetchall()} == {1, 2, 3}
