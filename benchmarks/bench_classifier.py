"""How well does the inferred classifier agree with publishers' own LGA (esd) tags?

    .venv/bin/python benchmarks/bench_classifier.py [--feed FILE_OR_DIR ...] [--lga-list CSV] [--speed N] [--show-misses N]

For every service a publisher tagged with esd service types, the tags are hidden, the service is
classified from its name and description alone, and the prediction is compared with the tags:
top-1 = the best guess is one of the publisher's types; top-3 = one of the three best is.

Evaluation sets (each reported separately, with its size):
1. ``--feed``: ORUK v1 pages (``service_taxonomys``) or v3 services (``attributes``) that carry esd
   service types, e.g. a council's live feed saved to disk. ../shared has none with esd tags (the
   Bristol v1 page's services carry no taxonomy at all), so pass one when you have it.
2. The bundled demo feeds (pipelines/sample/feeds, invented but tagged by their "publishers") with
   the demo LGA list.
3. The LGA list itself, held out: each type's published description is classified by an index
   built from labels and synonyms only (descriptions left out), so the text is unseen. A proxy:
   nobody tagged these, the list describes itself.
4. Real publisher tags: the OpenActive RPDE pages and items in ../shared (Everyone Active, Active
   Newham, Playwaze, ...). Each publisher tagged its sessions with OpenActive activity concepts;
   the tags are hidden and the session is classified from its name and description, then compared
   (a) with the LGA types its activities map to through warehouse/data/esd_mapping.csv (nearest
   mapped broader concept), and (b) with the activity concept itself (a fine-grained test: 768
   concepts). Each distinct (name, description) counts once, so a session repeated on many days
   does not inflate the figures; a pair tagged differently in different items keeps the union.
   Keywords come from vocabularies only: the LGA list's labels, earlier names and descriptions, the
   hand-written synonyms, and the activity list's prefLabels/altLabels lent to esd types through the
   mapping. Known limit: Active Newham tags group-exercise classes (Body Pump, Body Balance, Grit,
   Synergy; 21 texts) "Gym Workout" (-> Sports facilities) where Everyone Active tags the same
   classes with their own concepts (-> Sports coaching), and its "Group Induction(s)" (14 texts)
   name no activity at all, so about 35 of Newham's 173 texts cannot be right from the text alone.

Development and held-out halves: classifier rules are tuned on the development half only, and the
held-out half says whether they carry over. For the OpenActive sets the split is by publisher:
development = Active Newham (the largest feed, 173 of 226 texts, and the one with the known
failures), held out = every other publisher (Everyone Active, Playwaze, GoTeamUp, ...). For the
LGA-list proxy it is by identifier: even esd ids are development, odd ids held out. Both halves are
printed after the whole set (``dev`` / ``held``).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from connectors.openactive.activities import load_activity_list  # noqa: E402
from warehouse import vocab  # noqa: E402
from warehouse.taxonomy.keywords import KeywordClassifier, load_keywords_csv, tokens  # noqa: E402
from warehouse.taxonomy.lga import DEFAULT_MAPPING, Mapper, load_lga_services_csv, load_mapping_csv  # noqa: E402
from warehouse.taxonomy.vocabularies import (ancestors, concept_classifier, concepts_from_activity_list,  # noqa: E402
                                             vocabulary_keywords)

SHARED = REPO.parent / "shared" / "fixtures"
LGA_2015 = SHARED / "oruk" / "taxonomies" / "lga_esd_services_list_v4.csv"
DEMO_LIST = REPO / "pipelines" / "sample" / "reference" / "lga_services.csv"
OPENACTIVE = SHARED / "openactive"
ACTIVITY_LIST = OPENACTIVE / "vocabularies" / "activity-list.jsonld"
# The development half of the OpenActive sets (see the module docstring); all others are held out.
DEVELOPMENT_PUBLISHERS = frozenset({"activenewham"})


def is_development_type(esd_id: str) -> bool:
    """The LGA-list proxy's development half: even esd ids."""
    return int(esd_id) % 2 == 0


def tagged_services(paths: list[Path]) -> list[tuple[str, str, set[str]]]:
    """(name, description, esd ids) for every service with esd service-type tags in these files."""
    out = []
    files = [f for p in paths for f in (sorted(p.rglob("*.json")) if p.is_dir() else [p])]
    for f in files:
        data = json.loads(f.read_text(encoding="utf-8", errors="replace"), strict=False)
        items = data.get("content") or data.get("contents") or data.get("items") if isinstance(data, dict) else data
        for svc in items or []:
            ids = set()
            for st in svc.get("service_taxonomys") or svc.get("service_taxonomies") or []:
                tax = st.get("taxonomy") or {}
                term = vocab.canonical_term(str(tax.get("id", "")), tax.get("vocabulary"))
                if term and term.list == "service":
                    ids.add(term.code)
            for attr in svc.get("attributes") or []:
                t = attr.get("taxonomy_term") or {}
                term = vocab.canonical_term(t.get("term_uri") or t.get("term") or "", t.get("taxonomy"))
                if term and term.list == "service":
                    ids.add(term.code)
            if ids:
                out.append((svc.get("name") or "", svc.get("description") or "", ids))
    return out



# ---------------------------------------------------------------- OpenActive: real publisher tags

def _as_list(v):
    return v if isinstance(v, list) else ([] if v is None else [v])


def _opportunities(obj, inherited=None):
    """Every opportunity object in an RPDE item's data: itself, embedded sub/super events, and the
    name/description/activity it inherits from an embedded superEvent when it lacks its own."""
    if not isinstance(obj, dict):
        return
    sup = obj.get("superEvent") if isinstance(obj.get("superEvent"), dict) else None
    base = {**(inherited or {})}
    for parent in (sup,):
        if parent:
            for k in ("name", "description", "activity"):
                base.setdefault(k, parent.get(k))
    merged = {k: obj.get(k) or base.get(k) for k in ("name", "description", "activity")}
    yield merged
    for sub in _as_list(obj.get("subEvent")):
        if isinstance(sub, dict) and (sub.get("name") or sub.get("activity")):
            yield from _opportunities(sub, merged)


def _rpde_data(path: Path):
    doc = json.loads(path.read_text(encoding="utf-8"))
    items = doc.get("items") if isinstance(doc, dict) and "items" in doc else _as_list(doc)
    for item in items:
        if not isinstance(item, dict) or item.get("state") == "deleted":
            continue
        yield item.get("data") if isinstance(item.get("data"), dict) else item


def openactive_cases(activity_list, mapper: Mapper, concept_ancestors):
    """Distinct (name, description) with the publisher's activity concepts and their mapped esd types.

    Returns (cases, counts): cases are dicts with name, description, publisher, concepts (URIs)
    and esd (ids); counts say how many opportunities were read and why any were left out.
    """
    counts = {"opportunities": 0, "no_name": 0, "no_activity": 0, "activity_not_in_list": 0}
    by_text: dict[tuple[str, str], dict] = {}
    files = sorted((OPENACTIVE / "rpde-pages").glob("*.json")) + sorted((OPENACTIVE / "items").glob("*.json"))
    for f in files:
        publisher = f.stem.split("-")[0] if f.parent.name == "rpde-pages" else f.stem.split("-")[1]
        for data in _rpde_data(f):
            for opp in _opportunities(data):
                counts["opportunities"] += 1
                name = opp["name"] if isinstance(opp["name"], str) else " ".join(map(str, _as_list(opp["name"])))
                desc = opp["description"] if isinstance(opp["description"], str) else ""
                if not name.strip():
                    counts["no_name"] += 1
                    continue
                if not opp["activity"]:
                    counts["no_activity"] += 1
                    continue
                concepts = [c for c in (activity_list.lookup(a) for a in _as_list(opp["activity"])) if c]
                if not concepts:
                    counts["activity_not_in_list"] += 1
                    continue
                case = by_text.setdefault((name.strip(), desc.strip()), {
                    "name": name.strip(), "description": desc.strip(), "publisher": publisher,
                    "concepts": set(), "esd": set()})
                for c in concepts:
                    case["concepts"].add(c.id)
                    rows, _ = mapper.lookup_concept(c.id, c.label, concept_ancestors(c.id))
                    case["esd"].update(r.esd_id for r in rows)
    return list(by_text.values()), counts


def collapse(cases):
    """Merge cases whose text is the same to the classifier ("Body Pump Mon 6pm" / "Body Pump Sat
    10.30am": days, times and stop words aside), keeping the union of their tags."""
    merged: dict[tuple[str, str], dict] = {}
    for c in cases:
        key = (" ".join(tokens(c["name"])), " ".join(tokens(c["description"])))
        m = merged.setdefault(key, {**c, "concepts": set(), "esd": set()})
        m["concepts"] |= c["concepts"]
        m["esd"] |= c["esd"]
    return list(merged.values())


def score(predict, cases, related=None) -> dict:
    """top-1/top-3 agreement; ``related(pred, truth)`` adds a lenient top-1 (e.g. same branch)."""
    top1 = top3 = near1 = 0
    per_case = []
    for name, desc, truth in cases:
        t = time.perf_counter()
        preds = [p.esd_id for p in predict(name, desc)]
        per_case.append(time.perf_counter() - t)
        top1 += bool(preds[:1] and preds[0] in truth)
        top3 += bool(set(preds) & truth)
        if related is not None:
            near1 += bool(preds[:1] and related(preds[0], truth))
    n = max(len(cases), 1)
    out = {"n": len(cases), "top1": top1 / n, "top3": top3 / n,
           "median_ms": 1000 * statistics.median(per_case) if per_case else 0.0}
    if related is not None:
        out["near1"] = near1 / n
    return out


def top3(classifier: KeywordClassifier):
    return lambda name, desc: classifier.predict(name, desc, top=3)


def speed(types, synonyms, mapper: Mapper, n: int, repeats: int = 3) -> None:
    """Throughput of predict() as the nightly job calls it: the full LGA list plus the whole activity
    vocabulary, on generated listings (typos included, so the fuzzy path is exercised). Each repeat
    starts from a fresh classifier, so its fuzzy cache is cold."""
    from gen_services import generate
    frame = generate(max(n // 2, 1), seed=7).head(n)
    texts = [(str(a or ""), "" if b != b or b is None else str(b)) for a, b in zip(frame["name"], frame["description"])]
    vocab = vocabulary_keywords(concepts_from_activity_list(load_activity_list(ACTIVITY_LIST)), mapper) if ACTIVITY_LIST.exists() else {}
    walls, cpus, builds = [], [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        clf = KeywordClassifier(types, synonyms, vocabulary=vocab)
        builds.append(time.perf_counter() - w0)
        w1, c1 = time.perf_counter(), time.process_time()
        for name, desc in texts:
            clf.predict(name, desc, top=3)
        walls.append(time.perf_counter() - w1)
        cpus.append(time.process_time() - c1)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    print(f"speed: {len(texts)} generated services, {len(types)} LGA types, median of {repeats}: "
          f"{len(texts) / wall:,.0f} services/s wall, {len(texts) / cpu:,.0f} services/s CPU "
          f"({wall:.2f} s wall, {cpu:.2f} s CPU; classifier built in {statistics.median(builds):.2f} s); "
          f"1,000,000 services ~ {1e6 / (len(texts) / cpu) / 60:.1f} CPU-minutes on one core")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feed", type=Path, action="append", default=[], help="ORUK JSON file or folder with esd-tagged services")
    ap.add_argument("--lga-list", type=Path, default=LGA_2015, help="the LGA service list CSV (default: the 2015 copy in ../shared)")
    ap.add_argument("--speed", type=int, default=20000,
                    help="classify N generated services (benchmarks/gen_services.py) and print services/s; 0 skips")
    ap.add_argument("--show-misses", type=int, default=0, help="print up to N misses of each OpenActive set")
    ap.add_argument("--misses-from", choices=("dev", "held", "all"), default="dev",
                    help="which half --show-misses looks at (default dev: tune without seeing the held-out half)")
    args = ap.parse_args()
    synonyms = load_keywords_csv()
    mapper = Mapper(load_mapping_csv(DEFAULT_MAPPING))
    rows = []
    types = load_lga_services_csv(args.lga_list) if args.lga_list.exists() else []
    if args.feed:
        rows.append(("publisher-tagged ORUK feed(s) [real]", score(top3(KeywordClassifier(types, synonyms)), tagged_services(args.feed))))
    if DEMO_LIST.exists():
        demo_types = load_lga_services_csv(DEMO_LIST)
        cases = tagged_services([REPO / "pipelines" / "sample" / "feeds"])
        rows.append(("demo feeds, demo list [invented]", score(top3(KeywordClassifier(demo_types, synonyms)), cases)))
    bristol = SHARED / "oruk" / "v1" / "bristol_openplace_v1_services_page1.json"
    if bristol.exists():
        print(f"Bristol v1 page: {len(tagged_services([bristol]))} of its services carry esd service types")
    if types:
        labels_only = KeywordClassifier(types, synonyms, use_descriptions=False)
        cases = [("", t.description, {t.esd_id}) for t in types if len(t.description.split()) >= 8]
        rows.append((f"LGA list held out [proxy]", score(top3(labels_only), cases)))
        for half, want in (("dev", True), ("held", False)):
            rows.append((f"  {half}: {'even' if want else 'odd'} esd ids",
                         score(top3(labels_only), [c for c in cases if is_development_type(next(iter(c[2]))) == want])))
    if types and ACTIVITY_LIST.exists():
        activity_list = load_activity_list(ACTIVITY_LIST)
        concepts = concepts_from_activity_list(activity_list)
        by_id = {c.id: c for c in concepts}
        lineage = {c.id: [a.id for a in ancestors(c, by_id)] for c in concepts}
        oa, counts = openactive_cases(activity_list, mapper,
                                      lambda cid: [(a.id, a.label) for a in ancestors(by_id[cid], by_id)])
        print(f"OpenActive fixtures: {counts['opportunities']} opportunities read; left out: "
              f"{counts['no_name']} without a name, {counts['no_activity']} without an activity tag, "
              f"{counts['activity_not_in_list']} whose tags are not activity-list concepts; "
              f"{len(oa)} distinct (name, description) kept, {sum(bool(c['esd']) for c in oa)} with a mapped LGA type")
        lga_cases = [(c["name"], c["description"], c["esd"]) for c in oa if c["esd"]]
        act_cases = [(c["name"], c["description"], c["concepts"]) for c in oa]
        plain = KeywordClassifier(types, synonyms)
        lent = KeywordClassifier(types, synonyms, vocabulary=vocabulary_keywords(concepts, mapper))
        activities = concept_classifier(concepts)

        def same_branch(pred, truth):
            return any(pred == t or pred in lineage.get(t, ()) or t in lineage.get(pred, ()) for t in truth)

        def halves(cases_of, title, predict, related=None):
            """The whole set, then its development and held-out halves (split by publisher)."""
            rows.append((title, score(predict, cases_of(oa_set), related)))
            for half, want in (("dev", True), ("held", False)):
                part = [c for c in oa_set if (c["publisher"] in DEVELOPMENT_PUBLISHERS) == want]
                who = "Active Newham" if want else "other publishers"
                rows.append((f"  {half}: {who}", score(predict, cases_of(part), related)))

        def lga_of(cs):
            return [(c["name"], c["description"], c["esd"]) for c in cs if c["esd"]]

        def concepts_of(cs):
            return [(c["name"], c["description"], c["concepts"]) for c in cs]

        rows.append(("OA sessions -> LGA type, LGA keywords only [real]", score(top3(plain), lga_cases)))
        oa_set = oa
        halves(lga_of, "OA sessions -> LGA type, + activity vocabulary [real]", top3(lent))
        halves(concepts_of, "OA sessions -> activity concept [real]", top3(activities), same_branch)
        oa_set = collapse(oa)
        halves(lga_of, "same, one per classifier-visible text: LGA type", top3(lent))
        halves(concepts_of, "same, one per classifier-visible text: activity", top3(activities), same_branch)
        for pub in sorted({c["publisher"] for c in oa}):
            sub = [c for c in oa if c["publisher"] == pub]
            sub_lga = [(c["name"], c["description"], c["esd"]) for c in sub if c["esd"]]
            rows.append((f"  {pub}: LGA type (+vocab)", score(top3(lent), sub_lga)))
            rows.append((f"  {pub}: activity concept", score(top3(activities), [(c["name"], c["description"], c["concepts"]) for c in sub], same_branch)))
        if args.show_misses:
            labels = {c.id: c.label for c in concepts}
            tlabels = {t.esd_id: t.label for t in types}
            shown = [c for c in oa if args.misses_from == "all"
                     or (c["publisher"] in DEVELOPMENT_PUBLISHERS) == (args.misses_from == "dev")]
            for title, clf, cases, names in (("LGA", lent, lga_of(shown), tlabels), ("activity", activities, concepts_of(shown), labels)):
                misses = [(n, d, t, clf.predict(n, d, top=3)) for n, d, t in cases]
                misses = [m for m in misses if not (m[3] and m[3][0].esd_id in m[2])][:args.show_misses]
                print(f"--- {title} misses, {args.misses_from} half (first {len(misses)})")
                for n, d, t, p in misses:
                    print(f"  {n!r} | {d[:60]!r} | truth {[names.get(x, x) for x in t]} | got {[(x.label, x.keywords[:3]) for x in p]}")
    if args.speed and types:
        speed(types, synonyms, mapper, args.speed)
    print(f"{'evaluation set':56} {'n':>5} {'top-1':>6} {'top-3':>6} {'near-1':>6} {'med ms':>7}")
    for name, r in rows:
        near = f"{r['near1']:>6.3f}" if "near1" in r else f"{'':>6}"
        print(f"{name:56} {r['n']:>5} {r['top1']:>6.3f} {r['top3']:>6.3f} {near} {r['median_ms']:>7.2f}")
    print("targets: top-1 >= 0.8, top-3 >= 0.9.  near-1: the best guess is the tagged concept or one above/below it")
    print("[real] = publishers' own tags hidden and compared; [proxy]/[invented] = not real publisher tagging")
    return 0


if __name__ == "__main__":
    sys.exit(main())
