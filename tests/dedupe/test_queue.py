"""The review queue (dedupe/queue.py): one question per pair of services, ranked by what deciding
it would change, bounded, and never a question already answered."""
import json

from dedupe.matcher import match_records
from dedupe.queue import QUEUE_FLOOR, queue_limit, write_review_queue
from dedupe.review import format_item
from tests.support.listings import keyed, leisure_world, listing
from tests.support.match_nights import generated_rows


def matched(n=900, seed=3):
    con = keyed(generated_rows(n, seed))
    outcome = match_records(con, explain=False)
    return con, outcome.model


def open_questions(con) -> dict[tuple[int, int], list[tuple[float, int, int]]]:
    """The oracle: every uncertain pair between two clusters, grouped by the pair of clusters, in
    plain Python over the matcher's tables."""
    cluster = dict(con.execute("SELECT mid, cluster_mid FROM work.record_cluster").fetchall())
    out: dict = {}
    for a, b, p in con.execute("SELECT mid_l, mid_r, probability FROM work.match_pair WHERE decision <> 'match'").fetchall():
        if cluster[a] != cluster[b]:
            out.setdefault(tuple(sorted((cluster[a], cluster[b]))), []).append((p, a, b))
    return out


def queue(con) -> list[dict]:
    cur = con.execute("SELECT * FROM catalogue.review_queue ORDER BY rank")
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def test_one_question_per_pair_of_services_ranked_by_the_records_it_would_join():
    con, model = matched()
    con.execute("CREATE SCHEMA catalogue")
    questions = open_questions(con)
    sizes = {}
    for (cluster,) in con.execute("SELECT cluster_mid FROM work.record_cluster").fetchall():
        sizes[cluster] = sizes.get(cluster, 0) + 1
    counts = write_review_queue(con, model, limit=10_000)
    items = queue(con)
    assert len(questions) > 20 and counts["questions"] == len(items) == len(questions)
    assert counts["uncertain_pairs"] > len(questions)        # several pairs between the same two services
    mid = {(s, r): m for m, s, r in con.execute("SELECT mid, source_id, source_record_id FROM work.match_record").fetchall()}
    cluster = dict(con.execute("SELECT mid, cluster_mid FROM work.record_cluster").fetchall())
    seen = set()
    for item in items:
        a, b = mid[item["source_id_a"], item["record_id_a"]], mid[item["source_id_b"], item["record_id_b"]]
        key = tuple(sorted((cluster[a], cluster[b])))
        assert key in questions and key not in seen
        seen.add(key)
        # the most probable of the pairs it stands for, and the records a must-link would join
        assert item["probability"] == max(p for p, _, _ in questions[key]) and item["pairs"] == len(questions[key])
        assert item["records_affected"] == sizes[key[0]] + sizes[key[1]]
        reasons = json.loads(item["reasons"])
        assert {c["comparison"] for c in reasons["comparisons"]} == {c.name for c in model.comparisons}
    ranking = [(-i["records_affected"], -i["probability"]) for i in items]
    assert ranking == sorted(ranking) and ranking[0] < ranking[-1]


def test_the_queue_is_cut_at_its_limit_and_what_was_cut_is_counted():
    con, model = matched()
    con.execute("CREATE SCHEMA catalogue")
    everything = write_review_queue(con, model, limit=10_000)
    top = [(i["source_id_a"], i["record_id_a"], i["source_id_b"], i["record_id_b"]) for i in queue(con)[:7]]
    counts = write_review_queue(con, model, limit=7)
    assert [(i["source_id_a"], i["record_id_a"], i["source_id_b"], i["record_id_b"]) for i in queue(con)] == top
    assert counts["queued"] == 7 and counts["not_queued"] == everything["questions"] - 7
    assert queue_limit(1_000_000) == 10_000 and queue_limit(2_000) == QUEUE_FLOOR


def test_services_a_person_kept_apart_are_not_asked_about_again():
    con, model = matched()
    con.execute("CREATE SCHEMA catalogue")
    write_review_queue(con, model, limit=10_000)
    first = queue(con)[0]
    mid = {(s, r): m for m, s, r in con.execute("SELECT mid, source_id, source_record_id FROM work.match_record").fetchall()}
    a, b = mid[first["source_id_a"], first["record_id_a"]], mid[first["source_id_b"], first["record_id_b"]]
    counts = write_review_queue(con, model, cannot={(min(a, b), max(a, b))}, limit=10_000)
    assert counts["already_decided"] == first["pairs"]
    pair = lambda i: ((i["source_id_a"], i["record_id_a"]), (i["source_id_b"], i["record_id_b"]))  # noqa: E731
    assert pair(first) not in {pair(i) for i in queue(con)}


def test_a_pair_held_below_the_merge_line_says_why_in_the_queue():
    """A listing with no venue of a name its organisation runs at two places: its comparisons agree,
    so the queue must say what holds it back (dedupe.scoring's doubtful pairs)."""
    def club(source, rid, pc, addr, lat, lon, city):
        return listing(source, rid, "Stroke Club", org="Stroke Association", pc=pc, addr=addr, lat=lat, lon=lon,
                       city=city, phone="0303 3033 100", day="TU", url="https://www.stroke.org.uk/stroke-club")
    rows = leisure_world() + [club("council", "leeds", "LS14 6ZF", "Seacroft Hall", 53.819, -1.461, "Leeds"),
                              club("council", "york", "YO1 7HH", "York Hall", 53.96, -1.08, "York"),
                              club("vcs", "no-venue", None, None, None, None, None)]
    con = keyed(rows)
    model = match_records(con, explain=False).model
    con.execute("CREATE SCHEMA catalogue")
    write_review_queue(con, model)
    items = [q for q in queue(con) if "no-venue" in (q["record_id_a"], q["record_id_b"])]
    assert items and all(q["probability"] < 0.95 for q in items)
    assert all("held below the merge line" in json.loads(q["reasons"])["held"] for q in items)
    assert "held below the merge line" in format_item(1, items[0])     # what placecat review prints
