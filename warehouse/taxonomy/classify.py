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

import bisect
import csv
import functools
import heapq
import itertools
import math
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, NamedTuple

import duckdb
import pandas as pd
from rapidfuzz import fuzz, process

from warehouse import vocab

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_MAPPING = DATA_DIR / "esd_mapping.csv"
DEFAULT_KEYWORDS = DATA_DIR / "esd_keywords.csv"
ESD_URI = "http://id.esd.org.uk/service/{}"
TAXONOMY_ID = "9a4c1f0e-5a43-5d2b-9b53-0e5f8e0f0001"  # our esd taxonomy row in catalogue.taxonomy
NS = uuid.UUID("5d3f4c2a-1b0e-4f6a-8c7d-2e9b1a0c3f55")
METHODS = ("source", "mapped", "inferred")

SERVICE_TYPE_DDL = """
CREATE TABLE IF NOT EXISTS catalogue.service_type (
    service_id  VARCHAR NOT NULL,   -- golden service id
    esd_id      VARCHAR NOT NULL,   -- LGA service type identifier (http://id.esd.org.uk/service/<esd_id>)
    label       VARCHAR,
    method      VARCHAR NOT NULL,   -- source | mapped | inferred
    confidence  DOUBLE,             -- 1 for source/mapped; the classifier's confidence for inferred
    rank        INTEGER,            -- 1 = best type for this service
    keywords    VARCHAR[]           -- why: the matched keywords, or the source term / mapped code
)
"""
LGA_LIST_DDL = """
CREATE TABLE IF NOT EXISTS ref.lga_service_type (
    esd_id VARCHAR PRIMARY KEY, label VARCHAR NOT NULL, description VARCHAR, uri VARCHAR,
    former_labels VARCHAR[]          -- earlier names of the type, from the list's History notes
)
"""
MAPPING_DDL = """
CREATE TABLE IF NOT EXISTS ref.esd_mapping (
    scheme VARCHAR NOT NULL, code VARCHAR, label VARCHAR, esd_id VARCHAR NOT NULL, esd_label VARCHAR, note VARCHAR
)
"""


class TaxonomyFileError(ValueError):
    """A list or mapping file the user supplied is not usable; one line naming file and row."""


@dataclass(frozen=True)
class ServiceType:
    esd_id: str
    label: str
    description: str = ""
    former_labels: tuple[str, ...] = ()     # names the list gave the type before (its History notes)

    @property
    def uri(self) -> str:
        return ESD_URI.format(self.esd_id)


# ---------------------------------------------------------------- loading the LGA list

_ID_COLUMNS = ("identifier", "id", "uri", "esd_id")
_LABEL_COLUMNS = ("label", "name", "title")


def _clean_literal(text: str | None) -> str:
    # The 2015 CSV carries RDF literal artefacts such as "Text"@en.
    text = (text or "").strip()
    text = re.sub(r'^"?(.*?)"?@en$', r"\1", text, flags=re.S)
    return re.sub(r"\s+", " ", text).strip()


def esd_id_of(value: str | None) -> str | None:
    """The numeric esd service id in a URI, CURIE or bare number, or None."""
    if value is None:
        return None
    text = str(value).strip()
    m = re.search(r"(?:id\.esd\.org\.uk/service/|esdServiceTypes?:|^)(\d+)/?$", text)
    return m.group(1) if m else None


def load_lga_services_csv(path: Path) -> list[ServiceType]:
    """Read the LGA service list in the esd CSV format (header row, quoted multi-line fields)."""
    path = Path(path)
    if not path.exists():
        raise TaxonomyFileError(f"{path}: file not found; download the LGA service list CSV and pass its path")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        id_col = next((header.index(c) for c in _ID_COLUMNS if c in header), None)
        label_col = next((header.index(c) for c in _LABEL_COLUMNS if c in header), None)
        if id_col is None or label_col is None:
            raise TaxonomyFileError(f"{path}: row 1: expected the esd CSV header with 'Identifier' and 'Label' columns, "
                                    f"found {','.join(h for h in header if h)}")
        desc_col = header.index("description") if "description" in header else None
        history_col = header.index("history notes") if "history notes" in header else None
        out: dict[str, ServiceType] = {}
        for row_no, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            raw_id = row[id_col] if id_col < len(row) else ""
            esd_id = esd_id_of(raw_id)
            label = _clean_literal(row[label_col] if label_col < len(row) else "")
            if esd_id is None or not label:
                raise TaxonomyFileError(f"{path}: row {row_no}: field 'Identifier'/'Label': {raw_id!r} is not an esd "
                                        "service id with a label; fix or delete the row")
            desc = _clean_literal(row[desc_col]) if desc_col is not None and desc_col < len(row) else ""
            history = row[history_col] if history_col is not None and history_col < len(row) else ""
            out[esd_id] = ServiceType(esd_id, label, desc, former_labels(history, label))
    if not out:
        raise TaxonomyFileError(f"{path}: no service types found; is this the LGA service list CSV?")
    return list(out.values())


# "Term name changed from 'Adopting' to 'Adoption' ... to 'Social services - adoptive homes' in version 3.00."
_FORMER_NAME = re.compile(r"(?:from|to) '([^'\n]{2,120}?)'")


def former_labels(history_notes: str | None, label: str) -> tuple[str, ...]:
    """The earlier names of a type, as its esd History notes record them: the list's own synonyms
    (measured on the LGA-list proxy, development half: top-1 0.566 -> 0.589, top-3 0.747 -> 0.771)."""
    seen = {_norm_label(label)}
    out = []
    for name in _FORMER_NAME.findall(history_notes or ""):
        if "version" in name.lower() or _norm_label(name) in seen:      # an unbalanced quote, or a repeat
            continue
        seen.add(_norm_label(name))
        out.append(name.strip())
    return tuple(out)


def store_lga_services(con: duckdb.DuckDBPyConnection, types: list[ServiceType]) -> int:
    con.execute("CREATE SCHEMA IF NOT EXISTS ref")
    con.execute(LGA_LIST_DDL)
    # A reference store made before former labels were kept gets the column.
    con.execute("ALTER TABLE ref.lga_service_type ADD COLUMN IF NOT EXISTS former_labels VARCHAR[]")
    con.execute("DELETE FROM ref.lga_service_type")
    con.executemany("INSERT INTO ref.lga_service_type (esd_id, label, description, uri, former_labels) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(t.esd_id, t.label, t.description, t.uri, list(t.former_labels)) for t in types])
    return len(types)


def read_lga_services(con: duckdb.DuckDBPyConnection) -> list[ServiceType]:
    if not _table_exists(con, "ref", "lga_service_type"):
        return []
    has_former = con.execute("SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() AND "
                             "schema_name = 'ref' AND table_name = 'lga_service_type' AND column_name = 'former_labels'"
                             ).fetchone()[0]
    former = "former_labels" if has_former else "NULL"
    return [ServiceType(i, l, d or "", tuple(f or ())) for i, l, d, f in con.execute(
        f"SELECT esd_id, label, description, {former} FROM ref.lga_service_type ORDER BY esd_id").fetchall()]


# ---------------------------------------------------------------- the mapping table

@dataclass(frozen=True)
class MappingRow:
    scheme: str
    code: str
    label: str
    esd_id: str
    esd_label: str
    note: str = ""


def load_mapping_csv(path: Path) -> list[MappingRow]:
    path = Path(path)
    if not path.exists():
        raise TaxonomyFileError(f"{path}: mapping file not found")
    rows = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        need = {"scheme", "code", "label", "esd_id"}
        if not need <= set(reader.fieldnames or []):
            raise TaxonomyFileError(f"{path}: row 1: the mapping needs the columns {', '.join(sorted(need))}")
        for row_no, r in enumerate(reader, start=2):
            esd_id = esd_id_of(r.get("esd_id"))
            if esd_id is None:
                raise TaxonomyFileError(f"{path}: row {row_no}: field 'esd_id': {r.get('esd_id')!r} is not an esd service id")
            if not (r.get("code") or r.get("label")):
                raise TaxonomyFileError(f"{path}: row {row_no}: give a 'code' or a 'label' to map")
            rows.append(MappingRow((r["scheme"] or "local").strip().lower(), (r.get("code") or "").strip(),
                                   (r.get("label") or "").strip(), esd_id, (r.get("esd_label") or "").strip(),
                                   (r.get("note") or "").strip()))
    return rows


def store_mapping(con: duckdb.DuckDBPyConnection, rows: list[MappingRow]) -> int:
    con.execute("CREATE SCHEMA IF NOT EXISTS ref")
    con.execute(MAPPING_DDL)
    con.execute("DELETE FROM ref.esd_mapping")
    con.executemany("INSERT INTO ref.esd_mapping VALUES (?, ?, ?, ?, ?, ?)",
                    [(r.scheme, r.code, r.label, r.esd_id, r.esd_label, r.note) for r in rows])
    return len(rows)


def read_mapping(con: duckdb.DuckDBPyConnection) -> list[MappingRow]:
    if _table_exists(con, "ref", "esd_mapping"):
        rows = [MappingRow(*r) for r in con.execute(
            "SELECT scheme, code, label, esd_id, esd_label, note FROM ref.esd_mapping").fetchall()]
        if rows:
            return rows
    return load_mapping_csv(DEFAULT_MAPPING)


class Mapper:
    """Looks up a term (OpenActive concept or local category) in the mapping table."""

    def __init__(self, rows: Iterable[MappingRow]):
        self.by_code: dict[str, list[MappingRow]] = defaultdict(list)
        self.by_label: dict[str, list[MappingRow]] = defaultdict(list)
        for r in rows:
            if r.code:
                self.by_code[_code_key(r.code)].append(r)
            if r.label:
                self.by_label[_norm_label(r.label)].append(r)

    def lookup(self, codes: str | tuple | None, label: str | None) -> list[MappingRow]:
        for code in (codes if isinstance(codes, tuple) else (codes,)):
            if code and _code_key(code) in self.by_code:
                return self.by_code[_code_key(code)]
        if label and _norm_label(label) in self.by_label:
            return self.by_label[_norm_label(label)]
        return []


    def lookup_concept(self, concept_id: str | None, label: str | None,
                       broader: Iterable[tuple[str | None, str | None]] = ()) -> tuple[list[MappingRow], str | None]:
        """The rows for a concept, else for its nearest broader concept that has rows.

        The table maps a few hundred broad activities; a publisher's narrower one ("Body Pump")
        takes the type of the nearest broader one that is mapped ("Group Exercise"). Returns the
        rows and the label of the concept that matched (None when nothing did).
        """
        for uri, name in ((concept_id, label), *broader):
            rows = self.lookup((uri,), name)
            if rows:
                return rows, name or uri
        return [], None


def _code_key(code: str) -> str:
    # OpenActive concepts appear as full URIs or bare UUIDs: compare on the fragment.
    return code.strip().rsplit("#", 1)[-1].rsplit("/", 1)[-1].lower()


def _norm_label(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", label.lower()).strip()


# ---------------------------------------------------------------- the keyword classifier

STOP_WORDS = frozenset("""
a about after all also an and any are as at be been but by can for from has have help helps if in into is it its
may more no not of on or our out over own per so some such than that the their them then there these they this
those to up us was we were what when where which who will with within without you your service services local
council people offer offers provide provides provided support available information including can
get using use other new one two its any all who how us week weekly day free run runs
""".split())
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_TAG = re.compile(r"<[^>]+>")


_VOWELS = frozenset("aeiouy")


def _short_syllable(t: str) -> bool:
    return t[0] not in _VOWELS and t[1] in _VOWELS and t[2] not in _VOWELS | {"w", "x"}


@functools.lru_cache(maxsize=1 << 18)
def stem(token: str) -> str:
    """A deliberately light stemmer: plurals and common suffixes, so that 'carers'/'carer',
    'swimming'/'swim', 'cycle'/'cycling' and 'dance'/'dancing' meet.

    Order: possessive, then one suffix (plural, -ing, -ed, -ers), then a doubled final consonant
    is undoubled ('swimm' -> 'swim') and a final silent 'e' dropped on longer words ('cycle' ->
    'cycl', like 'cycling' -> 'cycl'); short words keep theirs, and a short stem left by -ing/-ed
    gets its 'e' back, so 'caring' meets 'care' and not 'car'.
    """
    t = token.replace("'s", "")
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("ers", "er"), ("s", "")):
        if t.endswith(suffix) and len(t) - len(suffix) >= 3 and not (suffix == "s" and t.endswith(("ss", "us", "is"))):
            t = t[: len(t) - len(suffix)] + repl
            if suffix in ("ing", "ed") and len(t) >= 4 and t[-1] == t[-2] and t[-1] not in _VOWELS | {"l", "s", "z"}:
                t = t[:-1]
            elif suffix in ("ing", "ed") and len(t) == 3 and _short_syllable(t):
                t += "e"                      # 'caring' -> 'care', 'riding' -> 'ride', not 'car', 'rid'
            break
    if len(t) >= 5 and t.endswith("e") and t[-2] not in _VOWELS:
        t = t[:-1]
    return t


# Session and service names carry when they run ("Body Pump Tues 7.30pm", "Teens 12-16yrs"): days,
# clock times, bare numbers and durations say nothing about what the service is. "50s" stays
# ("over 50s" names older people's activities).
_WHEN = re.compile(r"^(?:\d+|\d+(?:am|pm|hr|hrs|yr|yrs|min|mins|th|st|nd|rd)|mon|monday|tue|tues|tuesday|wed|weds|"
                   r"wednesday|thu|thur|thurs|thursday|fri|frid|friday|sat|saturday|sun|sunday|am|pm)$")


def tokens(text: str | None) -> list[str]:
    text = _TAG.sub(" ", (text or "")).lower().replace("&amp;", " and ").replace("&nbsp;", " ")
    return [stem(t) for t in _TOKEN.findall(text) if t not in STOP_WORDS and len(t) > 1 and not _WHEN.match(t)]


# Words that say how a listing runs, not what it is about ("Group Cycle", "Football Coaching
# Courses", "Swimming Lessons", "Lunch club"): they count inside phrases ("group cycling", "lunch
# club", "exercise class") and alone only for a type they name by themselves, never as one word
# out of a longer label, synonym or description.
GENERIC_WORDS = frozenset(stem(w) for w in "group session class club course lesson programme".split())


def load_keywords_csv(path: Path = DEFAULT_KEYWORDS) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    if not Path(path).exists():
        return out
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r.get("esd_id") and r.get("keyword"):
                out[r["esd_id"].strip()].append(r["keyword"].strip())
    return out


@dataclass
class Prediction:
    esd_id: str
    label: str
    score: float
    confidence: float
    keywords: list[str] = field(default_factory=list)


# Keyword weights by where the keyword came from: the label and synonyms say what a type is;
# the description only hints.
W_LABEL, W_SYNONYM, W_DESCRIPTION = 3.0, 3.0, 0.6
# Labels lent by a mapped vocabulary (activity list concepts) name the thing as surely as a synonym.
W_VOCABULARY = 3.0
# ... but a single word out of a longer lent label ("fit" in "Active Fit", "Cheer Fitness", ...) only hints.
W_VOCABULARY_PART = 1.0
# The same for a word out of a hand-written synonym ("low" in "low mood", "loss" in "loss of a loved
# one"). The LGA labels' own words keep their weight: the list's labels are short, and their words
# are what the list says the type is about (measured: lowering them costs the LGA-list proxy 3 points).
W_SYNONYM_PART = 1.0
# Words in a service's name count more than words in its description.
W_NAME, W_TEXT = 2.0, 1.0
FUZZY_CUTOFF = 88
TF_K = 1.2
NORM_ALPHA = 0.5


class KeywordClassifier:
    """Scores service types by the IDF-weighted keywords found in a service's name and description."""

    def __init__(self, types: Iterable[ServiceType], synonyms: dict[str, list[str]] | None = None,
                 use_descriptions: bool = True, vocabulary: dict[str, list[str]] | None = None):
        """``synonyms``: hand-written keywords per type; ``vocabulary``: keywords lent by a mapped
        vocabulary (see ``vocabulary_keywords``), which can run to hundreds for one type."""
        self.types = {t.esd_id: t for t in types}
        synonyms = synonyms or {}
        lent_labels = {e: [(v, False) if isinstance(v, str) else tuple(v) for v in labels]
                       for e, labels in (vocabulary or {}).items() if e in self.types}
        # A name the mapping table assigns explicitly (through a concept it names) is not lent to
        # another type by inheritance too: "Crossfit" has its own row (Sports facilities), so the
        # list's second concept "Cross Fit", under HIIT under Group Exercise (Sports coaching), does
        # not make "crossfit" a Sports coaching name as well.
        explicit: dict[str, str] = {}
        for e, labels in lent_labels.items():
            for phrase, inherited in labels:
                if not inherited:
                    explicit.setdefault(_joined(" ".join(tokens(phrase))), e)
        # keyword (stemmed unigram or bigram) -> {esd_id: weight}
        index: dict[str, dict[str, float]] = defaultdict(dict)
        own: set[tuple[str, str]] = set()   # (keyword, type) pairs from the type's own label/synonyms/description
        entire: set[tuple[str, str]] = set()   # (word, type) pairs where the word is a whole label or synonym

        def add(kw: str, esd_id: str, weight: float, is_own: bool = True, whole_phrase: bool = False) -> None:
            index[kw][esd_id] = max(index[kw].get(esd_id, 0), weight)
            if is_own:
                own.add((kw, esd_id))
            if whole_phrase:
                entire.add((kw, esd_id))
            if " " in kw:
                # Compounds are written both ways ("Body Pump" / "Bodypump", "Aqua Fit" / "Aquafit"):
                # a two-word keyword is also found written as one word.
                joined = kw.replace(" ", "")
                index[joined][esd_id] = max(index[joined].get(esd_id, 0), weight)

        for t in self.types.values():
            toks = tokens(t.label)
            for kw in _grams(toks):
                add(kw, t.esd_id, W_LABEL, whole_phrase=len(toks) == 1)
            # The list's own earlier names for the type are synonyms too; like a lent vocabulary they
            # do not count towards the keyword mass (a type is not penalised for having been renamed).
            for phrases, is_own in ((synonyms.get(t.esd_id, []), True), (t.former_labels, False)):
                for phrase in phrases:
                    toks = tokens(phrase)
                    for kw in _grams(toks):
                        whole = len(toks) == 1 or " " in kw
                        add(kw, t.esd_id, W_SYNONYM if whole else W_SYNONYM_PART, is_own=is_own,
                            whole_phrase=len(toks) == 1)
            if use_descriptions:
                for kw in set(tokens(t.description)) - GENERIC_WORDS:
                    add(kw, t.esd_id, W_DESCRIPTION)
            for phrase, inherited in lent_labels.get(t.esd_id, []):
                toks = tokens(phrase)
                for kw in _grams(toks):
                    # "Body Pump" names the activity; "body" alone is part of forty labels.
                    whole = len(toks) == 1 or " " in kw
                    if inherited and whole and explicit.get(_joined(kw), t.esd_id) != t.esd_id:
                        continue
                    add(kw, t.esd_id, W_VOCABULARY if whole else W_VOCABULARY_PART, is_own=False,
                        whole_phrase=len(toks) == 1)
        n = max(len(self.types), 1)
        self.idf = {kw: math.log(1 + n / len(posting)) for kw, posting in index.items()}
        # Types with many keywords would win on volume alone: scores are divided by the square root
        # of the type's keyword mass (measured: +5 points top-1 on the held-out LGA list). A lent
        # vocabulary does not count towards the mass: one esd type standing for 300 activities
        # should not be penalised for it.
        mass: dict[str, float] = defaultdict(float)
        for kw, esd_id in own:
            mass[esd_id] += (index[kw][esd_id] * self.idf[kw]) ** 2
        self.norm = {esd_id: max(m, 1.0) ** (NORM_ALPHA / 2) for esd_id, m in mass.items()}
        self.index = index
        # What predict() adds up: keyword weight x IDF, already divided by the type's norm (x10 to keep
        # scores readable), so a prediction is one pass over the postings of the words it contains.
        self.scaled = {kw: {e: w * self.idf[kw] * 10 / self.norm.get(e, 1.0) for e, w in posting.items()}
                       for kw, posting in index.items()}
        # A word read inside a phrase that is a keyword counts only for the types it names on its
        # own ("zumba" in "Zumba Tone" for Zumba), not those it is a fragment of ("body" in "Body
        # Pump" for "CRB Registered Body"); see _grams_of.
        self.scaled_entire = {kw: {e: w for e, w in posting.items() if (kw, e) in entire}
                              for kw, posting in self.scaled.items() if " " not in kw}
        self.words = sorted(kw for kw in index if " " not in kw)       # for abbreviations, by prefix
        self.vocabulary: dict[str, list[str]] = defaultdict(list)     # fuzzy candidates by first letter
        for kw in index:
            if " " not in kw and len(kw) >= 5:
                self.vocabulary[kw[0]].append(kw)
        self._fuzzy_cache: dict[str, tuple[str, float] | None] = {}

    def _fuzzy(self, token: str) -> tuple[str, float] | None:
        if token in self._fuzzy_cache:
            return self._fuzzy_cache[token]
        hit = None
        # Misspellings rarely change the first letter ("Synrgy", "Bereavment"); requiring it keeps
        # real words that merely look alike apart ("repetition" is not "petition").
        candidates = self.vocabulary.get(token[:1])
        if len(token) >= 5 and candidates:
            best = process.extractOne(token, candidates, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
            if best:
                hit = (best[0], best[1] / 100.0)
        self._fuzzy_cache[token] = hit
        return hit

    def _abbreviation(self, token: str) -> tuple[str, float] | None:
        """The keyword a name's cut-short word abbreviates ("Badmin" -> badminton), or None.

        Booking systems cut session names to fit ("Badmin Disab Session", "Group Induct"). A word of
        five letters or more that is not a keyword is read as the start of one when the keywords it
        starts all share one stem (the shortest); weighted by how much of that keyword it spells.
        """
        key = ("abbr", token)
        if key in self._fuzzy_cache:
            return self._fuzzy_cache[key]
        hit = None
        if len(token) >= 5:
            at = bisect.bisect_right(self.words, token)
            longer = list(itertools.takewhile(lambda w: w.startswith(token), self.words[at:at + 50]))
            if longer and all(w.startswith(longer[0]) for w in longer):
                hit = (longer[0], len(token) / len(longer[0]))
        self._fuzzy_cache[key] = hit
        return hit

    def _grams_of(self, toks: list[str]) -> list[tuple[str, bool]]:
        """The words and two-word phrases of one field, as (keyword, inside a known phrase).

        A word inside a phrase that is itself a keyword ("body pump", "table tennis", "walking
        football") counts only where it is a whole label or synonym by itself: the phrase names one
        thing, and its words read apart point elsewhere ("body" to "CRB Registered Body", "walking"
        to walking groups).
        """
        pairs = [f"{a} {b}" for a, b in zip(toks, toks[1:])]
        known = [p in self.scaled or p.replace(" ", "") in self.scaled for p in pairs]
        in_phrase = {j for i, hit in enumerate(known) if hit for j in (i, i + 1)}
        return ([(t, i in in_phrase or t in GENERIC_WORDS) for i, t in enumerate(toks)]
                + [(p, False) for p, hit in zip(pairs, known) if hit])

    def predict(self, name: str | None, description: str | None, top: int = 3) -> list[Prediction]:
        weights: dict[str, float] = {}
        counts: dict[str, int] = defaultdict(int)
        free: set[str] = set()        # keywords read at least once outside a known phrase
        # One sense per text: a word the name uses inside a known phrase ("body" in "Body Pump") is
        # taken to mean the same in the description ("a complete body workout"), where it adds
        # nothing: not a vote for an unrelated label ("CRB Registered Body"), nor a second one for
        # the broader concept the phrase already names ("cycling" in a "Group Cycle" description).
        name_senses: set[str] = set()
        name_words: set[str] = set()       # abbreviations are read in names only
        for field_weight, text in ((W_NAME, name), (W_TEXT, description)):
            grams = self._grams_of(tokens(text))
            for kw, in_phrase in grams:
                if kw in name_senses:
                    continue
                counts[kw] += 1
                weights[kw] = max(weights.get(kw, 0), field_weight)
                if not in_phrase:
                    free.add(kw)
            if field_weight == W_NAME:
                name_senses = {kw for kw, in_phrase in grams if in_phrase and " " not in kw}
                name_words = {kw for kw, _ in grams}
        # A word the text repeats is likelier its subject; saturating (BM25-style), so ten mentions
        # count little more than three.
        for kw, n in counts.items():
            weights[kw] *= n * (TF_K + 1) / (n + TF_K)
        scores: dict[str, float] = defaultdict(float)
        hits: list[tuple[str, dict[str, float]]] = []          # (keyword as shown, its scaled posting)
        for kw, fw in weights.items():
            posting, shown, factor = (self.scaled if kw in free else self.scaled_entire).get(kw), kw, 1.0
            if kw not in free:
                pass                                                # a word of a known phrase: no fuzzy guess
            elif posting is None and " " in kw:
                posting = self.scaled.get(kw.replace(" ", ""))     # "body pump" written "Bodypump"
            elif posting is None:
                fuzzy = (kw in name_words and self._abbreviation(kw)) or self._fuzzy(kw)
                if fuzzy:
                    factor, posting = fuzzy[1], self.scaled[fuzzy[0]]
                    shown = f"{kw}~{fuzzy[0]}"
            if not posting:
                continue
            hits.append((shown, posting))
            f = fw * factor
            for esd_id, w in posting.items():
                scores[esd_id] += f * w
        if not scores:
            return []
        # Only the best few are sorted: a long description touches hundreds of types.
        floor = heapq.nlargest(top, scores.values())[-1]
        ranked = sorted(((e, v) for e, v in scores.items() if v >= floor), key=lambda kv: (-kv[1], kv[0]))[:top]
        total_top = sum(s for _, s in ranked)
        out = []
        for esd_id, score in ranked:
            # Confidence: the share of the top candidates' score, damped when the evidence is thin.
            confidence = (score / total_top) * (1 - math.exp(-score / 10))
            matched = {shown for shown, posting in hits if esd_id in posting}
            kws = sorted(matched, key=lambda k: -self.idf.get(k.split("~")[-1], 0))[:8]
            out.append(Prediction(esd_id, self.types[esd_id].label, round(score, 3), round(confidence, 3), kws))
        return out


def _joined(keyword: str) -> str:
    return keyword.replace(" ", "")


def _grams(toks: list[str]) -> set[str]:
    """The keywords of a label or synonym: its words and two-word phrases (a generic word only when
    it is the whole phrase)."""
    words = set(toks) if len(toks) == 1 else set(toks) - GENERIC_WORDS
    return words | {f"{a} {b}" for a, b in zip(toks, toks[1:])}


# ---------------------------------------------------------------- controlled vocabularies as keywords

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
    for table in _term_tables(con):
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


# ---------------------------------------------------------------- classifying the catalogue

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
             AND a.id NOT LIKE 'esd-%'
        LEFT JOIN catalogue.taxonomy_term t ON t.id = a.taxonomy_term_id
        LEFT JOIN catalogue.taxonomy tx ON tx.id = t.taxonomy_id
        GROUP BY s.id, s.name, s.description ORDER BY s.id
    """).fetchall()
    return [ServiceTerms(sid, name or "", desc or "",
                         [(t["uri"], t["term"], t["name"], t["taxonomy"]) for t in (terms or [])],
                         [broader.get(t["uri"] or "", []) for t in (terms or [])])
            for sid, name, desc, terms in rows]


def _term_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    # The catalogue keeps only the terms services point at; the build's staging tables still hold
    # the broader concepts the connector wrote as their parents, so both are read.
    return [f"{schema}.taxonomy_term" for schema in ("catalogue", "staging") if _table_exists(con, schema, "taxonomy_term")]


def _broader_terms(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str | None, str | None]]]:
    """term URI -> its broader terms as (term_uri, name), nearest first, at most 8 levels up."""
    parent_of: dict[str, tuple[str, str | None]] = {}
    for table in _term_tables(con):
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
        frame = pd.DataFrame([c.__dict__ for c in results])
        con.register("classified", frame)
        try:
            con.execute("INSERT INTO catalogue.service_type SELECT service_id, esd_id, label, method, confidence, rank, "
                        "keywords::VARCHAR[] FROM classified")
        finally:
            con.unregister("classified")
    write_oruk_terms(con, results)
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
    con.execute("DELETE FROM catalogue.attribute WHERE value IN ('mapped', 'inferred') AND id LIKE 'esd-%'")
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
    frame = pd.DataFrame([(f"esd-{uuid.uuid5(NS, c.service_id + '/' + c.esd_id)}", c.service_id, _term_id(c.esd_id),
                           c.method) for c in added], columns=["id", "link_id", "taxonomy_term_id", "value"])
    con.register("esd_attributes", frame)
    try:
        con.execute("INSERT INTO catalogue.attribute (id, link_id, taxonomy_term_id, link_type, link_entity, value) "
                    "SELECT id, link_id, taxonomy_term_id, 'service', 'service', value FROM esd_attributes")
    finally:
        con.unregister("esd_attributes")


def _term_id(esd_id: str) -> str:
    return str(uuid.uuid5(NS, ESD_URI.format(esd_id)))


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                            "AND schema_name = ? AND table_name = ?", [schema, table]).fetchone()[0])
