"""Blocking on hand-written listings: which pairs are worth scoring, and what the caps report."""
from dedupe.blocking import generate_candidates
from tests.support.listings import keyed, listing

TOWNS = [("Leeds", "LS2 7EY"), ("York", "YO1 7HH"), ("Hull", "HU1 1AA"), ("Bradford", "BD1 1AA"), ("Wakefield", "WF1 1AA"),
         ("Sheffield", "S1 1AA"), ("Bristol", "BS1 1AA"), ("Truro", "TR1 1AA"), ("Salford", "M5 4WT"), ("Bolton", "BL1 1AA")]


def candidates(rows: list[dict]) -> tuple[set[tuple[str, str]], dict]:
    con = keyed(rows)
    report = generate_candidates(con)
    pairs = con.execute("""SELECT l.source_record_id, r.source_record_id FROM work.candidate c
                           JOIN work.match_record l ON l.mid = c.mid_l JOIN work.match_record r ON r.mid = c.mid_r""").fetchall()
    return {tuple(sorted(p)) for p in pairs}, report


def elsewhere(source: str, rid: str, name: str, n: int, **kw) -> dict:
    """A listing in town n, sharing no phone, address, organisation or website with the others."""
    town, pc = TOWNS[n]
    return listing(source, rid, name, org=f"Org {rid}", pc=pc, addr=f"{n + 1} {town} Road", phone=f"0{n + 1}00 100 {n:04d}",
                   lat=None, lon=None, city=town, **kw)


def test_a_common_name_is_blocked_within_an_area_not_across_the_country():
    rows = [elsewhere("council" if n % 2 else "nhs", f"chat-{n}", "Coffee and Chat", n) for n in range(10)]
    rows.append(elsewhere("vcs", "chat-leeds-vcs", "Coffee & Chat", 0))
    pairs, report = candidates(rows)
    assert ("chat-0", "chat-leeds-vcs") in pairs                  # same name, same town: scored
    assert not any("chat-leeds-vcs" not in p and "chat-0" in p for p in pairs)   # Leeds is not compared with York ...
    assert len(pairs) == 1
    assert report["rules"]["name"]["dropped_blocks"] == 1           # ... and the national block is reported as capped


def test_a_rare_name_is_compared_across_areas():
    rows = [elsewhere("council", "fenix-leeds", "Fenix Arts Collective", 0),
            elsewhere("nhs", "fenix-york", "Fenix Arts Collective", 1)]
    pairs, _ = candidates(rows)
    assert pairs == {("fenix-leeds", "fenix-york")}
