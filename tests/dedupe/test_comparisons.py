"""Comparison levels on the cases that directories publish differently: a shortened name, a street
type abbreviated, a town named two ways; and the look-alikes that must still stay apart (a
qualifier in front of a class name, a class on another day, a franchise in a town with a longer
name, the next house on the street)."""
import json

import pytest

from dedupe.comparisons import SERVICE_COMPARISONS
from dedupe.levels import compute_gammas
from dedupe.matcher import match_records
from tests.support.listings import cluster_of, clusters, keyed, leisure_world, listing


def no_geography(source, rid, name, **kw):
    """A listing with an address and a town but neither postcode nor coordinates."""
    return listing(source, rid, name, pc=None, lat=None, lon=None, **kw)


def bare(row: dict) -> dict:
    """A listing that gives no days or times, description or category (a guide's name, address and phone)."""
    return row | {"schedule": [], "description": None, "terms": []}


def world_with(extra: list[dict]) -> dict[str, set[str]]:
    con = keyed(leisure_world() + extra)
    match_records(con)
    return clusters(con)


@pytest.fixture(scope="module")
def groups():
    extra = [
        # A shortened name at the same address and phone.
        listing("council", "chat-long", "Coffee and Chat at Holy Trinity", org="Holy Trinity", pc="LS1 6HW",
                addr="Boar Lane", phone="0113 245 9999", lat=53.7955, lon=-1.5441, day="FR"),
        listing("nhs", "chat-short", "Coffee & Chat", org="Holy Trinity", pc="LS1 6HW", addr="Boar Lane",
                phone="0113 245 9999", lat=53.7955, lon=-1.5441, day="FR"),
        # An abbreviated word of the name ('Centre' vs 'Ctr' is an abbreviation; 'Info' vs 'Information' too).
        listing("council", "info-long", "Carers Information Drop-in", org="Carers Leeds", pc="LS2 8QE", addr="6 Kirkgate",
                phone="0113 380 4300", lat=53.7960, lon=-1.5390, day="TU"),
        listing("vcs", "info-short", "Carers Info Drop-in", org="Carers Leeds", pc="LS2 8QE", addr="6 Kirkgate",
                phone="0113 380 4300", lat=53.7960, lon=-1.5390, day="TU"),
        # Town named as the district by one source and the city by the other; no postcode or coordinates;
        # 'Street' abbreviated; the same local number.
        no_geography("council", "cafe-city", "Otley Road Community Cafe", org="Far Headingley Church", addr="12 Otley Street",
                     city="Leeds", phone="0113 275 1111", day="SA"),
        no_geography("vcs", "cafe-district", "Otley Road Community Cafe", org="Far Headingley Church", addr="12 Otley St.",
                     city="Headingley", phone="0113 275 1111", day="SA"),
        # A qualifier in front of a class name is another class: 'Yoga' and 'Chair Yoga' at the leisure centre.
        listing("council", "yoga", "Yoga", day="SA"),
        listing("nhs", "chair-yoga-solo", "Chair Yoga", day="SA"),
        # The same words with more after them, but on another day: another class.
        listing("vcs", "yoga-beginners", "Yoga for Beginners", day="SU"),
        # A franchise in 'Bury' and in 'Bury St Edmunds' (two towns), no postcode or coordinates.
        no_geography("council", "lunch-bury", "Memory Cafe", org="Alzheimer's Society", addr="Bury Library",
                     city="Bury", phone="0333 150 3456", day="WE"),
        no_geography("nhs", "lunch-bse", "Memory Cafe", org="Alzheimer's Society", addr="Moyses Hall",
                     city="Bury St Edmunds", phone="0333 150 3456", day="WE"),
        # One kind of session named two ways ('Lessons' / 'Classes') at one venue and time.
        listing("council", "swim-lessons", "Junior Swimming Lessons", org="Leeds Leisure", pc="LS9 8AU", addr="Fearnville Drive",
                phone="0113 378 9000", lat=53.8160, lon=-1.4800, day="TH"),
        listing("nhs", "swim-classes", "Junior Swimming Classes", org="Leeds Leisure", pc="LS9 8AU", addr="Fearnville Drive",
                phone="0113 378 9000", lat=53.8160, lon=-1.4800, day="TH"),
        # The next house on the same street: two venues, however alike the two addresses read.
        no_geography("council", "bank-33", "Food Bank", org="Trussell Trust", addr="33 High Street", city="Wakefield",
                     phone="0300 123 4567", day="TH"),
        no_geography("nhs", "bank-43", "Food Bank", org="Trussell Trust", addr="43 High Street", city="Wakefield",
                     phone="0300 123 4567", day="TH"),
    ]
    return world_with(extra)


def test_a_shortened_name_at_the_same_address_and_phone_merges(groups):
    assert cluster_of(groups, "chat-long") == {"chat-long", "chat-short"}


def test_an_abbreviated_word_in_the_name_still_merges(groups):
    assert cluster_of(groups, "info-long") == {"info-long", "info-short"}


def test_a_town_named_two_ways_merges_when_street_address_and_local_phone_agree(groups):
    assert cluster_of(groups, "cafe-city") == {"cafe-city", "cafe-district"}


def test_a_qualifier_in_front_of_a_class_name_is_another_class(groups):
    assert "chair-yoga-solo" not in cluster_of(groups, "yoga")


def test_a_longer_name_on_another_day_is_another_class(groups):
    assert "yoga-beginners" not in cluster_of(groups, "yoga")


def test_a_franchise_in_a_town_with_a_longer_name_stays_apart(groups):
    assert cluster_of(groups, "lunch-bury") == {"lunch-bury"}


def test_two_house_numbers_on_one_street_stay_apart(groups):
    assert cluster_of(groups, "bank-33") == {"bank-33"}


@pytest.mark.parametrize("other, level", [("01924 731110", "same switchboard"), ("01924 245110", "different"),
                                          # mobiles are not numbered by place: alike first digits say nothing
                                          ("07700 900110", "different")])
def test_phones_alike_but_for_the_last_four_digits_are_one_switchboard(other, level):
    """One venue's two lines (Fodors-Zagats: a casino restaurant's desk and reservations): not two numbers
    that disagree, and evidence of one venue."""
    first = "07700 900547" if other.startswith("07") else "01924 731547"
    con = keyed(leisure_world() + [bare(no_geography(s, f"court-{s}", "Palace Court", org=None, addr="3570 Kirkgate",
                                                     city="Wakefield", phone=p)) for s, p in (("council", first), ("nhs", other))])
    match_records(con)
    reason = json.loads(con.execute("""SELECT c.reason FROM work.record_cluster c JOIN work.match_record r USING (mid)
                                       WHERE r.source_record_id LIKE 'court-%' AND c.reason LIKE '%comparisons%'""").fetchone()[0])
    phone = next(c for c in reason["comparisons"] if c["comparison"] == "phone")
    assert phone["level"] == level and (phone["weight"] > 0) == (level == "same switchboard")


def test_lessons_and_classes_of_one_kind_at_one_venue_merge(groups):
    assert cluster_of(groups, "swim-lessons") == {"swim-lessons", "swim-classes"}


@pytest.mark.parametrize("council_time, merged", [("18:30", True), ("19:30", False)])
def test_a_session_under_the_councils_programme_name_is_the_operators_session(council_time, merged):
    """A council lists the leisure operator's session under its own programme ('Get Set Leeds Spin Class'
    for the operator's 'Spin Class'): the same venue, day and start time make it one session; at
    another time it is another."""
    def spin(source, rid, name, time):
        return listing(source, rid, name, org="Active Leeds", pc="LS7 3PE", addr="Scott Hall Road", phone=None,
                       lat=53.8220, lon=-1.5360, day="WE") | {"schedule": [f"WE@{time}"]}
    groups = world_with([spin("council", "spin-programme", "Get Set Leeds Spin Class", council_time),
                         spin("operator", "spin-session", "Spin Class", "18:30")])
    assert (cluster_of(groups, "spin-programme") == {"spin-programme", "spin-session"}) == merged


def test_a_monthly_day_with_its_week_is_the_same_day_as_without():
    """'Third Saturday of the month' in one directory, 'monthly on Saturdays' in another (OpenActive's byDay
    with P1M names no week): the same day and time, not a schedule on another day (a veto)."""
    def walk(source, rid, day):
        return listing(source, rid, "Nordic Walking", org="Wythenshawe Walkers", pc="M22 4LT", addr="Wythenshawe Park",
                       phone="0161 998 1234", lat=53.4040, lon=-2.2640) | {"schedule": [f"{day}@09:00"]}
    con = keyed(leisure_world() + [walk("council", "walk-monthly", "3SA"), walk("operator", "walk-plain", "SA")])
    match_records(con)
    reason = json.loads(con.execute("""SELECT c.reason FROM work.record_cluster c JOIN work.match_record r USING (mid)
                                       WHERE r.source_record_id LIKE 'walk-%' AND c.reason LIKE '%comparisons%'""").fetchone()[0])
    schedule = next(c for c in reason["comparisons"] if c["comparison"] == "schedule")
    assert schedule["level"] == "same days and times"
    assert cluster_of(clusters(con), "walk-monthly") == {"walk-monthly", "walk-plain"}



def _venue_level(a: dict, b: dict) -> str:
    """The venue comparison's level of the pair (a, b), keyed among the leisure world's listings."""
    con = keyed(leisure_world() + [a, b])
    con.execute("""CREATE TABLE one_pair AS SELECT min(mid) AS mid_l, max(mid) AS mid_r FROM work.match_record
                   WHERE source_record_id IN (?, ?)""", [a["source_record_id"], b["source_record_id"]])
    compute_gammas(con, "one_pair", target="one_gamma")
    venue = next(c for c in SERVICE_COMPARISONS if c.name == "venue")
    return venue.levels[con.execute('SELECT "g_venue" FROM one_gamma').fetchone()[0]].label


@pytest.mark.parametrize("addr_a, addr_b, pc_b, level", [
    # one street name in two districts of a city: not one venue by the street alone
    ("Vicarage Terrace", "99 Vicarage Terrace", "M20 6GN", "elsewhere"),
    # the same house number too: one of the postcodes is mistyped
    ("99 Vicarage Terrace", "99 Vicarage Terrace", "M20 6GN", "same address in the same town"),
    # both in one district: the street is the venue, as before
    ("Vicarage Terrace", "99 Vicarage Terrace", "M18 7GB", "same address in the same town"),
])
def test_a_street_named_in_two_districts_is_not_one_venue_by_its_name(addr_a, addr_b, pc_b, level):
    """dev-2026: Manchester Foodbank's centres in M18 and M20 are both on a 'Vicarage Terrace'; the street
    in the same town made them one venue, and the two centres one service."""
    def centre(source, rid, addr, pc):
        return listing(source, rid, "Foodbank Centre", org="Manchester Foodbank", pc=pc, addr=addr, city="Manchester",
                       phone="0161 222 0000", lat=None, lon=None, day="TH")
    assert _venue_level(centre("council", "centre-a", addr_a, "M18 7GF"), centre("vcs", "centre-b", addr_b, pc_b)) == level
