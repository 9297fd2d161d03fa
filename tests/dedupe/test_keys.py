"""Key normalisation: the forms matching compares."""
import pytest

from dedupe import keys
from dedupe.keys import normalise_with_sql, phonetic_key
from dedupe.records import key_records
from tests.support.listings import keyed, leisure_world


@pytest.mark.parametrize("raw, expected", [
    ("ls11ab", "LS1 1AB"), ("LS1 1AB", "LS1 1AB"), (" sw1a-1aa ", "SW1A 1AA"), ("not a postcode", None), (None, None)])
def test_postcodes_are_canonical(raw, expected):
    assert normalise_with_sql("pc_norm", raw) == expected


@pytest.mark.parametrize("a, b", [
    ("Coffee & Chat", "coffee and chat"), ("Beeston Men's Shed", "Beeston Mens Shed"),
    ("St. Mary's Centre", "Saint Marys Center"), ("The Food Bank Ltd", "FOOD BANK"), ("Café Culture CIC", "cafe culture")])
def test_name_variants_normalise_alike(a, b):
    assert normalise_with_sql("name_norm", a) == normalise_with_sql("name_norm", b)


def name_key(name):
    return normalise_with_sql("name_key_of", normalise_with_sql("name_tokens", name))


def test_lessons_and_classes_share_a_name_key_but_not_their_words():
    assert name_key("Junior Swimming Lessons") == name_key("junior swimming classes") == "class junior swimming"
    # only the key: the words stay as written, so that a misspelt 'Lessns' still reads as 'Lessons'
    assert normalise_with_sql("name_norm", "Swimming Lessons") == "swimming lessons"
    assert name_key("Adult Swimming Lessns") != name_key("Adult Swimming Lessons")


def test_different_names_stay_different():
    assert normalise_with_sql("name_norm", "Walking Football") != normalise_with_sql("name_norm", "Walking Netball")


@pytest.mark.parametrize("raw", ["0113 389 3000", "+44 113 389 3000", "+44 (0)113 389 3000", "01133893000 ext 12", "0044 113 3893000"])
def test_phones_become_e164(raw):
    assert normalise_with_sql("phone_e164", raw) == "+441133893000"


def test_national_numbers_are_recognised():
    assert normalise_with_sql("phone_is_national", normalise_with_sql("phone_e164", "0800 678 1602")) is True
    assert normalise_with_sql("phone_is_national", normalise_with_sql("phone_e164", "0113 389 3000")) is False


@pytest.mark.parametrize("url, key", [
    ("https://www.ageukleeds.org.uk/coffee-chat/", "ageukleeds.org.uk"),
    ("http://shop.example.com/x?y=1", "example.com"),
    ("https://www.facebook.com/CoffeeChat/", "facebook.com/coffeechat"),
    ("https://www.leeds.gov.uk/youth", "leeds.gov.uk/youth"),
    ("https://www.eventbrite.co.uk/e/123", "eventbrite.co.uk/e/123")])
def test_web_keys_use_registered_domain_and_pages_on_shared_hosts(url, key):
    assert normalise_with_sql("web_key", url) == key


def test_email_domains_of_shared_providers_say_nothing():
    assert normalise_with_sql("email_domain_key", "Info@AgeUKLeeds.org.uk") == "ageukleeds.org.uk"
    assert normalise_with_sql("email_domain_key", "someone@gmail.com") is None


@pytest.mark.parametrize("typ, value, expected", [
    ("Registered Charity Number", "1 123 456", "charity:1123456"), ("Company number", "123", "company:00000123"),
    ("UPRN", "10023 4567", "uprn:100234567"), ("Ofsted URN", "ey123456", "ofsted:EY123456"),
    ("CQC location id", "1-123", "cqc:1-123"), ("favourite colour", "blue", None)])
def test_identifiers_get_canonical_schemes(typ, value, expected):
    assert normalise_with_sql("ident_norm", typ, value) == expected


def test_phonetic_keys_merge_spellings_but_not_words():
    assert phonetic_key("Smith") == phonetic_key("Smyth")
    assert phonetic_key("Centre") == phonetic_key("Sentre")
    assert phonetic_key("netball") != phonetic_key("football")


def test_name_conflict_needs_a_different_word_on_both_sides():
    conflict = lambda a, b: normalise_with_sql("names_conflict", a.split(), b.split())  # noqa: E731
    assert conflict("walking football", "walking netball")
    assert conflict("saint mary toddler group", "saint mark toddler group")
    assert not conflict("coffee and chat", "coffee and chat leeds")   # a town suffix on one side only
    assert not conflict("junior swimming lessons", "junior simming lessons")  # a typo


def _tokens(name):
    return normalise_with_sql("name_tokens", name)


@pytest.mark.parametrize("short, long", [
    ("Fenix", "Fenix at the Argyle"), ("Coffee & Chat", "Coffee and Chat - Leeds"), ("Spago", "Spago (Los Angeles)")])
def test_a_name_extends_another_by_words_after_it(short, long):
    assert normalise_with_sql("name_extends", _tokens(short), _tokens(long))
    assert normalise_with_sql("name_extends", _tokens(long), _tokens(short))


@pytest.mark.parametrize("a, b", [
    ("Yoga", "Chair Yoga"), ("Lunch Club", "Over 50s Lunch Club"), ("Netball", "Walking Netball"),
    ("Coffee Morning", "Coffee Morning")])
def test_a_qualifier_in_front_or_the_same_name_is_not_an_extension(a, b):
    assert not normalise_with_sql("name_extends", _tokens(a), _tokens(b))


def test_names_look_alike_word_for_word_through_abbreviations_and_typos():
    assert normalise_with_sql("names_look_alike", _tokens("Arts Deli"), _tokens("Arts Delicatessen"))
    assert normalise_with_sql("names_look_alike", _tokens("Family Swim"), _tokens("Family Swimming"))
    assert not normalise_with_sql("names_look_alike", _tokens("Walking Netball"), _tokens("Netball"))
    assert not normalise_with_sql("names_look_alike", _tokens("Walking Football"), _tokens("Walking Netball"))


@pytest.mark.parametrize("a, b", [
    ("12 High St.", "12 High Street"), ("435 S. La Cienega Blv.", "435 South La Cienega Boulevard"),
    ("854 7th Ave.", "854 Seventh Avenue"), ("3 Park Cres", "3 Park Crescent"), ("St John's Rd", "Saint Johns Road"),
    ("Unit 4, Mill Ind. Est.", "unit 4 mill industrial estate")])
def test_addresses_spell_street_types_ordinals_and_directions_one_way(a, b):
    assert normalise_with_sql("addr_canon", normalise_with_sql("name_norm", a)) == \
        normalise_with_sql("addr_canon", normalise_with_sql("name_norm", b))


@pytest.mark.parametrize("address, number", [
    ("12 High Street", "12"), ("Southside Hall, 12a High St", "12a"), ("3rd St.", ""), ("201 W. 54th St.", "201"), (None, "")])
def test_house_numbers_are_read_from_the_normalised_address(address, number):
    assert normalise_with_sql("house_number", normalise_with_sql("name_norm", address)) == number


def test_town_variants_are_one_name_with_words_added():
    variant = lambda a, b: normalise_with_sql("town_variant", normalise_with_sql("name_norm", a), normalise_with_sql("name_norm", b))  # noqa: E731
    assert variant("New York", "New York City") and variant("Stoke", "Stoke-on-Trent")
    assert not variant("Leeds", "Leek") and not variant("Hollywood", "West Hollywood")


@pytest.mark.parametrize("a, b", [("310/246-1501", "310-246-1501"), ("(212) 319-1660", "212/ 319-1660")])
def test_non_uk_numbers_compare_by_their_digits_and_are_not_read_as_uk(a, b):
    assert normalise_with_sql("phone_e164", a) == normalise_with_sql("phone_e164", b)
    assert not normalise_with_sql("phone_e164", a).startswith("+44")


def test_records_keyed_under_other_key_rules_are_keyed_again(monkeypatch):
    """A record's keys are kept from night to night while its content is unchanged, but not across a
    change of the key rules: else one night would compare names keyed two ways."""
    con = keyed(leisure_world())
    total = con.execute("SELECT count(*) FROM work.match_record").fetchone()[0]
    con.execute("CREATE SCHEMA previous")
    con.execute("CREATE TABLE previous.match_record AS SELECT * FROM work.match_record")
    assert key_records(con, previous="previous") == 0
    monkeypatch.setitem(keys.NAME_KEY_SYNONYMS, "club", "group")
    assert key_records(con, previous="previous") == total
    lunch = con.execute("SELECT DISTINCT name_key FROM work.match_record WHERE name LIKE '%lunch club%'").fetchall()
    assert lunch == [("50s group lunch over",)]


def test_records_keyed_by_other_keying_code_are_keyed_again(monkeypatch):
    """The keying written in dedupe/records.py (which macros it calls on which fields) is a key rule too:
    a record keyed by last night's code is keyed again."""
    from dedupe import records

    con = keyed(leisure_world())
    total = con.execute("SELECT count(*) FROM work.match_record").fetchone()[0]
    con.execute("CREATE SCHEMA previous")
    con.execute("CREATE TABLE previous.match_record AS SELECT * FROM work.match_record")
    assert key_records(con, previous="previous") == 0
    original = records._key_rows

    def keying_that_also_drops_the_venue(con, source, target, first_mid):  # another version of the keying
        original(con, source, target, first_mid)

    monkeypatch.setattr(records, "_key_rows", keying_that_also_drops_the_venue)
    assert key_records(con, previous="previous") == total
