"""Comparisons, declared as data.

A ``Similarity`` is a number computed for each candidate pair with rapidfuzz's vectorised
``cpdist`` (names, organisations, addresses, descriptions). A ``Comparison`` turns the pair into
one of a few ordered levels with SQL conditions over the left record ``l``, the right record
``r`` and the similarities ``sim``; the first level whose condition holds wins, and a pair
where either side lacks the field gets the ``null`` level (weight 0).

Every comparison has a ``role``, and the roles drive the guard against learning "same venue"
or "same organisation" as the match class:

* ``name``: says which service it is (the name). Its positive weight counts only when some
  ``place``/``org`` comparison agrees: "Over 50s Lunch Club" in two towns is two clubs.
* ``place`` and ``org``: say the records share a venue, a phone, an organisation. Their positive
  weight counts only when the ``name`` agrees: twenty classes at one leisure centre stay twenty.
* ``service``: evidence about the service itself (identifiers, schedule); never gated.
  Descriptions count as ``org`` evidence: sources write them from templates that name the venue
  and organisation, so siblings at one venue have similar descriptions.
  An identical service-level identifier (Ofsted URN, CQC id) is treated as certain.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Similarity:
    name: str
    left: str            # SQL expression over a match record (aliased l or r by the scorer)
    scorer: str          # a rapidfuzz.fuzz function name
    processor: bool = False


@dataclass(frozen=True)
class Level:
    label: str
    sql: str             # condition over l, r, sim; evaluated in order
    agrees: bool = False  # does this level count as "agreement" for the gates


@dataclass(frozen=True)
class Comparison:
    name: str
    role: str                                # name | place | org | service
    null_sql: str                            # condition meaning "cannot compare" (either side missing)
    levels: tuple[Level, ...]
    words: str = ""                          # how `placecat explain` names the field
    certain: bool = False                    # an agreeing top level is a certain match (identifiers)
    # How often two listings of one service fall at each level: declared, not learned (see dedupe.scoring).
    m: tuple[float, ...] = field(default=())
    # Comparisons of one group say the same thing (every one of them agrees for an organisation's
    # sibling services): their agreements count once, by the strongest.
    group: str = ""
    # SQL expressions over a record r that together determine every value the levels read (the
    # similarities included). When given, the levels are computed once per distinct pair of these
    # values and shared by every pair of records that has it. Worth it where values repeat: at a
    # million generated records, 2.5 million compared pairs hold 123,000 distinct pairs of names
    # (the name comparison is the dearest of all), 11,000 of schedules and 144 of taxonomy terms,
    # but 1.3 million of phone numbers and 2.5 million of venues.
    distinct_on: tuple[str, ...] = ()


SERVICE_SIMILARITIES = (
    # Names as compared: with misspelt words read as the words the other listings use (dedupe.typos).
    Similarity("name_sort", "name_cmp", "token_sort_ratio"),
    Similarity("name_set", "name_cmp", "token_set_ratio"),
    Similarity("org", "org", "token_sort_ratio"),
    # Street types, saints and directions spelled one way first ('High St' / 'High Street').
    Similarity("addr", "addr_std", "token_set_ratio"),
    Similarity("descr", "descr", "token_set_ratio"),
)

# Conditions shared by several levels. Shared list items are tested with list_has_any, not
# len(list_intersect(...)) > 0: the same answer (NULL items never count) at two thirds of the cost.
NO_GEOGRAPHY = "(l.postcode IS NULL OR r.postcode IS NULL) AND (l.lat IS NULL OR r.lat IS NULL)"
SAME_LOCAL_PHONE = "list_has_any(l.local_phones, r.local_phones)"
SAME_STREET_NUMBER = "(l.house_no = r.house_no AND l.house_no <> '')"
# Postcodes that do not put the records in two districts (the area is the postcode district where there is one).
POSTCODES_AGREE = "(l.postcode IS NULL OR r.postcode IS NULL OR l.area = r.area)"
# '33 High St' and '43 High St' are alike as strings (ratio 90) but are two buildings.
NUMBERS_AGREE = "(l.house_no = r.house_no OR l.house_no = '' OR r.house_no = '')"
# Two spellings of one town ('new york' / 'new york city') count as one town only with a second place
# signal that ties them: a shared local (geographic) number, whose area code is one area, or the same
# street number. 'bury' / 'bury st edmunds' alone stay two towns.
SAME_TOWN = f"(l.town = r.town OR town_variant(l.town, r.town) AND ({SAME_LOCAL_PHONE} OR {SAME_STREET_NUMBER}))"
# A record's geographic numbers without their last four digits (area code and exchange); mobiles
# ('+447') are not geographic and say nothing by their first digits.
SWITCHBOARDS = ("list_transform(list_filter({side}.local_phones, lambda p: NOT starts_with(p, '+447') AND len(p) >= 10), "
                "lambda p: left(p, len(p) - 4))")
# Schedules, when both are known, share a day: a shortened name is only read as the same service
# when nothing says otherwise ("Yoga" on Monday and "Yoga for Beginners" on Wednesday are two classes).
DAYS_COMPATIBLE = "(len(l.days) = 0 OR len(r.days) = 0 OR list_has_any(l.days, r.days))"
# Both give the same days and start times, every one with a time: one session, whatever each calls it.
SAME_TIMES = ("(len(l.sched) > 0 AND list_sort(l.sched) = list_sort(r.sched) "
              "AND NOT list_bool_or(list_transform(l.sched, lambda x: ends_with(x, '@'))))")

SERVICE_COMPARISONS = (
    Comparison("name", "name", "l.name IS NULL OR r.name IS NULL", (
        # The same words, in any order, or run together or apart ('Food Bank' / 'Foodbank', 'Play Group').
        Level("exact", "l.name = r.name OR l.name_key = r.name_key OR replace(l.name, ' ', '') = replace(r.name, ' ', '')", True),
        # The cheap similarity test comes first: DuckDB evaluates an AND's second part only for the rows
        # that pass its first, and names_conflict (a word-by-word Jaro-Winkler) is the dearest test here.
        Level("very similar", "(sim.name_sort >= 92 OR (l.name_phon = r.name_phon AND sim.name_sort >= 80)) "
                              "AND NOT names_conflict(l.name_words, r.name_words)", True),
        Level("similar", "(sim.name_sort >= 82 OR (sim.name_set >= 95 AND sim.name_sort >= 70)) "
                         "AND NOT names_conflict(l.name_words, r.name_words)", True),
        # A shortened or abbreviated listing: 'Fenix' / 'Fenix at the Argyle', 'Coffee and Chat' / 'Coffee and
        # Chat - Leeds', 'Arts Deli' / 'Arts Delicatessen'.
        Level("one name shortens the other", "sim.name_set >= 60 AND (name_extends(l.name_words, r.name_words) "
                                             "OR names_look_alike(l.name_words, r.name_words)) "
                                             f"AND {DAYS_COMPATIBLE}", True),
        # Words in front of the other name: a council lists the leisure operator's session under its own
        # programme ('Get Set Leeds Spin Class' / 'Spin Class'), or with its venue or place in front
        # ('Ardwick Library Rhymetime'). English puts the qualifier first too ('Over 50s Yoga' / 'Yoga'), so
        # only two words or more in front (name_ends) and only when both give the same days and start
        # times: one slot at one venue is one session.
        Level("one name ends the other, same times", f"sim.name_set >= 60 AND name_ends(l.name_words, r.name_words) "
                                                     f"AND {SAME_TIMES}", True),
        # Alike but for a word each has that the other lacks: sibling services of one organisation ('Junior' /
        # 'Senior Youth Club', 'Debt' / 'Housing Advice', 'IMCA' / 'IMHA Advocacy'). A veto, like 'different'.
        Level("one word differs", "sim.name_sort >= 65 AND names_conflict(l.name_words, r.name_words)"),
        Level("somewhat similar", "sim.name_sort >= 65"),
        Level("different", "true"),
    ), words="service name", m=(0.55, 0.15, 0.08, 0.10, 0.02, 0.01, 0.05, 0.04),
       # name_tokens is the name split into words, and the key and phonetic key are made from them; name_cmp
       # is name_words as one string (both depend on the night's other names: dedupe.typos)
       distinct_on=("r.name", "r.name_key", "r.name_phon", "r.name_cmp", "array_to_string(list_sort(r.sched), ',')")),
    Comparison("service_identifier", "service", "len(l.svc_ids) = 0 OR len(r.svc_ids) = 0", (
        Level("same", "list_has_any(l.svc_ids, r.svc_ids)", True),
        Level("different", "true"),
    ), words="service identifier (Ofsted/CQC)", certain=True, m=(0.95, 0.05),
       distinct_on=("array_to_string(list_sort(r.svc_ids), ' ')",)),
    Comparison("venue", "place", "(l.postcode IS NULL OR r.postcode IS NULL) AND (l.lat IS NULL OR r.lat IS NULL) "
                                 "AND (len(l.loc_ids) = 0 OR len(r.loc_ids) = 0) AND (l.town IS NULL OR r.town IS NULL)", (
        Level("same UPRN", "list_has_any(l.loc_ids, r.loc_ids)", True),
        Level("same postcode and address", f"l.postcode = r.postcode AND (sim.addr >= 85 AND {NUMBERS_AGREE} OR {SAME_STREET_NUMBER})", True),
        # A street name recurs across a city's districts ('Vicarage Terrace' in M18 and in M20, 'Church Street'
        # everywhere): with both postcodes known in two districts, the street alone is not the venue, unless
        # the house numbers say so too (then one postcode is mistyped).
        Level("same address in the same town", f"{SAME_TOWN} AND sim.addr >= 90 AND {NUMBERS_AGREE} "
                                               f"AND ({POSTCODES_AGREE} OR {SAME_STREET_NUMBER})", True),
        # No postcode or coordinates to compare, towns named differently ('los angeles' / 'west hollywood': a
        # city and its district), but the same street address with the same local number: one venue.
        Level("same address and local phone", f"{NO_GEOGRAPHY} AND {SAME_STREET_NUMBER} AND sim.addr >= 90 "
                                              f"AND {SAME_LOCAL_PHONE}", True),
        Level("within 100 m", "l.lat IS NOT NULL AND r.lat IS NOT NULL AND metres(l.lat, l.lon, r.lat, r.lon) <= 100", True),
        Level("same postcode", "l.postcode = r.postcode", True),
        Level("within 1 km", "l.lat IS NOT NULL AND r.lat IS NOT NULL AND metres(l.lat, l.lon, r.lat, r.lon) <= 1000"),
        Level("same postcode sector", "l.pc_sector = r.pc_sector"),
        # Nothing but the addresses to go on, and they name two buildings on one street ('33 High St' /
        # '43 High St'): two venues (a veto, see dedupe.scoring.VETO_LEVELS), unless a local number ties
        # them (then one of the two sources has the number wrong, or the venue moved along the street).
        Level("another number on the same street", f"{NO_GEOGRAPHY} AND l.town = r.town AND sim.addr >= 85 "
                                                   f"AND NOT {NUMBERS_AGREE} AND NOT {SAME_LOCAL_PHONE}"),
        Level("same town", f"{SAME_TOWN} AND {NO_GEOGRAPHY}"),
        Level("elsewhere", "true"),
    ), words="venue", m=(0.05, 0.45, 0.08, 0.01, 0.12, 0.08, 0.05, 0.03, 0.005, 0.1, 0.025)),
    Comparison("phone", "place", "len(l.phones) = 0 OR len(r.phones) = 0", (
        Level("same local number", "list_has_any(l.local_phones, r.local_phones)", True),
        Level("same national number", "list_has_any(l.phones, r.phones)"),
        # Two lines of one switchboard: geographic numbers alike but for their last four digits (a
        # venue's booking line and its restaurant's, a council's direct lines). Not "different".
        Level("same switchboard", f"list_has_any({SWITCHBOARDS.format(side='l')}, {SWITCHBOARDS.format(side='r')})"),
        Level("different", "true"),
    ), words="phone number", group="organisation", m=(0.55, 0.08, 0.02, 0.35)),
    Comparison("organisation", "org", "(l.org IS NULL OR r.org IS NULL) AND (len(l.org_ids) = 0 OR len(r.org_ids) = 0)", (
        Level("same charity/company number", "list_has_any(l.org_ids, r.org_ids)", True),
        Level("same name", "l.org = r.org", True),
        Level("similar name", "sim.org >= 85", True),
        Level("different", "true"),
    ), words="organisation", group="organisation", m=(0.05, 0.55, 0.2, 0.2)),
    Comparison("email", "org", "len(l.emails) = 0 OR len(r.emails) = 0", (
        Level("same address", "list_has_any(l.emails, r.emails)", True),
        Level("same domain", "list_has_any(l.email_domains, r.email_domains)", True),
        Level("different", "true"),
    ), words="email", group="organisation", m=(0.55, 0.3, 0.15)),
    Comparison("website", "org", "coalesce(l.web_key, l.org_web_key) IS NULL OR coalesce(r.web_key, r.org_web_key) IS NULL", (
        Level("same page", "l.web_page = r.web_page", True),
        Level("same site", "l.web_key = r.web_key OR l.org_web_key = r.org_web_key "
                           "OR l.web_key = r.org_web_key OR l.org_web_key = r.web_key", True),
        Level("different", "true"),
    ), words="website", group="organisation", m=(0.35, 0.5, 0.15)),
    Comparison("schedule", "service", "len(l.days) = 0 OR len(r.days) = 0", (
        # A listing without times ('Sundays') agrees with one that has them on the same days.
        Level("same days and times", "list_sort(l.sched) = list_sort(r.sched) OR (list_sort(l.days) = list_sort(r.days) "
                                     "AND (list_bool_or(list_transform(l.sched, lambda x: ends_with(x, '@'))) "
                                     "OR list_bool_or(list_transform(r.sched, lambda x: ends_with(x, '@')))))"),
        # Two sessions of one activity at one venue differ by day or time; one session listed twice does not.
        Level("same days, other times", "list_sort(l.days) = list_sort(r.days)"),
        Level("overlapping days", "list_has_any(l.days, r.days)"),
        Level("different days", "true"),
    ), words="schedule", m=(0.8, 0.07, 0.08, 0.05),
       distinct_on=("array_to_string(list_sort(r.sched), ' ')", "array_to_string(list_sort(r.days), ' ')")),
    Comparison("taxonomy", "org", "len(l.terms) = 0 OR len(r.terms) = 0", (
        Level("shared term", "list_has_any(l.terms, r.terms)"),
        Level("no shared term", "true"),
    ), words="taxonomy", group="organisation", m=(0.5, 0.5), distinct_on=("array_to_string(list_sort(r.terms), '|')",)),
    Comparison("description", "org", "l.descr IS NULL OR r.descr IS NULL", (
        Level("near identical", "sim.descr >= 90"),
        Level("similar", "sim.descr >= 60"),
        Level("different", "true"),
    ), words="description", group="organisation", m=(0.35, 0.35, 0.3)),
)
