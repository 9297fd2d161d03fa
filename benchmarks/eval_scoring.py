"""Scores of a clustering against a labelled set, and its errors put in the classes of issue 17.

Pairwise precision / recall / F1 and the hard-negative count follow ``../shared/eval/score.py``
exactly (pairs are unordered within-cluster record pairs over the records in truth; a truth record
missing from the predictions is a singleton; prediction rows for records not in truth are ignored;
a repeated row: the last one wins). B-cubed is the usual per-record average.

Error classes (a pair can be in more than one; "none of these" otherwise). Wrong merges, a pair of
records of two different services put in one cluster:

1. ``qualifier``: the names share a word and differ by one or two words on a side that are not the
   organisation's, venue's or town's text, nor a spelling variant (Junior / Senior Youth Club,
   Debt / Housing Advice, IMCA / IMHA);
2. ``branches``: both have a venue, the venues differ, and they share a phone or a web host;
3. ``generic_name``: the same name (up to spelling, case and organisation / venue text), venues
   that differ, and no phone or web host in common;
4. ``no_venue``: a record without postcode, address or coordinates.

Missed pairs, two records of one service in different clusters:

5. ``org_venue_in_name``: one name carries extra words, all from either record's organisation,
   venue or town ("Org: Service", "Service (Org)", "Service at Venue", "Venue - Service");
6. ``abbreviation_typo``: the names match only through an abbreviation (Jnr, Grp, Ctr, Assoc.), an
   initialism (UC), a word split or joined, or a one-letter typo (transposed, doubled, dropped);
7. ``brand_prefix``: one name is the other with words in front that are not organisation, venue or
   town text;
8. ``same_source``: both records come from one source.

What no class takes is split further: wrong merges at one place with the same or other names,
elsewhere ("none of these"); missed pairs with the same name, or with other names.

The rules read only what the records say (``labelled_set.Facts``), never the matcher's features.
"""
from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

from rapidfuzz.distance import OSA

from benchmarks.labelled_set import Facts, Key, plain

MERGE_CLASSES = {"qualifier": "1 siblings differing by a qualifier word",
                 "branches": "2 branches at other venues sharing phone/website",
                 "generic_name": "3 generic name in different places",
                 "no_venue": "4 a record with no venue"}
MISS_CLASSES = {"org_venue_in_name": "5 organisation/venue text in one name",
                "abbreviation_typo": "6 abbreviation or typo",
                "brand_prefix": "7 brand prefix",
                "same_source": "8 duplicate inside one source"}
UNCLASSIFIED = "none of these"
# What is left, split so that the remainder says something too (not classes of issue 17).
EXTRA_MERGE = {"same_place_same_name": "none; same name, same place",
               "same_place_other_name": "none; other names, same place"}
EXTRA_MISS = {"same_name": "none; the same words (up to case and punctuation)",
              "other_name": "none; other names (synonyms, reworded)"}

# Joining words that carry nothing when two names are compared ("Service at Venue", "X and Y").
CONNECTIVES = frozenset({"the", "at", "and", "of", "for", "in", "a", "an", "with", "on", "by", "to"})
# Venues further apart than this are different places even when a postcode is missing.
SAME_PLACE_METRES = 250.0


# -- scores ---------------------------------------------------------------------------------------

def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def clusters_over_truth(truth: dict[Key, str], predicted: dict[Key, str]) -> dict[object, list[Key]]:
    """Predicted clusters restricted to the records in truth; a missing record is a singleton."""
    clusters: dict[object, list[Key]] = defaultdict(list)
    for k in truth:
        c = predicted.get(k)
        clusters[("__singleton__", k) if c is None else c].append(k)
    return clusters


def pairwise(truth: dict[Key, str], clusters: dict[object, list[Key]]) -> dict:
    true_pairs = sum(_pairs(n) for n in Counter(truth.values()).values())
    pred_pairs = sum(_pairs(len(m)) for m in clusters.values())
    tp = sum(_pairs(n) for m in clusters.values() if len(m) > 1 for n in Counter(truth[k] for k in m).values())
    p = tp / pred_pairs if pred_pairs else 1.0
    r = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f1, "tp": tp, "fp": pred_pairs - tp, "fn": true_pairs - tp,
            "true_pairs": true_pairs, "predicted_pairs": pred_pairs}


def bcubed(truth: dict[Key, str], clusters: dict[object, list[Key]]) -> dict:
    """Per record: precision = |its cluster ∩ its entity| / |its cluster|, recall = … / |its entity|; averaged."""
    entity_size = Counter(truth.values())
    p_sum = r_sum = 0.0
    for members in clusters.values():
        per_entity = Counter(truth[k] for k in members)
        for e, n in per_entity.items():
            p_sum += n * n / len(members)
            r_sum += n * n / entity_size[e]
    n = len(truth)
    p, r = (p_sum / n, r_sum / n) if n else (1.0, 1.0)
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def hard_negatives_merged(truth: dict[Key, str], clusters: dict[object, list[Key]],
                          hard: dict[str, dict[str, str]]) -> dict:
    """Record pairs of two entities listed as hard negatives put in one cluster, by reason (as score.py)."""
    by_reason: Counter = Counter()
    entity_pairs = 0
    for members in clusters.values():
        cnt = Counter(truth[k] for k in members)
        if len(cnt) < 2:
            continue
        ents = sorted(cnt)
        for i, ea in enumerate(ents):
            for eb in ents[i + 1:]:
                reason = hard.get(ea, {}).get(eb)
                if reason:
                    entity_pairs += 1
                    by_reason[reason] += cnt[ea] * cnt[eb]
    return {"pairs": sum(by_reason.values()), "entity_pairs": entity_pairs, "by_reason": dict(sorted(by_reason.items()))}


# -- comparing two names -----------------------------------------------------------------------------

def tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9+]+", plain(text).replace("&", " and "))


def _is_doubling(a: str, b: str) -> bool:
    """One letter written twice ("netbball", "caard")."""
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return len(longer) == len(shorter) + 1 and any(
        longer[i] == longer[i - 1] and longer[:i] + longer[i + 1:] == shorter for i in range(1, len(longer)))


def _is_abbreviation(short: str, long: str) -> bool:
    """Jnr/junior, grp/group, gp/grp, ctr/centre, assoc/association, st/saint: same first letter, in order, shorter."""
    if len(short) < 2 or len(long) <= len(short) or short[0] != long[0] or short.isdigit():
        return False
    it = iter(long)
    return all(ch in it for ch in short)


def spelling_variant(a: str, b: str) -> bool:
    """Two different words that are one word written two ways: an abbreviation, or a typo (one edit
    for words of five letters or more, two from eight; a transposition or a doubled letter from four).
    Four-letter words one substitution apart (IMCA / IMHA, debt / dent) are different words."""
    if a == b:
        return False
    if _is_abbreviation(a, b) or _is_abbreviation(b, a):
        return True
    shortest = min(len(a), len(b))
    d = OSA.distance(a, b)
    if (shortest >= 5 and d <= 1) or (shortest >= 8 and d <= 2):
        return True
    return shortest >= 4 and d == 1 and (sorted(a) == sorted(b) or _is_doubling(a, b))


def loosely_same_word(a: str, b: str) -> bool:
    """For "is this word the organisation's or venue's text": any spelling variant, or one edit at four letters."""
    return a == b or spelling_variant(a, b) or (min(len(a), len(b)) >= 4 and OSA.distance(a, b) <= 1)


@dataclass
class NameDiff:
    shared: list[str]           # words on both sides (exactly or as a variant), joining words dropped
    extra_a: list[str]          # words of a with nothing on b's side (joining words dropped)
    extra_b: list[str]
    variant: bool               # a spelling variant, an initialism or a split/joined word was needed
    prefix_a: bool              # a's extra words all come before its shared words
    prefix_b: bool

    @property
    def same(self) -> bool:
        return not self.extra_a and not self.extra_b


def _leading(words: list[str], extra: list[str]) -> bool:
    n = len(extra)
    return 0 < n < len(words) and Counter(words[:n]) == Counter(extra)


def compare_words(ta: list[str], tb: list[str]) -> NameDiff:
    ta = [w for w in ta if w not in CONNECTIVES]
    tb = [w for w in tb if w not in CONNECTIVES]
    ja, jb = "".join(ta), "".join(tb)
    # A space moved, added or dropped ("Ove r50s Swiim" / "Over 50s Swim", "Drop in" / "Dropin"), with
    # at most one more slip; words of the same lengths one letter apart (IMCA / IMHA) are not this.
    if ta != tb and (ja == jb or (min(len(ja), len(jb)) >= 8 and sorted(map(len, ta)) != sorted(map(len, tb))
                                  and OSA.distance(ja, jb) <= 1)):
        return NameDiff(ta, [], [], True, False, False)
    left, right = Counter(ta), Counter(tb)
    common = left & right
    shared = list(common.elements())
    extra_a = list((left - common).elements())
    extra_b = list((right - common).elements())
    variant = False
    for w in list(extra_a):
        match = next((v for v in extra_b if spelling_variant(w, v)), None)
        if match is not None:
            extra_a.remove(w)
            extra_b.remove(match)
            shared.append(w)
            variant = True
    # An initialism on one side for a run of words on the other (UC / Universal Credit).
    for xs, ys in ((extra_a, extra_b), (extra_b, extra_a)):
        for w in list(xs):
            if len(w) >= 2 and len(ys) >= len(w) and "".join(y[0] for y in ys[: len(w)]) == w:
                xs.remove(w)
                del ys[: len(w)]
                shared.append(w)
                variant = True
    return NameDiff(shared, extra_a, extra_b, variant, _leading(ta, extra_a), _leading(tb, extra_b))


def compare_names(a: str, b: str) -> NameDiff:
    return compare_words(tokens(a), tokens(b))


# -- organisation, venue and town text in a name -----------------------------------------------------

def _same_words(run: list[str], phrase: list[str]) -> bool:
    return len(run) <= len(phrase) and all(loosely_same_word(w, p) for w, p in zip(run, phrase))


def _cut(words: list[str], phrases: list[list[str]], front: bool) -> tuple[list[str], list[str]] | None:
    """(the name without it, the phrase) for the longest run at the name's front (or back) that is
    context text: a whole phrase (an organisation, venue or town), or its first two words or more
    ("Rhymetime at St Barnabas" with the venue "St Barnabas Church"). None when there is none; at
    least one word is always left."""
    for k in range(len(words) - 1, 0, -1):
        run = words[:k] if front else words[len(words) - k:]
        for p in phrases:
            if (k >= 2 or k == len(p)) and _same_words(run, p):
                return (words[k:] if front else words[: len(words) - k]), p
    return None


def name_core(name: str, *records: Facts) -> list[str]:
    """A name's words with the organisation's, venue's and town's text taken off its front and back
    ("Org: Service", "Org - Service", "Service (Org)", "Service at Venue", "Venue - Service"). A name that is all such text (a service named after its venue) stays whole."""
    phrases = []
    for r in records:
        for text in (r.org, r.venue, r.town):
            p = [w for w in tokens(text) if w not in CONNECTIVES]
            if p and p not in phrases:
                phrases.append(p)
    words = [w for w in tokens(name) if w not in CONNECTIVES]
    if any(len(words) == len(p) and _same_words(words, p) for p in phrases):
        return words
    while (cut := _cut(words, phrases, front=True) or _cut(words, phrases, front=False)) is not None:
        words = cut[0]
    return words


# -- places ----------------------------------------------------------------------------------------

def metres(a: Facts, b: Facts) -> float | None:
    if None in (a.lat, a.lon, b.lat, b.lon):
        return None
    dlat = math.radians(b.lat - a.lat)
    dlon = math.radians(b.lon - a.lon) * math.cos(math.radians((a.lat + b.lat) / 2))
    return 6_371_000 * math.hypot(dlat, dlon)


def different_places(a: Facts, b: Facts) -> bool:
    """Both have a venue and it is not the same one: the street address differs and the venues are
    far apart (or, without coordinates, their postcodes differ)."""
    if not (a.has_venue and b.has_venue):
        return False
    if a.address.strip() and tokens(a.address) == tokens(b.address) and plain(a.town) == plain(b.town):
        return False
    d = metres(a, b)
    if d is not None:
        return d > SAME_PLACE_METRES
    if a.postcode and b.postcode:
        return a.postcode != b.postcode
    return plain(a.town) != plain(b.town) if a.town and b.town else tokens(a.address) != tokens(b.address)


# -- classes ---------------------------------------------------------------------------------------

def merge_classes(a: Facts, b: Facts) -> list[str]:
    """Why two records of different services may have been merged (issue 17, classes 1-4); when
    none applies, which of the remaining kinds it is."""
    out = []
    core = compare_words(name_core(a.name, a, b), name_core(b.name, a, b))
    if core.shared and not core.same and len(core.extra_a) <= 2 and len(core.extra_b) <= 2:
        out.append("qualifier")
    elsewhere = different_places(a, b)
    shares_contact = bool(a.phones & b.phones or a.web_hosts & b.web_hosts)
    if elsewhere and shares_contact:
        out.append("branches")
    if elsewhere and not shares_contact and core.same:
        out.append("generic_name")
    if not (a.has_venue and b.has_venue):
        out.append("no_venue")
    if out:
        return out
    if not elsewhere:
        return ["same_place_same_name" if core.same else "same_place_other_name"]
    return [UNCLASSIFIED]


def context_words(*records: Facts) -> set[str]:
    """The words of the records' organisations, venues and towns."""
    return {w for r in records for text in (r.org, r.venue, r.town) for w in tokens(text) if w not in CONNECTIVES}


def _all_context(words: list[str], context: set[str]) -> bool:
    return bool(words) and all(any(loosely_same_word(w, c) for c in context) for w in words)


def miss_classes(a: Facts, b: Facts) -> list[str]:
    """Why two records of one service may have been kept apart (issue 17, classes 5-8); when none
    applies, whether the names were the same anyway. The names' words are compared whole: the words
    one name has and the other lacks are organisation/venue text (5) when each is a word of either
    record's organisation, venue or town, a brand prefix (7) when they lead one name only and are not."""
    out = []
    diff = compare_names(a.name, b.name)
    ctx = context_words(a, b)
    extras = [(w, lead) for w, lead in ((diff.extra_a, diff.prefix_a), (diff.extra_b, diff.prefix_b)) if w]
    if extras and all(_all_context(w, ctx) for w, _ in extras):
        out.append("org_venue_in_name")
    if diff.variant:
        out.append("abbreviation_typo")
    if len(extras) == 1 and extras[0][1] and not _all_context(extras[0][0], ctx):
        out.append("brand_prefix")
    if a.source_id == b.source_id:
        out.append("same_source")
    if out:
        return out
    return ["same_name" if not extras else "other_name"]


def error_pairs(truth: dict[Key, str], clusters: dict[object, list[Key]], max_cluster: int = 400):
    """(wrong merges, missed pairs) as lists of record-key pairs. Clusters over ``max_cluster``
    records are counted in the scores but only their first ``max_cluster`` records are listed here."""
    wrong = []
    for members in clusters.values():
        m = sorted(members)[:max_cluster]
        for i, ka in enumerate(m):
            for kb in m[i + 1:]:
                if truth[ka] != truth[kb]:
                    wrong.append((ka, kb))
    where = {k: c for c, members in clusters.items() for k in members}
    by_entity: dict[str, list[Key]] = defaultdict(list)
    for k, e in truth.items():
        by_entity[e].append(k)
    missed = []
    for members in by_entity.values():
        m = sorted(members)
        for i, ka in enumerate(m):
            for kb in m[i + 1:]:
                if where[ka] != where[kb]:
                    missed.append((ka, kb))
    return wrong, missed


def attribute(pairs: list[tuple[Key, Key]], facts: dict[Key, Facts], classify, examples: int = 4) -> dict:
    """Count per class (a pair may be in several) with a few examples of each, in a stable order."""
    counts: Counter = Counter()
    shown: dict[str, list[dict]] = defaultdict(list)
    for ka, kb in sorted(pairs):
        a, b = facts.get(ka), facts.get(kb)
        if a is None or b is None:
            counts["record not in the set's files"] += 1
            continue
        for cls in classify(a, b):
            counts[cls] += 1
            if len(shown[cls]) < examples:
                shown[cls].append({"a": _show(a), "b": _show(b), "records": [f"{ka[0]}/{ka[1]}", f"{kb[0]}/{kb[1]}"]})
    return {"pairs": len(pairs), "by_class": dict(counts), "examples": dict(shown)}


def _show(f: Facts) -> str:
    where = f.postcode or (f.town if f.town else "no venue")
    return f"{f.name!r} ({f.source_id}/{f.record_id}; org {f.org!r}; {where})"
