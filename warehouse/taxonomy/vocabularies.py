"""Controlled vocabularies as keywords: the OpenActive Activity List's concepts (and their broader
concepts) lend their labels to the LGA service types they map to.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, NamedTuple

import duckdb

from warehouse.taxonomy.keywords import KeywordClassifier
from warehouse.taxonomy.lga import Mapper, ServiceType, table_exists

ACTIVITY_TAXONOMY = "OpenActive Activity List"   # the taxonomy name the OpenActive connector writes


@dataclass(frozen=True)
class VocabularyConcept:
    """One concept of a SKOS vocabulary (e.g. the OpenActive activity list), for keyword building."""
    id: str                                 # the concept URI
    label: str                              # prefLabel
    alt_labels: tuple[str, ...] = ()
    definition: str = ""
    broader: tuple[str, ...] = ()           # URIs of broader concepts


def concepts_from_activity_list(activity_list) -> list[VocabularyConcept]:
    """The concepts of a loaded ``connectors.openactive.activities.ActivityList``, with their altLabels."""
    alt: dict[int, list[str]] = defaultdict(list)
    for key, concept in activity_list.by_label.items():
        if key != activity_list.label_key(concept.label):
            alt[id(concept)].append(key)
    return [VocabularyConcept(c.id, c.label, tuple(alt[id(c)]), c.definition or "", tuple(c.broader or ()))
            for c in activity_list.concepts.values()]


def read_activity_concepts(con: duckdb.DuckDBPyConnection) -> list[VocabularyConcept]:
    """The OpenActive activities the sources used, and their broader concepts."""
    found: dict[str, VocabularyConcept] = {}
    for table in term_tables(con):
        for uri, name, desc, parents in con.execute(f"""
                SELECT t.term_uri, any_value(t.name), any_value(t.description),
                       list(DISTINCT p.term_uri) FILTER (WHERE p.term_uri IS NOT NULL)
                FROM {table} t LEFT JOIN {table} p ON p.id = t.parent_id
                WHERE t.taxonomy = ? AND t.term_uri IS NOT NULL AND t.name IS NOT NULL
                GROUP BY t.term_uri ORDER BY t.term_uri""", [ACTIVITY_TAXONOMY]).fetchall():
            had = found.get(uri)
            broader = tuple(dict.fromkeys([*(had.broader if had else ()), *(parents or ())]))
            found[uri] = VocabularyConcept(uri, had.label if had else name, (),
                                           had.definition if had else ("" if desc == name else (desc or "")), broader)
    return list(found.values())


def ancestors(concept: VocabularyConcept, by_id: dict[str, VocabularyConcept]) -> list[VocabularyConcept]:
    """Broader concepts, nearest first (breadth-first; a cycle in the data cannot loop)."""
    out, seen, queue = [], {concept.id}, list(concept.broader)
    while queue:
        uri = queue.pop(0)
        parent = by_id.get(uri)
        if parent is None or parent.id in seen:
            continue
        seen.add(parent.id)
        out.append(parent)
        queue.extend(parent.broader)
    return out


class LentLabel(NamedTuple):
    """A vocabulary label lent to an esd type; ``inherited`` when the mapping table names not the
    concept itself but a broader one."""
    text: str
    inherited: bool = False


def vocabulary_keywords(concepts: Iterable[VocabularyConcept], mapper: Mapper) -> dict[str, list[LentLabel]]:
    """Keywords for esd types from a vocabulary the mapping table links to them.

    Every concept whose own row, or nearest broader concept's row, maps to an esd type lends that
    type its labels: "Body Pump" sits under "Group Exercise", which maps to Sports coaching, so
    "body pump" becomes a Sports coaching keyword. This is vocabulary knowledge (the list's labels
    and hierarchy plus the reviewed mapping), not anything learnt from tagged services. Labels of
    concepts the table names themselves are marked apart from inherited ones: a reviewer's explicit
    row ("Crossfit" -> Sports facilities) outweighs an inference through the hierarchy ("Cross
    Fit", under HIIT under Group Exercise -> Sports coaching).
    """
    concepts = list(concepts)
    by_id = {c.id: c for c in concepts}
    out: dict[str, list[LentLabel]] = defaultdict(list)
    for c in concepts:
        rows = mapper.lookup((c.id,), c.label)
        inherited = not rows
        if inherited:
            rows, _ = mapper.lookup_concept(None, None, [(a.id, a.label) for a in ancestors(c, by_id)])
        for row in rows:
            out[row.esd_id].extend(LentLabel(label, inherited) for label in (c.label, *c.alt_labels))
    return out


def concept_classifier(concepts: Iterable[VocabularyConcept]) -> "KeywordClassifier":
    """A keyword classifier whose classes are the concepts themselves (e.g. OpenActive activities).

    Predictions carry the concept URI in ``esd_id``. Labels and altLabels are the keywords; the
    definition is weighted like an esd description.
    """
    concepts = list(concepts)
    return KeywordClassifier([ServiceType(c.id, c.label, c.definition) for c in concepts],
                             {c.id: list(c.alt_labels) for c in concepts if c.alt_labels})


def term_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    # The catalogue keeps only the terms services point at; the build's staging tables still hold
    # the broader concepts the connector wrote as their parents, so both are read.
    return [f"{schema}.taxonomy_term" for schema in ("catalogue", "staging") if table_exists(con, schema, "taxonomy_term")]
