"""Match keys: the normalised forms of names, phones, postcodes, web addresses, emails and
identifiers that matching compares.

Bulk normalisation runs inside DuckDB as SQL macros (``install_key_macros``), so a million
records are keyed without a Python loop; the few things that need Python (phonetic keys) run
once per distinct *token*, not per record. The small Python functions here mirror the macros
for callers that hold one value (tests, ``placecat explain``).
"""
from __future__ import annotations

import hashlib
import re
import unicodedata

import duckdb

_POSTCODE_RE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})$")
_NON_ALNUM = re.compile(r"[^a-z0-9 ]+")
_SPACES = re.compile(r"\s+")

# Abbreviations written both ways in directories; the right-hand side is the canonical token.
ABBREVIATIONS = {
    "st": "saint", "ste": "saint", "and": "and", "n": "and", "ctr": "centre", "cntr": "centre",
    "center": "centre", "cen": "centre", "assoc": "association", "assn": "association", "grp": "group",
    "comm": "community", "cmty": "community", "dept": "department", "intl": "international",
    "natl": "national", "soc": "society", "svc": "service", "svcs": "services", "mt": "mount",
    "rd": "road", "ave": "avenue", "ln": "lane", "sq": "square", "hse": "house", "yr": "year",
    "yrs": "years", "info": "information", "mens": "men", "womens": "women", "childrens": "children",
    "organisation": "organization", "programme": "program", "centres": "centre",
    "jnr": "junior", "jr": "junior", "juniors": "junior", "snr": "senior", "seniors": "senior", "yth": "youth",
    "grps": "groups", "sess": "session", "sessions": "session", "classes": "class", "clubs": "club",
    "groups": "group", "mtg": "meeting", "vol": "volunteer", "vols": "volunteers",
    # Acronyms that UK directories write out in one source and abbreviate in another (expanded to their
    # words, which name_tokens splits again).
    "uc": "universal credit", "c25k": "couch to 5k", "esa": "employment and support allowance",
    "pip": "personal independence payment",
}
# Words that name one kind of service two ways ('Junior Swimming Lessons' / 'Junior Swimming Classes'):
# one word in the name key only, so that a misspelling of either still looks like its own word
# ('Swimming Lessns' / 'Swimming Lessons' stay alike by their letters). On dev-2026 (match) six of
# seven such pairs were missed, vetoed as names a word apart; no pair of them was another service.
NAME_KEY_SYNONYMS = {"lesson": "class", "lessons": "class"}
# Ordinals written as words or numbers ("First Leeds Scouts" / "1st Leeds Scouts", "Seventh Ave" / "7th Ave").
ABBREVIATIONS |= {n: w for n, w in zip(("1st", "2nd", "3rd", "4th", "5th", "6th", "7th", "8th", "9th", "10th"),
                                       ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
                                        "ninth", "tenth"))}
# Street-type abbreviations, applied to addresses only (over name_norm'ed addresses, so 'st' has already
# become 'saint'): in a name 'Dr' is a doctor and 'Ct' a court, but in an address they are street types.
# 'saint' and 'street' both become 'st': 'High St' is a street, 'St John's Road' a saint, and an address
# comparison only needs the two spellings of each to agree, not to know which one it is.
ADDRESS_ABBREVIATIONS = {
    "saint": "st", "street": "st", "str": "st", "blvd": "boulevard", "blv": "boulevard", "dr": "drive", "drv": "drive",
    "pl": "place", "cres": "crescent", "cresc": "crescent", "gdns": "gardens", "gdn": "garden", "terr": "terrace",
    "ter": "terrace", "cl": "close", "ct": "court", "pde": "parade", "pk": "park", "grn": "green", "gr": "grove",
    "gro": "grove", "hwy": "highway", "pkwy": "parkway", "bldg": "building", "bldgs": "buildings", "bldngs": "buildings",
    "est": "estate", "ind": "industrial", "rd": "road", "ave": "avenue", "av": "avenue", "ln": "lane", "sq": "square",
    "wy": "way", "n": "north", "s": "south", "e": "east", "w": "west", "fl": "floor", "flr": "floor",
}
# Words that say nothing about which service or organisation it is.
NOISE_WORDS = ("the", "ltd", "limited", "cic", "cio", "plc", "llp", "inc", "co", "uk", "a", "an", "of", "at",
               "for", "in", "trust")
# Hosts that many unrelated services share: a page there is weak evidence, the domain is none.
SHARED_HOSTS = ("facebook.com", "fb.com", "instagram.com", "twitter.com", "x.com", "linkedin.com",
                "eventbrite.co.uk", "eventbrite.com", "meetup.com", "google.com", "sites.google.com",
                "wordpress.com", "wixsite.com", "blogspot.com", "justgiving.com", "gov.uk", "nhs.uk",
                "nhs.net", "linktr.ee", "youtube.com", "bit.ly", "tiktok.com")
SHARED_SUFFIXES = (".gov.uk", ".nhs.uk", ".nhs.net", ".sch.uk", ".police.uk")
SECOND_LEVEL = ("co.uk", "org.uk", "gov.uk", "nhs.uk", "ac.uk", "net.uk", "ltd.uk", "plc.uk", "sch.uk",
                "police.uk", "me.uk", "com.au", "co.nz")
# Email providers shared by unrelated people: the domain says nothing.
SHARED_EMAIL_DOMAINS = ("gmail.com", "googlemail.com", "hotmail.com", "hotmail.co.uk", "outlook.com",
                        "live.co.uk", "yahoo.com", "yahoo.co.uk", "btinternet.com", "aol.com", "icloud.com",
                        "nhs.net", "sky.com", "virginmedia.com", "talktalk.net", "protonmail.com")
# Identifier schemes: (pattern on the lower-cased type or scheme, canonical scheme, what it identifies).
IDENTIFIER_SCHEMES = (
    ("charit", "charity", "organization"),
    ("compan", "company", "organization"),
    ("uprn", "uprn", "location"),
    ("ofsted", "ofsted", "service"),
    ("urn", "ofsted", "service"),
    ("cqc", "cqc", "service"),
    ("ods", "ods", "service"),
)


def sql_list(values) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def install_key_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create the key macros (pc_norm, name_tokens, phone_e164, web_*, email_*, ident_norm)."""
    for sql in key_macros():
        con.execute(sql)


def key_rules_signature() -> str:
    """A digest of the key macros and the phonetic rules: a record keyed under other rules is keyed
    again (its content hash carries it, see dedupe.records), so that no night compares keys of two versions."""
    rules = key_macros() + [f"{pattern.pattern}>{repl}" for pattern, repl in _PHONETIC_RULES if isinstance(repl, str)]
    return hashlib.sha1("\n".join(rules).encode()).hexdigest()[:16]


def key_macros() -> list[str]:
    """The CREATE MACRO statements of install_key_macros."""
    abbrev_case = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in ABBREVIATIONS.items())
    synonym_case = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in NAME_KEY_SYNONYMS.items())
    address_case = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in ADDRESS_ABBREVIATIONS.items())
    statements = [
        # 'ls11ab' -> 'LS1 1AB'; anything else -> NULL.
        """CREATE OR REPLACE MACRO pc_norm(x) AS (
            CASE WHEN regexp_full_match(upper(regexp_replace(coalesce(x, ''), '[^A-Za-z0-9]', '', 'g')),
                                        '[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}')
                 THEN (SELECT left(s, len(s) - 3) || ' ' || right(s, 3)
                       FROM (SELECT upper(regexp_replace(x, '[^A-Za-z0-9]', '', 'g')) AS s)) END)""",
        "CREATE OR REPLACE MACRO pc_sector(pc) AS (CASE WHEN pc IS NOT NULL THEN left(pc, len(pc) - 2) END)",
        "CREATE OR REPLACE MACRO pc_district(pc) AS (CASE WHEN pc IS NOT NULL THEN split_part(pc, ' ', 1) END)",
        # Tokens of a name: folded, '&'/'+' -> and, apostrophes dropped, abbreviations expanded, noise dropped.
        # Ages written as '50+', '50 plus' or 'over 50s' are one token sequence ('over 50s'), before '+' means 'and'.
        f"""CREATE OR REPLACE MACRO name_tokens(x) AS (
            list_filter(
              string_split(array_to_string(list_transform(
                string_split(trim(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
                    strip_accents(lower(coalesce(x, ''))), '[''’`]', '', 'g'),
                    '(^|[^0-9])([0-9]{{1,2}})s? ?(\\+|plus)([^0-9a-z]|$)', '\\1 over \\2s \\4', 'g'), '[&+]', ' and ', 'g'),
                    '[^a-z0-9]+', ' ', 'g')), ' '),
                lambda t: CASE t {abbrev_case} ELSE t END), ' '), ' '),
              lambda t: t <> '' AND NOT list_contains({sql_list(NOISE_WORDS)}, t)))""",
        # A name with a phrase taken off its start or end ('Org: Service', 'Service at Venue', 'Town Service'),
        # unless nothing would be left; the phrase as tokens (see name_tokens).
        """CREATE OR REPLACE MACRO strip_affix(toks, phrase) AS (
            CASE WHEN phrase IS NULL OR len(phrase) = 0 OR len(toks) <= len(phrase) THEN toks
                 WHEN list_slice(toks, 1, len(phrase)) = phrase THEN list_slice(toks, len(phrase) + 1, len(toks))
                 WHEN list_slice(toks, len(toks) - len(phrase) + 1, len(toks)) = phrase
                   THEN list_slice(toks, 1, len(toks) - len(phrase))
                 ELSE toks END)""",
        # The leading words of an address before its first number, when there are two or more: the building
        # ('Harpurhey Library 6 Orchard Road'), which some sources put in the service name.
        """CREATE OR REPLACE MACRO address_building(toks) AS (
            CASE WHEN len(toks) >= 2 AND NOT regexp_matches(toks[1], '[0-9]') THEN
                 list_slice(toks, 1, coalesce(list_position(list_transform(toks, lambda t: regexp_matches(t, '[0-9]')), true) - 1,
                                              len(toks))) END)""",
        "CREATE OR REPLACE MACRO name_norm(x) AS (nullif(array_to_string(name_tokens(x), ' '), ''))",
        # The name key: the name's words (NAME_KEY_SYNONYMS one way), sorted and each once, 'and' left out.
        f"""CREATE OR REPLACE MACRO name_key_of(toks) AS (
            nullif(array_to_string(list_sort(list_distinct(list_filter(
                list_transform(toks, lambda t: CASE t {synonym_case} ELSE t END), lambda t: t <> 'and'))), ' '), ''))""",
        # Phones to E.164 (UK numbers); extensions dropped; anything too short -> NULL.
        """CREATE OR REPLACE MACRO phone_digits(x) AS (
            regexp_replace(regexp_replace(regexp_replace(lower(coalesce(x, '')), '(ext|x|extension)\\.?\\s*[0-9]+\\s*$', ''),
                                          '\\(0\\)', ''), '[^0-9+]', '', 'g'))""",
        # E.164 from the digits phone_digits() left; bulk keying strips each number once and passes the
        # digits in (a macro repeats its argument's expression wherever the parameter appears).
        """CREATE OR REPLACE MACRO phone_e164_of_digits(d) AS (
            CASE
              WHEN d LIKE '+44%' AND len(d) BETWEEN 12 AND 13 THEN '+44' || ltrim(substr(d, 4), '0')
              WHEN d LIKE '0044%' AND len(d) BETWEEN 13 AND 14 THEN '+44' || ltrim(substr(d, 5), '0')
              WHEN d LIKE '44%' AND len(d) = 12 THEN '+' || d
              WHEN d LIKE '0%' AND len(d) BETWEEN 10 AND 11 THEN '+44' || substr(d, 2)
              WHEN d LIKE '+%' AND len(d) >= 9 THEN d
              -- not a UK number: keep the digits, so that two listings of it still compare equal
              WHEN len(replace(d, '+', '')) >= 9 THEN '#' || replace(d, '+', '')
            END)""",
        "CREATE OR REPLACE MACRO phone_e164(x) AS (phone_e164_of_digits(phone_digits(x)))",
        # Non-geographic numbers (03, 05, 08, 09) and mobiles are shared across branches of a franchise.
        "CREATE OR REPLACE MACRO phone_is_national(p) AS (p LIKE '+443%' OR p LIKE '+445%' OR p LIKE '+448%' OR p LIKE '+449%')",
        # Web addresses: host without www, path without query or trailing slash.
        """CREATE OR REPLACE MACRO web_host(u) AS (
            nullif(regexp_replace(split_part(split_part(split_part(regexp_replace(lower(trim(coalesce(u, ''))), '^[a-z]+://', ''),
                   '/', 1), '?', 1), ':', 1), '^www[0-9]?\\.', ''), ''))""",
        """CREATE OR REPLACE MACRO web_path(u) AS (
            rtrim(regexp_replace(split_part(split_part(regexp_replace(lower(trim(coalesce(u, ''))), '^[a-z]+://[^/]*', ''), '?', 1), '#', 1),
                  '/(index|default|home)\\.(html?|php|aspx?)$', ''), '/'))""",
        f"""CREATE OR REPLACE MACRO reg_domain(h) AS (
            CASE WHEN h IS NULL OR NOT contains(h, '.') THEN NULL
                 WHEN list_contains({sql_list(SECOND_LEVEL)}, array_to_string(list_slice(string_split(h, '.'), -2, -1), '.'))
                   THEN array_to_string(list_slice(string_split(h, '.'), -3, -1), '.')
                 ELSE array_to_string(list_slice(string_split(h, '.'), -2, -1), '.') END)""",
        # A suffix test by regex, not a lambda over the suffixes: DuckDB expands macros inline, and a
        # lambda capturing an expanded web_host(u) cost 0.4 ms a row.
        f"""CREATE OR REPLACE MACRO host_is_shared(h) AS (
            list_contains({sql_list(SHARED_HOSTS)}, h) OR list_contains({sql_list(SHARED_HOSTS)}, reg_domain(h))
            OR regexp_matches(h, '({"|".join(re.escape(s) for s in SHARED_SUFFIXES)})$'))""",
        # The web key: the registered domain for an organisation's own site, the page on a shared host.
        # web_key_of takes the host and path already split, so that bulk keying splits each URL once.
        """CREATE OR REPLACE MACRO web_key_of(h, p) AS (
            CASE WHEN h IS NULL THEN NULL WHEN host_is_shared(h) THEN h || p ELSE reg_domain(h) END)""",
        "CREATE OR REPLACE MACRO web_key(u) AS (web_key_of(web_host(u), web_path(u)))",
        "CREATE OR REPLACE MACRO web_page_of(h, p) AS (CASE WHEN h IS NOT NULL THEN h || p END)",
        "CREATE OR REPLACE MACRO web_page(u) AS (web_page_of(web_host(u), web_path(u)))",
        "CREATE OR REPLACE MACRO email_norm(e) AS (CASE WHEN contains(e, '@') THEN lower(trim(replace(e, 'mailto:', ''))) END)",
        # email_domain_key_of takes the domain of an already normalised address (see web_key_of).
        f"""CREATE OR REPLACE MACRO email_domain_key_of(d) AS (
            CASE WHEN d IS NOT NULL AND d <> '' AND NOT list_contains({sql_list(SHARED_EMAIL_DOMAINS)}, d) AND NOT host_is_shared(d)
                 THEN reg_domain(d) END)""",
        "CREATE OR REPLACE MACRO email_domain_key(e) AS (email_domain_key_of(split_part(email_norm(e), '@', 2)))",
        # Identifiers: 'scheme:VALUE' with a canonical scheme; company numbers padded to 8 digits.
        """CREATE OR REPLACE MACRO ident_value(v) AS (upper(regexp_replace(coalesce(v, ''), '[^A-Za-z0-9-]', '', 'g')))""",
    ]
    scheme_case = " ".join(f"WHEN contains(lower(coalesce(t, '')), '{pat}') THEN '{scheme}'" for pat, scheme, _ in IDENTIFIER_SCHEMES)
    entity_case = " ".join(f"WHEN '{scheme}' THEN '{entity}'" for _, scheme, entity in IDENTIFIER_SCHEMES)
    statements += [
        f"CREATE OR REPLACE MACRO ident_scheme(t) AS (CASE {scheme_case} ELSE NULL END)",
        f"CREATE OR REPLACE MACRO ident_entity(s) AS (CASE s {entity_case} ELSE NULL END)",
        """CREATE OR REPLACE MACRO ident_norm(t, v) AS (
            CASE WHEN ident_scheme(t) IS NULL OR ident_value(v) = '' THEN NULL
                 WHEN ident_scheme(t) = 'company' AND regexp_full_match(ident_value(v), '[0-9]{1,8}')
                   THEN 'company:' || lpad(ident_value(v), 8, '0')
                 ELSE ident_scheme(t) || ':' || ident_value(v) END)""",
        # Words of one name with no look-alike in the other: 'netball' in 'walking netball' vs 'walking football'.
        """CREATE OR REPLACE MACRO unmatched_tokens(a, b) AS (
            list_filter(a, lambda x: NOT coalesce(list_bool_or(list_transform(b, lambda y: x = y OR jaro_winkler_similarity(x, y) >= 0.9
                OR (len(x) >= 4 AND len(y) >= 4 AND (starts_with(x, y) OR starts_with(y, x))))), false)))""",
        # Two names conflict when each has a word the other lacks (a different activity, saint or age group).
        "CREATE OR REPLACE MACRO names_conflict(a, b) AS (len(unmatched_tokens(a, b)) > 0 AND len(unmatched_tokens(b, a)) > 0)",
        # A name that extends the other: the shorter one's words are the leading words of the longer ("Fenix" /
        # "Fenix at the Argyle", "Coffee and Chat" / "Coffee and Chat Leeds"). Only leading words: English puts
        # the qualifier first, so "Yoga" / "Chair Yoga" and "Lunch Club" / "Over 50s Lunch Club" do not extend.
        """CREATE OR REPLACE MACRO name_extends(a, b) AS (
            len(a) > 0 AND len(b) > 0 AND len(a) <> len(b)
            AND list_slice(a, 1, least(len(a), len(b))) = list_slice(b, 1, least(len(a), len(b))))""",
        # A name that ends the other: the shorter one's words are the trailing words of the longer, after two
        # words or more ('Yoga' / 'Move More Bristol Yoga', 'Rhymetime' / 'Ardwick Library Rhymetime'): a
        # brand, venue or place in front. One word in front is a qualifier ('Chair Yoga' is another class).
        """CREATE OR REPLACE MACRO name_ends(a, b) AS (
            len(a) > 0 AND len(b) > 0 AND abs(len(a) - len(b)) >= 2
            AND list_slice(a, len(a) - least(len(a), len(b)) + 1, len(a)) = list_slice(b, len(b) - least(len(a), len(b)) + 1, len(b)))""",
        # Every word of each name has a look-alike in the other: 'Arts Deli' / 'Arts Delicatessen'.
        "CREATE OR REPLACE MACRO names_look_alike(a, b) AS (len(unmatched_tokens(a, b)) = 0 AND len(unmatched_tokens(b, a)) = 0)",
        # Addresses with street types, saints and directions spelled one way (see ADDRESS_ABBREVIATIONS).
        f"""CREATE OR REPLACE MACRO addr_canon(x) AS (
            CASE WHEN x IS NOT NULL THEN array_to_string(list_transform(string_split(x, ' '),
                lambda t: CASE t {address_case} ELSE t END), ' ') END)""",
        # The house number of a name_norm'ed address: a token of digits with at most one letter ('12', '12a');
        # ordinals are words by then ('3rd st' -> 'third saint'), and '54th' is a street, not a house.
        "CREATE OR REPLACE MACRO house_number(a) AS (regexp_extract(coalesce(a, ''), '(^| )([0-9]+[a-z]?)( |$)', 2))",
        # One town name is the other with words added ("new york" / "new york city", "stoke" / "stoke on trent").
        # Never evidence on its own ("bury" / "bury st edmunds" are two towns): the levels that use it
        # also need a shared local phone or the same street number.
        """CREATE OR REPLACE MACRO town_variant(a, b) AS (
            a IS NOT NULL AND b IS NOT NULL AND (starts_with(a || ' ', b || ' ') OR starts_with(b || ' ', a || ' ')))""",
        # Geohash-like grid cells (~350 m), and distance in metres.
        "CREATE OR REPLACE MACRO geo_cell(lat, lon) AS (CASE WHEN lat IS NOT NULL AND lon IS NOT NULL "
        "THEN CAST(floor(lat * 300) AS BIGINT) || ':' || CAST(floor(lon * 180) AS BIGINT) END)",
        """CREATE OR REPLACE MACRO metres(lat1, lon1, lat2, lon2) AS (
            6371000 * 2 * asin(sqrt(pow(sin(radians(lat2 - lat1) / 2), 2)
                + cos(radians(lat1)) * cos(radians(lat2)) * pow(sin(radians(lon2 - lon1) / 2), 2))))""",
    ]
    return statements


_KEY_CON: duckdb.DuckDBPyConnection | None = None


def normalise_with_sql(macro: str, *args) -> object:
    """Apply one key macro to a value (for tests and single-record callers)."""
    global _KEY_CON
    if _KEY_CON is None:
        _KEY_CON = duckdb.connect()
        install_key_macros(_KEY_CON)
    con = _KEY_CON
    placeholders = ", ".join("?" for _ in args)
    return con.execute(f"SELECT {macro}({placeholders})", list(args)).fetchone()[0]


def normalise_postcode(value: str | None) -> str | None:
    """'ls11ab' -> 'LS1 1AB'; anything that is not a UK postcode -> None."""
    if not value:
        return None
    s = re.sub(r"[^A-Za-z0-9]", "", str(value)).upper()
    m = _POSTCODE_RE.match(s)
    return f"{m.group(1)} {m.group(2)}" if m else None


def fold(text: str) -> str:
    """Casefold and strip accents, so 'Café' and 'cafe' compare equal."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def normalise_name_basic(name: str | None) -> str | None:
    """Casefold, '&' -> 'and', punctuation to spaces, collapse spaces."""
    if not name:
        return None
    s = fold(str(name)).replace("&", " and ")
    s = _NON_ALNUM.sub(" ", s)
    s = _SPACES.sub(" ", s).strip()
    return s or None


_PHONETIC_RULES = [
    (re.compile(r"^kn|^gn|^pn|^wr|^ps"), lambda m: m.group(0)[1]),
    (re.compile(r"ph"), "f"), (re.compile(r"ck"), "k"), (re.compile(r"q"), "k"), (re.compile(r"x"), "ks"),
    (re.compile(r"c(?=[eiy])"), "s"), (re.compile(r"c"), "k"), (re.compile(r"z"), "s"),
    (re.compile(r"dg"), "j"), (re.compile(r"gh(?![aeiou])"), ""), (re.compile(r"th"), "0"),
    (re.compile(r"sh|sch"), "x"), (re.compile(r"v"), "f"),
]


def phonetic_key(token: str) -> str:
    """A consonant skeleton in the spirit of Metaphone: 'Smyth'/'Smith' -> 'sm0', 'Centre'/'Sentre' -> 'sntr'.

    Digits are kept as they are (house numbers, '50s'), since they never sound alike.
    """
    t = fold(token)
    if not t or t[0].isdigit():
        return t
    for pattern, repl in _PHONETIC_RULES:
        t = pattern.sub(repl, t)
    head, tail = t[0], re.sub(r"[aeiouyhw]", "", t[1:])
    if head in "aeiouy":
        head = "a"
    out = head + tail
    return re.sub(r"(.)\1+", r"\1", out)


def name_core_ctes(source: str, toks: str, org: str, venue: str, addr: str, town: str) -> str:
    """CTEs (ending in ``cored``, with column ``core``) that take the organisation, the venue, the building at
    the head of the address and the town off the start or end of the words ``toks`` of each row of ``source``
    (normalised strings in columns ``org``, ``venue``, ``addr``, ``town``): see dedupe.records._key_rows. One step per layer:
    a macro nested in a macro repeats its argument's whole expression at every use."""
    return f"""core1 AS (SELECT *, strip_affix({toks}, string_split({org}, ' ')) AS c1 FROM {source}),
        core2 AS (SELECT *, strip_affix(c1, string_split({venue}, ' ')) AS c2 FROM core1),
        core3 AS (SELECT *, strip_affix(c2, address_building(string_split({addr}, ' '))) AS c3 FROM core2),
        core4 AS (SELECT *, strip_affix(c3, string_split({town}, ' ')) AS c4 FROM core3),
        cored AS (SELECT *, strip_affix(c4, string_split({org}, ' ')) AS core FROM core4)"""
