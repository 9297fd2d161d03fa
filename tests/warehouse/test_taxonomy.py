"""LGA service list loading and classification (source, mapped, inferred) of catalogue services."""
from __future__ import annotations

import csv

import duckdb
import pytest

from warehouse.build import start_build
from warehouse.taxonomy.classify import canonical_esd_id, classify_catalogue
from warehouse.taxonomy.keywords import KeywordClassifier, load_keywords_csv, stem, tokens
from warehouse.taxonomy.lga import (DEFAULT_MAPPING, Mapper, MappingRow, ServiceType, TaxonomyFileError,
                                    load_lga_services_csv, load_mapping_csv, read_lga_services, store_lga_services)
from warehouse.taxonomy.vocabularies import (VocabularyConcept, ancestors, concept_classifier,
                                             concepts_from_activity_list, vocabulary_keywords)


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


def test_former_names_come_from_the_history_notes_and_survive_the_reference_store(lga_2015, tmp_path):
    by_id = {t.esd_id: t for t in load_lga_services_csv(lga_2015)}
    # "Term name changed from 'Accidents' to 'Safety - health and safety - accident reporting' in
    # version 3.00. Name changed to 'Accident reporting' in version 4.00."
    accident = next(t for t in by_id.values() if t.label == "Accident reporting")
    assert accident.former_labels == ("Accidents", "Safety - health and safety - accident reporting")
    assert not any("version" in f for t in by_id.values() for f in t.former_labels)
    con = duckdb.connect(str(tmp_path / "reference.duckdb"))
    # a store made before former labels were kept gains the column
    con.execute("CREATE SCHEMA ref")
    con.execute("CREATE TABLE ref.lga_service_type (esd_id VARCHAR PRIMARY KEY, label VARCHAR NOT NULL, "
                "description VARCHAR, uri VARCHAR)")
    con.execute("INSERT INTO ref.lga_service_type VALUES ('1', 'Old row', '', '')")
    assert read_lga_services(con)[0].former_labels == ()
    store_lga_services(con, [accident])
    assert read_lga_services(con) == [accident]
    clf = KeywordClassifier([accident, by_id["372"]])
    assert clf.predict("Accidents", "")[0].esd_id == accident.esd_id
    con.close()


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


# ---------------------------------------------------------------- tokenising, vocabularies, hierarchy

def test_stemmer_joins_inflections_without_joining_different_words():
    assert stem("swimming") == stem("swim") and stem("running") == stem("run")
    assert stem("cycling") == stem("cycle") and stem("dancing") == stem("dance")
    assert stem("caring") == stem("care") != stem("car")
    assert stem("classes") == stem("class") and stem("bowls") == stem("bowling")


def test_days_times_and_numbers_are_not_keywords():
    assert tokens("Body Pump Tues 7.30pm") == tokens("Body Pump") == tokens("body pump Sat 10am 45")
    assert "50" in tokens("Lunch club for over 50s")[-1]      # decades name an age group: kept


def test_repeating_a_word_raises_its_score():
    clf = KeywordClassifier([ServiceType("1", "Debt advice"), ServiceType("2", "Housing advice")])
    once, thrice = clf.predict("", "debt")[0], clf.predict("", "debt, debt and more debt")[0]
    assert once.esd_id == thrice.esd_id == "1" and thrice.score > once.score


def test_a_narrow_concept_takes_the_type_of_its_nearest_mapped_broader_concept():
    mapper = Mapper([MappingRow("openactive", "", "Group Exercise", "453", "Sports coaching"),
                     MappingRow("openactive", "", "Dance", "884", "Arts development")])
    rows, via = mapper.lookup_concept("urn:zumba-gold", "Zumba Gold", [("urn:zumba", "Zumba"), ("urn:dance", "Dance"),
                                                                      ("urn:gx", "Group Exercise")])
    assert [r.esd_id for r in rows] == ["884"] and via == "Dance"
    assert mapper.lookup_concept("urn:x", "Nothing mapped", [("urn:y", "Still nothing")]) == ([], None)


def test_lent_vocabulary_weights_whole_labels_above_words_out_of_longer_labels():
    types = [ServiceType("A", "Alpha"), ServiceType("B", "Beta")]
    clf = KeywordClassifier(types, vocabulary={"A": ["Active Fit Club"], "B": ["Fit"]})
    assert clf.predict("Fit", "")[0].esd_id == "B"
    assert clf.predict("Active Fit Club", "")[0].esd_id == "A"
    # Lending a large vocabulary does not dilute the type's own label (no keyword-mass penalty).
    big = KeywordClassifier(types, vocabulary={"A": [f"word{i}" for i in range(300)]})
    assert big.predict("alpha", "")[0].score == KeywordClassifier(types).predict("alpha", "")[0].score


@pytest.fixture(scope="module")
def activity_concepts(fixtures_dir):
    from connectors.openactive.activities import load_activity_list
    return concepts_from_activity_list(load_activity_list(fixtures_dir / "openactive" / "vocabularies" / "activity-list.jsonld"))


def test_activity_list_concepts_keep_alt_labels_and_hierarchy(activity_concepts):
    by_label = {c.label: c for c in activity_concepts}
    assert "group cycling" in by_label["Indoor Cycling"].alt_labels
    by_id = {c.id: c for c in activity_concepts}
    lineage = [a.label for a in ancestors(by_label["Indoor Cycling"], by_id)]
    assert lineage and all(a.label != "Indoor Cycling" for a in ancestors(by_label["Indoor Cycling"], by_id))
    assert not by_label["Swimming"].broader or by_label["Swimming"].broader[0] in by_id


def test_activity_vocabulary_lets_untagged_sessions_find_their_esd_type(lga_2015, activity_concepts):
    types = load_lga_services_csv(lga_2015)
    mapper = Mapper(load_mapping_csv(DEFAULT_MAPPING))
    vocabulary = vocabulary_keywords(activity_concepts, mapper)
    # every concept the bundled table reaches lends its label: Zumba sits under Group Exercise
    zumba = next(c for c in activity_concepts if c.label.lower().startswith("zumba"))
    zumba_type = mapper.lookup_concept(zumba.id, zumba.label, [(a.id, a.label) for a in ancestors(
        zumba, {c.id: c for c in activity_concepts})])[0][0].esd_id
    assert (zumba.label, True) in vocabulary[zumba_type]          # lent through a broader concept
    plain = KeywordClassifier(types, load_keywords_csv())
    lent = KeywordClassifier(types, load_keywords_csv(), vocabulary=vocabulary)
    text = ("Zumba Wed 7pm", "Latin-inspired dance fitness class.")
    assert not plain.predict(*text) or plain.predict(*text)[0].esd_id != zumba_type
    best = lent.predict(*text)[0]
    assert best.esd_id == zumba_type and "zumba" in best.keywords


def test_concept_classifier_predicts_activities_with_their_uris(activity_concepts):
    clf = concept_classifier(activity_concepts)
    by_id = {c.id: c for c in activity_concepts}
    best = clf.predict("Group Cycling Mon 6pm", "Indoor bike class")[0]
    assert best.esd_id in by_id and by_id[best.esd_id].label == "Indoor Cycling"
    assert "group cycl" in best.keywords    # the altLabel "group cycling", stemmed, explains it


def test_mapped_terms_fall_back_to_broader_terms_and_sources_vocabulary_feeds_inference(tmp_path, lga_2015):
    con = _catalogue(tmp_path, load_lga_services_csv(lga_2015))
    oa = "OpenActive Activity List"
    # As after a real build: the catalogue keeps only the term the service points at (its parent id
    # dangles); the broader concept is in the run's staging tables, where the connector wrote it.
    con.execute("INSERT INTO catalogue.taxonomy_term (id, term_uri, term, name, taxonomy, parent_id) VALUES "
                "('t-kettle', 'https://openactive.io/activity-list#kb', 'Kettlebells X', 'Kettlebells X', ?, 'gone')", [oa])
    con.executemany("INSERT INTO staging.taxonomy_term (id, term_uri, term, name, taxonomy, parent_id, source_id) VALUES (?, ?, ?, ?, ?, ?, 'oa')",
                    [("st-gx", "https://openactive.io/activity-list#gx", "Group Exercise", "Group Exercise", oa, None),
                     ("st-kb", "https://openactive.io/activity-list#kb", "Kettlebells X", "Kettlebells X", oa, "st-gx")])
    con.execute("INSERT INTO catalogue.service (id, name, description, status) VALUES "
                "('s-kettle', 'Kettle class', 'Tagged', 'active'), ('s-untagged', 'Kettlebells X for beginners', '', 'active')")
    con.execute("INSERT INTO catalogue.attribute (id, link_id, taxonomy_term_id, link_entity) VALUES ('a-k', 's-kettle', 't-kettle', 'service')")
    classify_catalogue(con)
    got = {r[0]: r[1:] for r in con.execute(
        "SELECT service_id, esd_id, method, keywords FROM catalogue.service_type WHERE rank = 1").fetchall()}
    assert got["s-kettle"][:2] == ("453", "mapped")                    # bundled row: Group Exercise -> Sports coaching
    assert "under Group Exercise" in got["s-kettle"][2][0]
    assert got["s-untagged"][:2] == ("453", "inferred")                # the catalogue's own activity labels as keywords
    assert any("kettlebel" in k for k in got["s-untagged"][2])
    con.close()


def test_compounds_match_written_as_one_word_or_two():
    clf = KeywordClassifier([ServiceType("1", "Body Pump"), ServiceType("2", "Aquafit"), ServiceType("3", "Pump track")])
    assert clf.predict("Bodypump Mon 6pm", "")[0].esd_id == "1"
    assert clf.predict("Aqua Fit for over 50s", "")[0].esd_id == "2"


def test_a_word_inside_a_known_phrase_counts_only_where_it_is_a_whole_name():
    types = [ServiceType("1", "Registered body"), ServiceType("2", "Zumba"), ServiceType("3", "Leisure")]
    clf = KeywordClassifier(types, vocabulary={"3": ["Body Pump", "Zumba Tone"]})
    best = clf.predict("Body Pump", "")
    assert [p.esd_id for p in best] == ["3"]                     # "body" is not read apart from "body pump"
    assert {p.esd_id for p in clf.predict("Zumba Tone", "")} == {"2", "3"}   # "zumba" alone names type 2
    assert clf.predict("Body", "")[0].esd_id == "1"               # read outside the phrase, it counts


def test_generic_words_count_in_phrases_and_as_whole_names_only():
    types = [ServiceType("1", "Lunch clubs"), ServiceType("2", "Exercise"), ServiceType("3", "Courses")]
    clf = KeywordClassifier(types, {"2": ["exercise class"]})
    assert clf.predict("Book club", "") == []                   # "club" out of "lunch club" says nothing
    assert clf.predict("Lunch club", "")[0].esd_id == "1"
    assert clf.predict("Exercise class", "")[0].esd_id == "2"
    assert clf.predict("Pottery class", "") == []
    assert clf.predict("Courses for adults", "")[0].esd_id == "3"   # a type named by the word alone


def test_a_name_the_mapping_table_assigns_itself_is_not_also_lent_by_inheritance():
    concepts = [VocabularyConcept("urn:gx", "Group Exercise"),
                VocabularyConcept("urn:cf2", "Cross Fit", broader=("urn:gx",)),
                VocabularyConcept("urn:cf", "Crossfit"),
                VocabularyConcept("urn:kb", "Kettlebells", broader=("urn:gx",))]
    mapper = Mapper([MappingRow("openactive", "", "Group Exercise", "453", "Sports coaching"),
                     MappingRow("openactive", "", "Crossfit", "451", "Sports facilities")])
    vocabulary = vocabulary_keywords(concepts, mapper)
    assert ("Crossfit", False) in vocabulary["451"] and ("Cross Fit", True) in vocabulary["453"]
    clf = KeywordClassifier([ServiceType("451", "Sports facilities"), ServiceType("453", "Sports coaching")],
                            vocabulary=vocabulary)
    assert [p.esd_id for p in clf.predict("Crossfit 6pm", "")] == ["451"]
    assert clf.predict("Kettlebells", "")[0].esd_id == "453"      # inherited names still count


def test_a_word_the_name_reads_in_a_phrase_means_the_same_in_the_description():
    types = [ServiceType("1", "Registered body"), ServiceType("3", "Leisure"), ServiceType("4", "Fitness")]
    clf = KeywordClassifier(types, vocabulary={"3": ["Body Pump"]})
    got = [p.esd_id for p in clf.predict("Body Pump", "A complete body workout for fitness.")]
    assert got[0] == "3" and "1" not in got
    # without the phrase in the name, the description's "body" is an ordinary word
    assert "1" in [p.esd_id for p in clf.predict("Evening class", "A complete body workout for fitness.")]


def test_fuzzy_matching_keeps_the_first_letter():
    clf = KeywordClassifier([ServiceType("1", "Petitions"), ServiceType("2", "Bereavement support")])
    assert clf.predict("", "lots of repetition") == []
    assert clf.predict("Bereavment cafe", "")[0].esd_id == "2"


def test_a_cut_short_word_in_a_name_reads_as_the_keyword_it_starts():
    clf = KeywordClassifier([ServiceType("1", "Badminton courts"), ServiceType("2", "Disabled people - advice"),
                             ServiceType("3", "Debts")])
    best = clf.predict("Badmin Session 12pm", "")[0]
    assert best.esd_id == "1" and "badmin~badminton" in best.keywords
    assert clf.predict("", "badmin") == []                         # descriptions are prose, not cut short
    assert clf.predict("Badmi", "")[0].esd_id == "1"
    assert clf.predict("Badm", "") == []                           # too short to say which word it starts
