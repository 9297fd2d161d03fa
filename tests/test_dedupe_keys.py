"""Key normalisation: the forms matching compares."""
import pytest

from dedupe.keys import normalise_with_sql, phonetic_key


@pytest.mark.parametrize("raw, expected", [
    ("ls11ab", "LS1 1AB"), ("LS1 1AB", "LS1 1AB"), (" sw1a-1aa ", "SW1A 1AA"), ("not a postcode", None), (None, None)])
def test_postcodes_are_canonical(raw, expected):
    assert normalise_with_sql("pc_norm", raw) == expected


@pytest.mark.parametrize("a, b", [
    ("Coffee & Chat", "coffee and chat"), ("Beeston Men's Shed", "Beeston Mens Shed"),
    ("St. Mary's Centre", "Saint Marys Center"), ("The Food Bank Ltd", "FOOD BANK"), ("Café Culture CIC", "cafe culture")])
def test_name_variants_normalise_alike(a, b):
    assert normalise_with_sql("name_norm", a) == normalise_with_sql("name_norm", b)


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
