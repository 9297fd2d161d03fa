"""The keyword classifier: a service's name and description to LGA service types, by stemmed
keywords, synonyms and fuzzy matches, weighted as declared below (with the measured reasons).
"""
from __future__ import annotations

import bisect
import csv
import functools
import heapq
import itertools
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from rapidfuzz import fuzz, process

from warehouse.taxonomy.lga import DEFAULT_KEYWORDS, ServiceType

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
# Words in a service's name count more than words in its description.
W_NAME, W_TEXT = 2.0, 1.0
# Labels lent by a mapped vocabulary (activity list concepts) name the thing as surely as a synonym.
W_VOCABULARY = 3.0


# ... but a single word out of a longer lent label ("fit" in "Active Fit", "Cheer Fitness", ...) only hints.
W_VOCABULARY_PART = 1.0


# The same for a word out of a hand-written synonym ("low" in "low mood", "loss" in "loss of a loved
# one"). The LGA labels' own words keep their weight: the list's labels are short, and their words
# are what the list says the type is about (measured: lowering them costs the LGA-list proxy 3 points).
W_SYNONYM_PART = 1.0


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
