"""Misspelt words in names (dedupe.typos): a rare spelling one edit from a common word is read as it;
words in common use, short words and a changed first letter are never read as another word; the
reading takes misspelt organisation text off the name; a listing with a slip merges with its service,
and an incremental night that changes a reading compares that record again as a full match would."""
import pytest

from dedupe.matcher import match_records
from dedupe.records import key_records
from tests.support.listings import cluster_of, clusters, keyed, leisure_world, listing
from tests.support.match_nights import as_previous, reload_inputs


def words_of(con) -> dict[str, str]:
    """Each record's name as the comparisons read it, by record id."""
    return dict(con.execute("SELECT source_record_id, name_cmp FROM work.match_record").fetchall())


def others(word: str, n: int, start: int = 0) -> list[dict]:
    """n listings elsewhere whose names use the word, each at its own venue (no one's duplicate)."""
    return [listing("other", f"{word}-{k}", f"{word.title()} {['Club', 'Session', 'Group', 'Hour', 'Class'][k % 5]} {k}",
                    org=f"Org {word} {k}", pc=f"M{k + 1} {k % 9 + 1}AB", addr=f"{k + 1} {word.title()} Road",
                    phone=f"0161 49{k % 10} {k:04d}", lat=53.4 + k / 100, lon=-2.2 + k / 100) for k in range(start, start + n)]


def test_a_rare_spelling_one_edit_from_a_common_word_is_read_as_it():
    rows = others("trampolining", 4) + [listing("vcs", "slip", "Traipolining")]   # a letter changed, not the first
    rows += [listing("vcs", "swap", "Trampolinnig Club")]                       # two letters swapped
    words = words_of(keyed(rows))
    assert words["slip"] == "trampolining"
    assert words["swap"] == "trampolining club"
    assert words["trampolining-0"] == "trampolining club 0"      # the common spelling is left as it is


@pytest.mark.parametrize("rare, common, why", [
    ("mark", "mary", "four letters, one changed: St Mark and St Mary are two churches"),
    ("south", "youth", "the first letter changed: another word"),
    ("wiki", "wikis", "the common word is not common enough: three listings, one rare"),
])
def test_words_that_may_be_words_are_never_read_as_another(rare, common, why):
    n = 2 if common == "wikis" else 5
    rows = others(common, n) + [listing("vcs", "rare", f"St {rare.title()} Toddler Group")]
    assert words_of(keyed(rows))["rare"] == f"saint {rare} toddler group", why


def test_two_spellings_both_in_common_use_are_two_words():
    rows = others("imca", 3) + others("imha", 6)
    words = words_of(keyed(rows))
    assert all(w.startswith("imca") for rid, w in words.items() if rid.startswith("imca"))


def test_a_misspelt_organisation_in_the_name_is_taken_off():
    # 'service' is common (other listings' names use it); the slip in the organisation's words kept them on
    rows = others("service", 4) + [listing("gm", "prefixed", "Cornwall Carers Esrvice Carers Support Group",
                                          org="Cornwall Carers Service")]
    assert words_of(keyed(rows))["prefixed"] == "carers support group"


def _trampolining_at_the_pool(sources=("council", "nhs")) -> list[dict]:
    """Trampolining on Saturdays at the leisure centre of tests.support.listings, as two sources list it."""
    return [listing(s, f"{s}-tramp", "Trampolining", day="SA") for s in sources]


def test_a_listing_with_a_slip_merges_with_its_service():
    # Without the reading, 'traipolining' has no look-alike among 'trampolining''s words (Jaro-Winkler 0.897):
    # "one word differs", a veto, though the venue, phone, organisation and session all agree.
    # The leisure centre's twelve classes, listed by every source, give the model its weights.
    rows = leisure_world() + _trampolining_at_the_pool() + others("trampolining", 4)
    con = keyed(rows + [listing("vcs", "vcs-tramp", "Traipolining", day="SA")])
    match_records(con, explain=False)
    assert cluster_of(clusters(con), "vcs-tramp") == {"council-tramp", "nhs-tramp", "vcs-tramp"}


def test_an_incremental_night_that_changes_a_reading_compares_the_record_again():
    # Night 1: 'trampolining' is in three names (the pool's two listings and one elsewhere), not three times
    # the slip's one: no reading, and the slip stays apart. Night 2 adds listings elsewhere only; the
    # word is common now, and the unchanged slip must merge as a full match of night 2 merges it.
    night1 = _trampolining_at_the_pool() + [listing("vcs", "vcs-tramp", "Traipolining", day="SA")] \
        + leisure_world()
    con = keyed(night1)
    first = match_records(con, explain=False)
    assert words_of(con)["vcs-tramp"] == "traipolining"
    assert cluster_of(clusters(con), "vcs-tramp") == {"vcs-tramp"}
    as_previous(con)
    night2 = night1 + others("trampolining", 4)
    reload_inputs(con, night2)
    key_records(con, previous="previous")
    assert words_of(con)["vcs-tramp"] == "trampolining"
    match_records(con, explain=False, model=first.model, previous="previous")
    full = keyed(night2)
    match_records(full, explain=False, model=first.model)
    assert cluster_of(clusters(con), "vcs-tramp") == cluster_of(clusters(full), "vcs-tramp") \
        == {"council-tramp", "nhs-tramp", "vcs-tramp"}
    assert clusters(con) == clusters(full)
