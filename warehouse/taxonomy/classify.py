"""Classify every catalogue service to LGA (esd) service types.

Three methods, tried in this order for each golden service, and recorded with the result:

* ``source``   the publisher tagged the service with esd service types (ORUK v1 ``esdServiceType:N``,
               ``http://id.esd.org.uk/service/N``); taken as they are, confidence 1.
* ``mapped``   the service carries an OpenActive activity or a local category that the reviewable
               mapping table (``warehouse/data/esd_mapping.csv``, or the one loaded with
               ``placecat reference load --esd-mapping``) maps to an esd type. The bundled table
               maps every top concept of the activity list; a narrower activity takes the type of
               its nearest mapped broader concept ("Indoor Cycling (under Group Exercise)").
* ``inferred`` a keyword/synonym classifier over the name and description: every service type has
               keywords (its label, its earlier names from the list's History notes, the synonyms
               in ``warehouse/data/esd_keywords.csv``, the words of its description, weighted
               lower, and the labels of the activities the mapping table links to it); a service
               scores each type by the keywords it contains (IDF-weighted, so rare words count
               more; repeated words count a little more; the name counts twice the description),
               with rapidfuzz catching misspellings and cut-short words in names ("Badmin") read as
               the keyword they start. Words are read in context: a word inside a known two-word
               phrase ("body" in "Body Pump") counts only where it is a whole name by itself, in the
               description as well as the name; words that say how a listing runs ("session",
               "class", "club", "group", ...) count only inside phrases. The matching keywords are
               stored so anyone can see why.

``benchmarks/bench_classifier.py`` measures agreement with publishers' own tags (OpenActive activity
tags are the real ones available) and the speed.

The LGA list itself loads from the esd CSV format (``Identifier,Label,Description,...``).
"""
from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from warehouse import vocab
from warehouse.taxonomy.keywords import KeywordClassifier, load_keywords_csv
from warehouse.taxonomy.lga import (ESD_URI, METHODS, NS, SERVICE_TYPE_DDL, TAXONOMY_ID, Mapper, read_lga_services,
                                    read_mapping)
from warehouse.taxonomy.vocabularies import read_activity_concepts, term_tables, vocabulary_keywords


@dataclass
class ServiceTerms:
    service_id: str
    name: str
    description: str
    terms: list[tuple[str | None, str | None, str | None, str | None]]  # (term_uri, term/code, name, taxonomy)
    # per term, its broader terms nearest first as (term_uri, name): a narrow activity the mapping
    # table does not list takes the type of its nearest broader one that it does
    broader: list[list[tuple[str | None, str | None]]] = field(default_factory=list)


def canonical_esd_id(term_uri: str | None, code: str | None, taxonomy: str | None) -> str | None:
    """The esd service type id (the number) a publisher's term stands for, or None."""
    for value in (term_uri, code):
        term = vocab.canonical_term(value, taxonomy)
        if term is not None:
            return term.code if term.list == "service" else None
    return None


def read_services(con: duckdb.DuckDBPyConnection) -> list[ServiceTerms]:
    broader = _broader_terms(con)
    rows = con.execute("""
        SELECT s.id, s.name, s.description,
               list({'uri': t.term_uri, 'term': t.term, 'name': t.name,
                     'taxonomy': coalesce(t.taxonomy, tx.name, tx.uri)})
                 FILTER (WHERE t.id IS NOT NULL)
        FROM catalogue.service s
        LEFT JOIN catalogue.attribute a ON a.link_id = s.id AND coalesce(a.link_entity, 'service') = 'service'
             AND NOT (a.value IN ('mapped', 'inferred') AND a.taxonomy_term_id IN (
                 SELECT id FROM catalogue.taxonomy_term WHERE taxonomy_id = ?))
        LEFT JOIN catalogue.taxonomy_term t ON t.id = a.taxonomy_term_id
        LEFT JOIN catalogue.taxonomy tx ON tx.id = t.taxonomy_id
        GROUP BY s.id, s.name, s.description ORDER BY s.id
    """, [TAXONOMY_ID]).fetchall()
    return [ServiceTerms(sid, name or "", desc or "",
                         [(t["uri"], t["term"], t["name"], t["taxonomy"]) for t in (terms or [])],
                         [broader.get(t["uri"] or "", []) for t in (terms or [])])
            for sid, name, desc, terms in rows]


def _broader_terms(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str | None, str | None]]]:
    """term URI -> its broader terms as (term_uri, name), nearest first, at most 8 levels up."""
    parent_of: dict[str, tuple[str, str | None]] = {}
    for table in term_tables(con):
        for uri, parent_uri, parent_name in con.execute(f"""
                SELECT DISTINCT t.term_uri, p.term_uri, p.name FROM {table} t JOIN {table} p ON p.id = t.parent_id
                WHERE t.term_uri IS NOT NULL AND p.term_uri IS NOT NULL""").fetchall():
            parent_of.setdefault(uri, (parent_uri, parent_name))
    chains: dict[str, list[tuple[str | None, str | None]]] = {}
    for uri in parent_of:
        chain, seen, at = [], {uri}, uri
        while at in parent_of and len(chain) < 8:
            parent_uri, parent_name = parent_of[at]
            if parent_uri in seen:
                break
            chain.append((parent_uri, parent_name))
            seen.add(parent_uri)
            at = parent_uri
        chains[uri] = chain
    return chains


@dataclass
class Classification:
    service_id: str
    esd_id: str
    label: str
    method: str
    confidence: float
    rank: int
    keywords: list[str]


def classify_service(svc: ServiceTerms, labels: dict[str, str], mapper: Mapper,
                     classifier: KeywordClassifier | None, min_confidence: float = 0.05) -> list[Classification]:
    source: dict[str, str] = {}
    mapped: dict[str, tuple[str, str]] = {}
    for i, (uri, code, name, taxonomy) in enumerate(svc.terms):
        esd_id = canonical_esd_id(uri, code, taxonomy)
        if esd_id:
            source.setdefault(esd_id, name or labels.get(esd_id) or esd_id)
            continue
        rows = mapper.lookup((uri, code), name or code)
        via = None
        if not rows and i < len(svc.broader):
            rows, via = mapper.lookup_concept(None, None, svc.broader[i])
        for row in rows:
            why = f"{row.scheme}:{name or code or uri}" + (f" (under {via})" if via else "")
            mapped.setdefault(row.esd_id, (row.esd_label, why))
    if source:
        return [Classification(svc.service_id, e, labels.get(e, lbl), "source", 1.0, i, [f"esd:{e}"])
                for i, (e, lbl) in enumerate(source.items(), start=1)]
    if mapped:
        return [Classification(svc.service_id, e, labels.get(e) or lbl or e, "mapped", 1.0, i, [why])
                for i, (e, (lbl, why)) in enumerate(mapped.items(), start=1)]
    if classifier is None:
        return []
    preds = classifier.predict(svc.name, svc.description, top=3)
    if not preds or preds[0].confidence < min_confidence:
        return []
    best = preds[0].score
    # "one or more": keep the runners-up that score nearly as well as the best.
    keep = [p for p in preds if p.score >= 0.8 * best]
    return [Classification(svc.service_id, p.esd_id, p.label, "inferred", p.confidence, i, p.keywords)
            for i, p in enumerate(keep, start=1)]


def classify_catalogue(con: duckdb.DuckDBPyConnection) -> dict:
    """Fill catalogue.service_type and add the types as ORUK taxonomy terms and attributes."""
    con.execute(SERVICE_TYPE_DDL)
    types = read_lga_services(con)
    labels = {t.esd_id: t.label for t in types}
    mapper = Mapper(read_mapping(con))
    # The activities the sources used lend their labels to the esd types they map to, so a council's
    # untagged "Zumba for beginners" still finds Sports coaching, through Zumba's broader "Dance".
    vocabulary = vocabulary_keywords(read_activity_concepts(con), mapper)
    classifier = KeywordClassifier(types, load_keywords_csv(), vocabulary=vocabulary) if types else None
    results: list[Classification] = []
    for svc in read_services(con):
        results.extend(classify_service(svc, labels, mapper, classifier))
    con.execute("DELETE FROM catalogue.service_type")
    if results:
        with _registered(con, "classified", pd.DataFrame([c.__dict__ for c in results])):
            con.execute("INSERT INTO catalogue.service_type SELECT service_id, esd_id, label, method, confidence, rank, "
                        "keywords::VARCHAR[] FROM classified")
    write_oruk_terms(con, results)
    complete_taxonomies(con)
    counts = dict(con.execute("SELECT method, count(DISTINCT service_id) FROM catalogue.service_type GROUP BY 1").fetchall())
    total = con.execute("SELECT count(*) FROM catalogue.service").fetchone()[0]
    out = {f"services_{m}": int(counts.get(m, 0)) for m in METHODS}
    out["services_unclassified"] = int(total - sum(counts.values()))
    out["lga_types_loaded"] = len(types)
    if not types:
        out["note"] = ("no LGA service list loaded (placecat reference load --lga-services FILE): "
                       "only publishers' own esd terms and mapped terms were used")
    return out


def write_oruk_terms(con: duckdb.DuckDBPyConnection, results: list[Classification]) -> None:
    """Mapped and inferred types become ORUK attributes, so the republished feed carries them."""
    # Our own attributes: a mapped or inferred value pointing at a term of our esd taxonomy.
    con.execute("DELETE FROM catalogue.attribute WHERE value IN ('mapped', 'inferred') AND taxonomy_term_id IN "
                "(SELECT id FROM catalogue.taxonomy_term WHERE taxonomy_id = ?)", [TAXONOMY_ID])
    con.execute("DELETE FROM catalogue.taxonomy_term WHERE taxonomy_id = ?", [TAXONOMY_ID])
    con.execute("DELETE FROM catalogue.taxonomy WHERE id = ?", [TAXONOMY_ID])
    added = [c for c in results if c.method in ("mapped", "inferred")]
    if not added:
        return
    con.execute("INSERT INTO catalogue.taxonomy (id, name, description, uri, version) VALUES (?, ?, ?, ?, ?)",
                [TAXONOMY_ID, "esdServiceTypes", "LGA (esd) service types, added by placecat's classifier",
                 "http://id.esd.org.uk/list/services", None])
    terms = {c.esd_id: c.label for c in added}
    con.executemany("INSERT INTO catalogue.taxonomy_term (id, name, description, taxonomy, taxonomy_id, term_uri, term) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(_term_id(e), lbl, lbl, "esdServiceTypes", TAXONOMY_ID, ESD_URI.format(e), f"esdServiceType:{e}")
                     for e, lbl in terms.items()])
    # Attribute ids are UUIDs, as the schema's format asks (they were "esd-<uuid>").
    frame = pd.DataFrame([(str(uuid.uuid5(NS, "attribute/" + c.service_id + "/" + c.esd_id)), c.service_id,
                           _term_id(c.esd_id),
                           c.method) for c in added], columns=["id", "link_id", "taxonomy_term_id", "value"])
    with _registered(con, "esd_attributes", frame):
        con.execute("INSERT INTO catalogue.attribute (id, link_id, taxonomy_term_id, link_type, link_entity, value) "
                    "SELECT id, link_id, taxonomy_term_id, 'service', 'service', value FROM esd_attributes")


@contextlib.contextmanager
def _registered(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame):
    """``frame`` readable in SQL as ``name`` for the duration of the block."""
    con.register(name, frame)
    try:
        yield
    finally:
        con.unregister(name)


def complete_taxonomies(con: duckdb.DuckDBPyConnection) -> int:
    """Every published term has a taxonomy (``taxonomy_id``) and a ``term``, and every taxonomy a
    description, as /taxonomies and /taxonomy_terms need: a publisher's term without a taxonomy
    row gets one for its vocabulary name (or "Publisher's own terms"); returns taxonomies added."""
    con.execute("""CREATE OR REPLACE TEMP TABLE missing_taxonomy AS
                   SELECT DISTINCT coalesce(nullif(trim(taxonomy), ''), 'Publisher''s own terms') AS name
                   FROM catalogue.taxonomy_term
                   WHERE taxonomy_id IS NULL OR taxonomy_id NOT IN (SELECT id FROM catalogue.taxonomy)""")
    added = [(str(uuid.uuid5(NS, "taxonomy/" + name)), name) for (name,) in
             con.execute("SELECT name FROM missing_taxonomy ORDER BY 1").fetchall()]
    for tid, name in added:
        con.execute("INSERT INTO catalogue.taxonomy (id, name) SELECT ?, ? WHERE ? NOT IN (SELECT id FROM catalogue.taxonomy)",
                    [tid, name, tid])
        con.execute("""UPDATE catalogue.taxonomy_term SET taxonomy_id = ?
                       WHERE (taxonomy_id IS NULL OR taxonomy_id NOT IN (SELECT id FROM catalogue.taxonomy))
                         AND coalesce(nullif(trim(taxonomy), ''), 'Publisher''s own terms') = ?""", [tid, name])
    con.execute("UPDATE catalogue.taxonomy_term SET term = coalesce(term_uri, name) WHERE term IS NULL")
    con.execute("""UPDATE catalogue.taxonomy SET description = 'The ' || name || ' vocabulary, as the sources use it'
                   WHERE description IS NULL OR trim(description) = ''""")
    return len(added)


def _term_id(esd_id: str) -> str:
    return str(uuid.uuid5(NS, ESD_URI.format(esd_id)))
