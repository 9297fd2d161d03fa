"""LGA service list loading and classification (source, mapped, inferred) of catalogue services."""
from __future__ import annotations

import csv

import pytest

from warehouse.build import start_build
from warehouse.taxonomy import (KeywordClassifier, ServiceType, TaxonomyFileError, canonical_esd_id,
                                classify_catalogue, load_lga_services_csv, load_mapping_csv, store_lga_services, stem)


@pytest.fixture(scope="module")
def lga_2015(fixtures_dir):
    return fixtures_dir / "oruk" / "taxonomies" / "lga_esd_services_list_v4.csv"


def test_loads_the_esd_csv_with_multiline_descriptions_and_trailing_comma(lga_2015):
    types = load_lga_services_csv(lga_2015)
    # Counted independently with the csv module: one row per identifier.
    with open(lga_2015, newline="", encoding="utf-8-sig") as f:
        raw = [r for r in csv.reader(f)][1:]
    assert len(types) == len({r[0] for r in raw if r and r[0].strip()}) == 1519
    by_id = {t.esd_id: t for t in types}
    assert by_id["372"].label == "Abandoned vehicles"
    multiline = next(r for r in raw if "\n" in r[2])
    assert by_id[multiline[0]].description.startswith(" ".join(multiline[2].split())[:40])
    assert not any(t.label.endswith("@en") or t.description.endswith("@en") for t in types)


def test_a_bad_list_file_gets_one_line_naming_file_and_row(tmp_path):
    bad = tmp_path / "list.csv"
    bad.write_text("Identifier,Label\n12,Food banks\nnot-a-number,Oops\n")
    with pytest.raises(TaxonomyFileError, match=r"list.csv: row 3: .*'not-a-number'"):
        load_lga_services_csv(bad)
    wrong = tmp_path / "other.csv"
    wrong.write_text("code,name\n1,x\n")
    with pytest.raises(TaxonomyFileError, match="row 1: expected the esd CSV header"):
        load_lga_services_csv(wrong)


def test_publisher_terms_in_any_spelling_are_esd_service_types():
    assert canonical_esd_id("http://id.esd.org.uk/service/242", None, None) == "242"
    assert canonical_esd_id(None, "esdServiceTypes:242", None) == "242"
    assert canonical_esd_id(None, "242", "esdServiceTypes") == "242"
    assert canonical_esd_id("http://id.esd.org.uk/need/5", None, None) is None   # a need, not a service type
    assert canonical_esd_id(None, "242", "Local categories") is None


def test_classifier_explains_itself_and_survives_misspellings(lga_2015):
    clf = KeywordClassifier(load_lga_services_csv(lga_2015))
    preds = clf.predict("Bereavement support group", "A monthly group for people coping with grief after a death.")
    assert preds[0].label == "Bereavement support"
    assert "bereavement" in preds[0].keywords and 0 < preds[0].confidence <= 1
    assert clf.predict("Bereavment cafe", "")[0].label == "Bereavement support"
    assert any(k.startswith("bereavment~") for k in clf.predict("Bereavment cafe", "")[0].keywords)
    assert clf.predict("", "") == []
    assert stem("carers") == stem("carer") and stem("libraries") == "library"


def _catalogue(tmp_path, lga_types):
    build = start_build(tmp_path / "placecat.duckdb", "run-t")
    con = build.connect()
    store_lga_services(con, lga_types)
    rows = [
        ("s-source", "Hillside Counselling", "Free counselling.", ("http://id.esd.org.uk/service/163", None, "Counselling", "esdServiceTypes")),
        ("s-swim", "Early bird lane swim", "Lane swimming.", ("https://openactive.io/activity-list#swim", None, "Swimming", "https://openactive.io/activity-list")),
        ("s-local", "Friday sports night", "Five-a-side.", ("local:42", None, "Sport and leisure", "Leeds categories")),
        ("s-infer", "Stop smoking clinic", "Free support to quit smoking with nicotine replacement.", None),
        ("s-none", "Zzz", "", None),
    ]
    for sid, name, desc, term in rows:
        con.execute("INSERT INTO catalogue.service (id, name, description, status) VALUES (?, ?, ?, 'active')", [sid, name, desc])
        if term:
            con.execute("INSERT INTO catalogue.taxonomy_term (id, term_uri, term, name, taxonomy) VALUES (?, ?, ?, ?, ?)",
                        [f"t-{sid}", *term])
            con.execute("INSERT INTO catalogue.attribute (id, link_id, taxonomy_term_id, link_entity) VALUES (?, ?, ?, 'service')",
                        [f"a-{sid}", sid, f"t-{sid}"])
    return con


def test_classify_catalogue_records_the_method_and_writes_oruk_terms(tmp_path, lga_2015):
    con = _catalogue(tmp_path, load_lga_services_csv(lga_2015))
    summary = classify_catalogue(con)
    got = {r[0]: r[1:] for r in con.execute(
        "SELECT service_id, esd_id, method, confidence, keywords FROM catalogue.service_type WHERE rank = 1").fetchall()}
    assert got["s-source"][:3] == ("163", "source", 1.0)
    assert got["s-swim"][:2] == ("1674", "mapped")                 # bundled mapping: OpenActive "Swimming"
    assert got["s-local"][:2] == ("451", "mapped")                 # bundled mapping: local "Sport and leisure"
    assert got["s-infer"][0] == "1746" and got["s-infer"][1] == "inferred"   # "Stopping smoking"
    assert 0 < got["s-infer"][2] < 1 and "smok" in " ".join(got["s-infer"][3])
    assert "s-none" not in got
    assert summary == {"services_source": 1, "services_mapped": 2, "services_inferred": 1,
                       "services_unclassified": 1, "lga_types_loaded": 1519}
    # Mapped and inferred types go into the ORUK tables the republished feed is built from.
    attrs = con.execute("""SELECT a.link_id, t.term_uri, a.value FROM catalogue.attribute a
                           JOIN catalogue.taxonomy_term t ON t.id = a.taxonomy_term_id
                           WHERE a.value IN ('mapped', 'inferred') ORDER BY 1""").fetchall()
    assert ("s-infer", "http://id.esd.org.uk/service/1746", "inferred") in attrs
    assert ("s-swim", "http://id.esd.org.uk/service/1674", "mapped") in attrs
    before = con.execute("SELECT count(*) FROM catalogue.attribute").fetchone()[0]
    assert classify_catalogue(con) == summary                       # re-runs are idempotent
    assert con.execute("SELECT count(*) FROM catalogue.attribute").fetchone()[0] == before
    con.close()


def test_without_an_lga_list_only_source_and_mapped_terms_are_used(tmp_path):
    con = _catalogue(tmp_path, [ServiceType("163", "Counselling")])
    con.execute("DELETE FROM ref.lga_service_type")
    summary = classify_catalogue(con)
    assert summary["services_inferred"] == 0 and summary["services_source"] == 1 and "no LGA service list" in summary["note"]
    con.close()


def test_mapping_file_errors_name_the_row(tmp_path):
    bad = tmp_path / "map.csv"
    bad.write_text("scheme,code,label,esd_id\nopenactive,,Yoga,453\nlocal,,Knitting,abc\n")
    with pytest.raises(TaxonomyFileError, match=r"map.csv: row 3: field 'esd_id'"):
        load_mapping_csv(bad)


def test_a_users_mapping_file_loaded_by_reference_load_replaces_the_bundled_one(tmp_path, lga_2015):
    from pipelines.cli import main
    mapping = tmp_path / "my_mapping.csv"
    mapping.write_text("scheme,code,label,esd_id,esd_label,note\n"
                       "openactive,https://openactive.io/activity-list#swim,,1597,Swimming pool and spa pool monitoring,by concept id\n")
    assert main(["reference", "load", "--db", str(tmp_path / "placecat.duckdb"), "--esd-mapping", str(mapping)]) == 0
    con = _catalogue(tmp_path, load_lga_services_csv(lga_2015))   # start_build copies ref.esd_mapping in
    classify_catalogue(con)
    got = dict(con.execute("SELECT service_id, esd_id || '/' || method FROM catalogue.service_type WHERE rank = 1").fetchall())
    assert got["s-swim"] == "1597/mapped"
    assert got["s-local"].endswith("/inferred")      # the bundled "Sport and leisure" row no longer applies
    con.close()
