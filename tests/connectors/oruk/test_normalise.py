"""ORUK normalisation: v1 -> v3 mapping, esd ids, text repair, mangled input, official v3 schemas."""
from __future__ import annotations

import datetime as dt
import json
import re
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from connectors.oruk import normalise
from connectors.oruk.rows import deep_repair
from connectors.oruk.v1 import normalise_v1_service, weekday_to_byday
from connectors.oruk.v3 import normalise_v3_service
from connectors.staging import StagingRows
from connectors.text import (html_to_text, html_to_text_by_parser, json_needs_repair, repair_mojibake_in_json,
                             repair_text)
from tests.support.orukfeeds import bristol_services, generated_v3_service, v1_detail
from warehouse.vocab import canonical_esd_id, canonical_term, esd_vocabulary

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def v1_service() -> dict:
    """A hand-written v1 detail object using every renamed field."""
    return {
        "id": "svc-1", "name": "CafÃ© club", "description": "<p>Tea &amp; cake for Â£2</p><ul><li>Mondays</li></ul>",
        "url": "https://example.org/cafe", "email": "cafe@example.org", "status": "active", "fees": "Â£2",
        "attending_type": "venue", "attending_access": "drop-in", "deliverable_type": "Information",
        "organization": {"id": "org-1", "name": "Cafe Trust", "description": "A trust", "url": "https://trust.example.org"},
        "regular_schedules": [{"id": "rs-1", "weekday": 1, "opens_at": "10:00", "closes_at": "12:00"},
                              {"id": "rs-2", "weekday": "Friday", "opens_at": "14:00", "closes_at": "16:00"}],
        "service_at_locations": [{"id": "sal-1", "location": {
            "id": "loc-1", "name": "Hall", "latitude": 51.5, "longitude": -2.6,
            "physical_addresses": [{"id": "pa-1", "address_1": "1 High St", "address_2": "Flat 2", "city": "Bristol",
                                    "postal_code": "BS1 1AA", "country": "GB", "uprn": "123456789"}],
            "postal_addresses": [{"id": "po-1", "address_1": "PO Box 1", "city": "Bristol", "postal_code": "BS99 1AA"}],
            "accessibility_for_disabilities": [{"id": "acc-1", "accessibility": "Ramp", "details": "At the side"}]}}],
        "service_taxonomys": [{"id": "st-1", "taxonomy": {"id": "esdServiceType:242", "name": "Lunch clubs",
                                                          "vocabulary": "esdServiceTypes"}}],
        "service_taxonomies": [{"id": "st-2", "taxonomy": {"id": "http://id.esd.org.uk/service/242", "name": "Lunch clubs",
                                                           "vocabulary": "esdServiceTypes"}},
                               {"id": "st-3", "taxonomy": {"id": "55", "name": "Older people",
                                                           "vocabulary": "esdCircumstances"}}],
        "link_taxonomy": [{"id": "lt-1", "link_type": "service", "taxonomy_id": "esdNeeds:12", "name": "Loneliness"}],
        "eligibilitys": [{"id": "el-1", "eligibility": "adult", "minimum_age": 18, "maximum_age": None}],
        "eligibilities": [{"id": "el-2", "eligibility": "family", "minimum_age": 0, "maximum_age": 99}],
        "fundings": [{"id": "f-1", "source": "Lottery"}],
        "contacts": [{"id": "c-1", "name": "Ann", "phones": [{"id": "p-1", "number": "0117 000 0000"}]}],
        "languages": [{"id": "l-1", "language": "Welsh"}],
        "service_areas": [{"id": "a-1", "service_area": "Bristol", "uri": "https://example.org/area"}],
        "cost_options": [{"id": "co-1", "amount": 2, "option": "per visit"}],
        "pc_metadata": {"assured_by": "assurer@example.org", "date_modified": "2024-02-01"},
        "pc_targetAudience": [{"id": "1", "audienceType": "Older people"}],
        "holiday_schedules": [{"id": "h-1", "closed": True}],
    }


def rows_for(svc: dict, fn=normalise_v1_service, rid: str | None = None) -> StagingRows:
    rows = StagingRows("src")
    fn(rows, svc, rid or str(svc.get("id")))
    return rows


def one(rows: StagingRows, table: str, **match) -> dict:
    found = [r for r in rows.rows[table] if all(r.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (table, match, rows.rows[table])
    return found[0]


# -- v1 -> v3 -------------------------------------------------------------------------------------
def test_v1_renames_land_in_v3_tables():
    rows = rows_for(v1_service())
    svc = one(rows, "service", source_record_id="svc-1")
    assert svc["name"] == "Café club" and svc["fees"] == "£2"
    assert svc["description"].startswith("<p>Tea &amp; cake for £2</p>")  # HTML kept, repaired
    extras = json.loads(svc["extras"])
    assert extras["description_text"] == "Tea & cake for £2\n\n- Mondays"
    assert extras["pc_targetAudience"] == [{"id": "1", "audienceType": "Older people"}]
    assert extras["holiday_schedules"][0]["closed"] is True
    assert svc["assurer_email"] == "assurer@example.org"
    assert svc["last_modified"] == dt.datetime(2024, 2, 1)
    assert (svc["minimum_age"], svc["maximum_age"]) == (0, 99)
    assert one(rows, "organization", source_record_id="org-1")["website"] == "https://trust.example.org"
    assert {r["byday"] for r in rows.rows["schedule"]} == {"MO", "FR"}
    assert {r["freq"] for r in rows.rows["schedule"]} == {"WEEKLY"}
    loc = one(rows, "location", source_record_id="loc-1")
    assert (loc["external_identifier"], loc["external_identifier_type"]) == ("123456789", "UPRN")
    assert {r["address_type"] for r in rows.rows["address"]} == {"physical", "postal"}
    assert json.loads(one(rows, "address", address_type="physical")["extras"]) == {"address_lines": ["Flat 2"]}
    assert one(rows, "accessibility", accessibility="Ramp")["details"] == "At the side"
    assert one(rows, "funding", source="Lottery")["service_id"] == svc["id"]
    assert one(rows, "phone", number="0117 000 0000")["contact_id"] == one(rows, "contact", name="Ann")["id"]
    assert one(rows, "language", name="Welsh")
    assert one(rows, "service_area", service_area="Bristol")["name"] == "Bristol"
    assert one(rows, "cost_option", option="per visit")["amount"] == 2
    assert not [i for i in rows.issues if i.severity == "blocking"]


def test_v1_taxonomies_and_removed_enums_become_attributes_with_canonical_terms():
    rows = rows_for(v1_service())
    terms = {r["id"]: r for r in rows.rows["taxonomy_term"]}
    linked = [terms[a["taxonomy_term_id"]] for a in rows.rows["attribute"]]
    by_vocab = {}
    for t in linked:
        by_vocab.setdefault(t["taxonomy"], set()).add(t.get("term_uri") or t["term"])
    # Two spellings of esd service type 242, one term.
    assert by_vocab["esdServiceTypes"] == {"http://id.esd.org.uk/service/242"}
    assert by_vocab["esdCircumstances"] == {"http://id.esd.org.uk/circumstance/55"}
    assert by_vocab["esdNeeds"] == {"http://id.esd.org.uk/need/12"}
    assert by_vocab["oruk-v1:attending_type"] == {"venue"}
    assert by_vocab["oruk-v1:attending_access"] == {"drop-in"}
    assert by_vocab["oruk-v1:deliverable_type"] == {"Information"}
    assert by_vocab["oruk-v1:eligibility"] == {"adult", "family"}
    assert len([t for t in rows.rows["taxonomy_term"] if t["taxonomy"] == "esdServiceTypes"]) == 1


def test_staging_ids_are_uuids_and_source_ids_kept():
    rows = rows_for(v1_service())
    for table, rs in rows.tables():
        for r in rs:
            assert UUID_RE.match(r["id"]), (table, r["id"])
            assert r["source_record_id"]
    assert one(rows, "service", source_record_id="svc-1")["id"] != "svc-1"


def test_normalising_twice_gives_the_same_rows():
    a, b = rows_for(v1_service()), rows_for(v1_service())
    assert a.rows == b.rows


def test_real_bristol_services_normalise_without_blocking_issues(fixtures_dir):
    rows = StagingRows("bristol")
    for i, item in enumerate(bristol_services(fixtures_dir)):
        normalise_v1_service(rows, v1_detail(item, i), item["id"])
    assert rows.count("service") == 50
    assert not [i for i in rows.issues if i.severity == "blocking"]
    assert all("Â" not in (r["description"] or "") for r in rows.rows["service"])
    assert all(json.loads(r["extras"]).get("pc_metadata") for r in rows.rows["service"])


def test_weekday_mapping():
    assert [weekday_to_byday(n) for n in range(1, 8)] == ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
    assert weekday_to_byday("thursday") == "TH" and weekday_to_byday("Sat") == "SA"
    assert weekday_to_byday(0) is None and weekday_to_byday("funday") is None and weekday_to_byday(True) is None


# -- esd ids and text -------------------------------------------------------------------------------
@pytest.mark.parametrize("identifier, vocabulary", [
    ("esdServiceTypes:242", None), ("esdServiceType:242", None), ("http://id.esd.org.uk/service/242", None),
    ("https://id.esd.org.uk/service/242/", None), ("242", "esdServiceTypes"), (242, "esdServiceType"),
    ("0242", "LGA service types"), ("esdServiceTypes : 242", None),
])
def test_esd_spellings_are_one_term(identifier, vocabulary):
    assert canonical_esd_id(identifier, vocabulary) == "http://id.esd.org.uk/service/242"
    assert canonical_term(identifier, vocabulary).curie == "esdServiceTypes:242"


@pytest.mark.parametrize("identifier, vocabulary", [
    ("242", None), ("242", "openActiveActivity"), ("openActiveActivity:123", None), ("", "esd"), (None, "esd"),
    (True, "esd"), ("http://example.org/service/242", None), ("abc", "esdServiceTypes"),
])
def test_non_esd_identifiers_are_left_alone(identifier, vocabulary):
    assert canonical_term(identifier, vocabulary) is None


def test_esd_lists_are_told_apart():
    assert canonical_esd_id("esdNeeds:3") == "http://id.esd.org.uk/need/3"
    assert canonical_esd_id("3", "esdCircumstances") == "http://id.esd.org.uk/circumstance/3"
    assert esd_vocabulary("http://id.esd.org.uk/list/services") == "service"


def test_text_repair_and_html_to_text():
    assert repair_text("Â£10 â€™ ok") == "£10 ’ ok"
    assert repair_text("plain\x07 ascii") == "plain ascii"
    assert repair_text("“quotes” kept") == "“quotes” kept"
    assert repair_text(None) is None and repair_text(5) == 5
    html = "<p>Hello&nbsp;<b>world</b></p><script>alert(1)</script><ul><li>one</li><li>two</li></ul>line<br>break"
    assert html_to_text(html) == "Hello world\n\n- one\n- two\n\nline\nbreak"
    assert html_to_text("Fish &amp; chips") == "Fish & chips"
    assert html_to_text("<p>unclosed <i>tags") == "unclosed tags"


# Text pieces that make mojibake hints, quotes and escapes land in keys and values alike.
_MOJI_TEXT = st.lists(st.sampled_from(["Â£", "â€™", "CafÃ©", "Ã ", "Â ", "é", "£", '"', "\\", "x", " ", ":",
                                       "\\\"", "Ã\"", "Â\\", "\n"]), max_size=8).map("".join)
_MOJI_JSON = st.recursive(st.one_of(_MOJI_TEXT, st.integers(), st.none()),
                          lambda c: st.lists(c, max_size=4) | st.dictionaries(_MOJI_TEXT, c, max_size=4),
                          max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(_MOJI_JSON, st.sampled_from([None, 1]), st.sampled_from([(",", ":"), (" , ", " : ")]))
def test_mojibake_repaired_in_the_json_text_equals_repairing_the_parsed_strings(value, indent, separators):
    text = json.dumps(value, ensure_ascii=False, indent=indent, separators=separators)
    if json_needs_repair(text) != "mojibake":
        return
    assert json.loads(repair_mojibake_in_json(text)) == deep_repair(json.loads(text), ascii_too=False)


def test_mojibake_repair_in_the_json_text_stops_only_where_the_rest_is_ascii():
    # The scan for hints ends once the rest of the text is ASCII. Damage before and after a long
    # ASCII stretch, a key with a hint (left alone) and an ASCII end are all handled as before.
    value = {"a": "Â£1", "b": "plain " * 50, "Ã©key": "x", "c": ["â€™", "ok", "CafÃ© é"], "d": "ascii to the end"}
    text = json.dumps(value, ensure_ascii=False)
    assert json.loads(repair_mojibake_in_json(text)) == deep_repair(json.loads(text), ascii_too=False)
    assert json.loads(repair_mojibake_in_json(text))["c"] == ["’", "ok", "Café é"]


def test_mojibake_in_keys_is_left_alone_and_values_are_repaired():
    text = json.dumps({"Â£key": "Â£5", "n": ["CafÃ©", "ok é"], "d": "say \"Â£\""}, ensure_ascii=False)
    assert json.loads(repair_mojibake_in_json(text)) == {"Â£key": "£5", "n": ["Café", "ok é"], "d": 'say "£"'}


_HTML_PIECES = st.sampled_from([
    "<p>", "</p>", "<P>", "<br>", "<br/>", "<br />", "<hr/>", "<li>", "</li>", "<ul>", "</ul>", "<td>", "<th>",
    "<b>", "</b>", '<a href="x">', "<a href=x/>", "<a href='y'>", "</a>", '<div class="c">', "</div>", "<script>",
    "</script>", "<!-- c -->", "<", ">", "&amp;", "&pound;", "&", "&#163;", "&nbsp;", " ", "\n", "\r\n", "text",
    "é", "</ p>", "<p/>", "</p >", "<h1>", "</h1>", "<x-y>", "<a b>", "<title>", "</br>", "&amp", "<3"])


@settings(max_examples=500, deadline=None)
@given(st.lists(_HTML_PIECES, max_size=12).map("".join))
def test_plain_text_of_simple_html_is_what_the_html_parser_gives(html):
    # The quick path (one regex over well-formed tags) must agree with the stdlib parser.
    assert html_to_text(html) == html_to_text_by_parser(html)


def _tidy_line_by_line(text: str) -> str:
    """What ``connectors.text._tidy`` does, spelled out (its quick path must give the same)."""
    text = text.replace("\xa0", " ").replace("\r\n", "\n").replace("\r", "\n")
    lines = [re.sub(r"[ \t\f\v]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["a", "bc", " ", "  ", "\n", "\r", "\r\n", "\t", "\f", "\v", "\xa0", "\u2003",
                                 "\x1c", "\x85", "\u2028", "é"]), max_size=14).map("".join))
def test_tidy_quick_path_equals_tidying_line_by_line(text):
    from connectors.text import _tidy
    assert _tidy(text) == _tidy_line_by_line(text)


def _parse_the_careful_way(text: str):
    deep = json_needs_repair(text)
    if deep == "mojibake":
        text, deep = repair_mojibake_in_json(text), False
    return json.loads(text, strict=False), deep


# Raw JSON string contents: raw control characters, DEL, escapes, mojibake and plain text.
_RAW_STRING = st.lists(st.sampled_from(["x", "\x07", "\x7f", "\t", "\n", "\x1f", "Â£", "CafÃ©", "é", "\\u00e9",
                                        "\\u0007", "\\n", "\\\\", '\\"', " "]), max_size=8).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.lists(_RAW_STRING, min_size=1, max_size=3))
def test_raw_text_quick_parse_equals_the_careful_way(values):
    from connectors.oruk.page_text import parse_raw_text
    text = "{" + ", ".join(f'"k{n}": ["{v}", 1]' for n, v in enumerate(values)) + "}"
    # What the normaliser works on: the payload, repaired throughout when it says so.
    effective = [deep_repair(payload) if deep else payload
                 for payload, deep in (parse_raw_text(text), _parse_the_careful_way(text))]
    assert effective[0] == effective[1]


# -- mangled input ----------------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12)
V1_KEYS = list(v1_service().keys()) + ["weekday", "taxonomy", "location", "minimum_age"]
V3_KEYS = list(generated_v3_service(0).keys())


def mangle(base: dict, keys: list[str], draw_changes: dict, drop: list[str]) -> dict:
    out = {k: v for k, v in base.items() if k not in drop}
    out.update(draw_changes)
    return out


def nested_mangles(keys):
    return st.dictionaries(st.sampled_from(keys), json_values, max_size=5)


@st.composite
def mangled_records(draw):
    v1 = draw(st.booleans())
    base = v1_service() if v1 else generated_v3_service(draw(st.integers(0, 50)))
    keys = V1_KEYS if v1 else V3_KEYS
    if draw(st.integers(0, 9)) == 0:
        payload = draw(json_values)  # not even an object
    else:
        payload = mangle(base, keys, draw(nested_mangles(keys)), draw(st.lists(st.sampled_from(keys), max_size=4)))
        # Mangle one nested object as well.
        for key in ("service_at_locations", "regular_schedules", "schedules", "contacts", "attributes",
                    "service_taxonomys", "organization"):
            if key in payload and isinstance(payload[key], list) and payload[key] and draw(st.booleans()):
                first = payload[key][0]
                if isinstance(first, dict):
                    payload[key] = [{**first, **draw(st.dictionaries(st.sampled_from(list(first) + ["location", "taxonomy", "weekday", "phones"]), json_values, max_size=3))}]
    return ("service_v1" if v1 else "service"), payload


@pytest.mark.slow
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mangled_records(), min_size=1, max_size=6))
def test_mangled_services_never_crash_and_every_rejection_is_an_issue(records):
    raw = []
    for n, (rtype, payload) in enumerate(records):
        raw.append((f"rec-{n}", rtype, json.dumps(payload, allow_nan=True), "test"))
    # The mappers themselves must not raise on any of it ...
    for rid, rtype, text, _ in raw:
        fn = normalise_v1_service if rtype == "service_v1" else normalise_v3_service
        fn(StagingRows("probe"), json.loads(text), rid)
    # ... and through the connector every record is either loaded or reported as blocking.
    rows = StagingRows("src")
    normalise(None, raw, rows)
    loaded = {r["source_record_id"] for r in rows.rows["service"]}
    blocked = {i.record_id for i in rows.issues if i.severity == "blocking"}
    for rid, _, _, _ in raw:
        assert rid in loaded or rid in blocked, rid
    for issue in rows.issues:
        assert issue.source_id == "src" and issue.message and issue.rule
    for table, rs in rows.tables():
        assert all(UUID_RE.match(r["id"]) for r in rs), table


def test_a_non_object_record_is_blocking_and_the_rest_loads():
    raw = [("a", "service_v1", json.dumps(v1_service()), "x"), ("b", "service_v1", "[1, 2]", "x"),
           ("c", "service", json.dumps("text"), "x"), ("d", "service_v1", json.dumps({"id": "d"}), "x")]
    rows = StagingRows("src")
    normalise(None, raw, rows)
    blocking = {(i.record_id, i.field) for i in rows.issues if i.severity == "blocking"}
    assert ("b", None) in blocking and ("c", None) in blocking
    # A service with no name is staged as it came and reported once, by the quality rule on
    # service.name (tests/quality/test_rules.py), not a second time by the connector.
    assert ("d", "name") not in blocking
    staged = {r["source_record_id"]: r for r in rows.rows["service"]}
    assert {"a", "d"} <= set(staged) and staged["d"].get("name") is None


# -- normalised output against the official v3 schemas ------------------------------------------------
def _clean(row: dict, drop=("source_id", "source_record_id", "extras")) -> dict:
    out = {}
    for k, v in row.items():
        if k in drop or v is None:
            continue
        if isinstance(v, dt.datetime):
            v = v.isoformat() + "Z"
        elif isinstance(v, (dt.date, dt.time)):
            v = v.isoformat()
        out[k] = v
    return out


def staging_to_v3(rows: StagingRows, service_row: dict) -> dict:
    """Staging rows of one service re-serialised as an ORUK v3 service object (for the schema check).
    The UK profile requires a taxonomy term's description; a term without one gets its name."""
    by_id = {t: {r["id"]: r for r in rs} for t, rs in rows.rows.items()}
    sid = service_row["id"]

    def children(table, key, value):
        return [r for r in rows.rows[table] if r.get(key) == value]

    def attributes(link_id):
        out = []
        for a in children("attribute", "link_id", link_id):
            item = _clean(a, drop=("source_id", "source_record_id", "extras", "link_entity", "value"))
            term = by_id["taxonomy_term"].get(a["taxonomy_term_id"])
            if term:
                t = _clean(term)
                t.setdefault("description", t.get("name"))
                item["taxonomy_term"] = t
            out.append(item)
        return out

    svc = _clean(service_row)
    if service_row.get("organization_id") in by_id["organization"]:
        svc["organization"] = _clean(by_id["organization"][service_row["organization_id"]])
        svc["organization"].setdefault("description", svc["organization"].get("name"))
    svc["schedules"] = [_clean(r) for r in children("schedule", "service_id", sid)]
    svc["service_areas"] = [_clean(r) for r in children("service_area", "service_id", sid)]
    svc["languages"] = [_clean(r, drop=("source_id", "source_record_id", "extras", "name", "code", "note",
                                        "location_id")) for r in children("language", "service_id", sid)]
    svc["funding"] = [_clean(r, drop=("source_id", "source_record_id", "extras", "organization_id"))
                      for r in children("funding", "service_id", sid)]
    svc["cost_options"] = [_clean(r, drop=("source_id", "source_record_id", "extras", "currency"))
                           for r in children("cost_option", "service_id", sid)]
    svc["contacts"] = [_clean(r, drop=("source_id", "source_record_id", "extras", "organization_id", "location_id",
                                       "department", "email")) for r in children("contact", "service_id", sid)]
    svc["attributes"] = attributes(sid)
    sals = []
    for sal in children("service_at_location", "service_id", sid):
        item = _clean(sal)
        loc = by_id["location"].get(sal["location_id"])
        if loc:
            lo = _clean(loc)
            lo["addresses"] = [_clean(a) for a in children("address", "location_id", loc["id"])]
            lo["accessibility"] = [_clean(a) for a in children("accessibility", "location_id", loc["id"])]
            item["location"] = lo
        sals.append(item)
    svc["service_at_locations"] = sals
    return svc


@pytest.fixture(scope="module")
def service_schema(fixtures_dir):
    schema = json.loads((fixtures_dir / "oruk" / "schema" / "v3-uk" / "compiled" / "service.json").read_text())
    return Draft202012Validator(schema, format_checker=FormatChecker())


def assert_valid(validator, doc):
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


def test_normalised_v1_bristol_services_validate_against_the_official_v3_schema(fixtures_dir, service_schema):
    rows = StagingRows("bristol")
    for i, item in enumerate(bristol_services(fixtures_dir)):
        normalise_v1_service(rows, v1_detail(item, i), item["id"])
    for row in rows.rows["service"]:
        assert_valid(service_schema, staging_to_v3(rows, row))


def test_normalised_v3_services_validate_against_the_official_v3_schema(fixtures_dir, service_schema):
    rows = StagingRows("leeds")
    examples = fixtures_dir / "oruk" / "v3" / "uk-profile-examples" / "service_full.json"
    full = json.loads(examples.read_text())
    normalise_v3_service(rows, full, full["id"])
    for i in range(30):
        svc = generated_v3_service(i, seed=3)
        normalise_v3_service(rows, svc, svc["id"])
    assert rows.count("service") == 31
    for row in rows.rows["service"]:
        doc = staging_to_v3(rows, row)
        assert_valid(service_schema, doc)
        assert uuid.UUID(doc["id"])


def test_the_schema_check_can_fail(service_schema):
    svc = generated_v3_service(7)
    rows = rows_for(svc, normalise_v3_service)
    doc = staging_to_v3(rows, rows.rows["service"][0])
    assert_valid(service_schema, doc)
    doc["status"] = "open"
    doc["schedules"][0]["freq"] = "DAILY"
    assert len(list(service_schema.iter_errors(doc))) == 2
