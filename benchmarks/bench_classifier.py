"""How well does the inferred classifier agree with publishers' own LGA (esd) tags?

    .venv/bin/python benchmarks/bench_classifier.py [--feed FILE_OR_DIR ...] [--lga-list CSV]

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
   built from labels and synonyms only (descriptions left out), so the text is unseen.
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

from connectors import vocab  # noqa: E402
from warehouse.taxonomy import (KeywordClassifier, load_keywords_csv, load_lga_services_csv,  # noqa: E402
                                ServiceType)

SHARED = REPO.parent / "shared" / "fixtures"
LGA_2015 = SHARED / "oruk" / "taxonomies" / "lga_esd_services_list_v4.csv"
DEMO_LIST = REPO / "pipelines" / "sample" / "reference" / "lga_services.csv"


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


def score(classifier: KeywordClassifier, cases) -> dict:
    top1 = top3 = 0
    per_case = []
    for name, desc, truth in cases:
        t = time.perf_counter()
        preds = [p.esd_id for p in classifier.predict(name, desc, top=3)]
        per_case.append(time.perf_counter() - t)
        top1 += bool(preds[:1] and preds[0] in truth)
        top3 += bool(set(preds) & truth)
    n = max(len(cases), 1)
    return {"n": len(cases), "top1": top1 / n, "top3": top3 / n,
            "median_ms": 1000 * statistics.median(per_case) if per_case else 0.0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feed", type=Path, action="append", default=[], help="ORUK JSON file or folder with esd-tagged services")
    ap.add_argument("--lga-list", type=Path, default=LGA_2015, help="the LGA service list CSV (default: the 2015 copy in ../shared)")
    args = ap.parse_args()
    synonyms = load_keywords_csv()
    rows = []
    if args.feed:
        types = load_lga_services_csv(args.lga_list)
        rows.append(("publisher-tagged feed(s)", score(KeywordClassifier(types, synonyms), tagged_services(args.feed))))
    if DEMO_LIST.exists():
        demo_types = load_lga_services_csv(DEMO_LIST)
        cases = tagged_services([REPO / "pipelines" / "sample" / "feeds"])
        rows.append(("demo feeds, demo list", score(KeywordClassifier(demo_types, synonyms), cases)))
    bristol = SHARED / "oruk" / "v1" / "bristol_openplace_v1_services_page1.json"
    if bristol.exists():
        print(f"Bristol v1 page: {len(tagged_services([bristol]))} of its services carry esd service types")
    if args.lga_list.exists():
        types = load_lga_services_csv(args.lga_list)
        labels_only = KeywordClassifier(types, synonyms, use_descriptions=False)
        cases = [("", t.description, {t.esd_id}) for t in types if len(t.description.split()) >= 8]
        rows.append((f"LGA list held out ({args.lga_list.name})", score(labels_only, cases)))
    print(f"{'evaluation set':44} {'n':>6} {'top-1':>7} {'top-3':>7} {'median ms':>10}")
    for name, r in rows:
        print(f"{name:44} {r['n']:>6} {r['top1']:>7.3f} {r['top3']:>7.3f} {r['median_ms']:>10.2f}")
    print("targets: top-1 >= 0.8, top-3 >= 0.9")
    return 0


if __name__ == "__main__":
    sys.exit(main())
