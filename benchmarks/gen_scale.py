"""A skewed scale set for `placecat match`: N records shaped like national data (see
``../shared/eval/README.md``, "Scale").

    .venv/bin/python -m benchmarks.gen_scale --records 1000000 [--seed 1] [--out /tmp/placecat-scale]

The skews that make matching hard at scale, each scaled with N (the figures are for 1,000,000):

- records on the 64,937 real postcodes of ``../shared/fixtures/reference/`` (small users), each
  postcode's share drawn from a log-normal (sigma 1.1): blocks of 15 records on average, a long tail,
  the largest holding several hundred. A smaller N takes a random slice of the postcodes (N / 1,000,000
  of them), so its blocks are as big as the national set's: what a record costs at 100,000 is what
  it costs at 1,000,000;
- one national charity phone line on 19,180 records;
- brand web sites (the leisure operators', Age UK's, Mind's…) and template names ("Health Walk",
  "Parent and Toddler Group", "Couch to 5K"…) each on thousands of records;
- about half of all records duplicates of another: services listed by one to four of 20 sources
  (never twice in one source), each listing with its publisher's noise (``gen_eval_set``'s habits).

Writes ``<out>/<N>-<seed>/records.jsonl`` (ORUK v3 service objects with ``source_id``, what
`placecat match` reads), ``flat.csv`` (one row per record with the entity: for Splink and for
scoring), ``truth.csv`` and ``manifest.json`` with the skews as generated. Not timed by the bench;
written once per (N, seed) and reused.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import random
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.gen_eval_set import (COUNCILS, POSTCODES, SAINTS, STREETS, Style, abbreviate,  # noqa: E402
                                     coordinates, publish_phone, publish_postcode, typo)

SCALE = 1_000_000
NATIONAL_LINE = ("Citizens Advice", "0800 144 8848", "citizensadvice.org.uk", 19_180)
# (brand, web site, records at 1,000,000): one site on every listing of the brand's services
BRANDS = [("Everyone Active", "everyoneactive.com", 9_000), ("Better", "better.org.uk", 7_500),
          ("Age UK", "ageuk.org.uk", 6_000), ("Mind", "mind.org.uk", 4_000), ("The Trussell Trust", "trusselltrust.org", 3_500),
          ("Home-Start", "home-start.org.uk", 2_500), ("Alzheimer's Society", "alzheimers.org.uk", 2_500)]
# (template name, records at 1,000,000) run by many unrelated organisations
TEMPLATES = [("Health Walk", 7_000), ("Parent and Toddler Group", 6_000), ("Couch to 5K", 4_500), ("Coffee Morning", 4_000),
             ("Lunch Club", 4_000), ("Warm Space", 3_500), ("Pilates", 3_500), ("Drop-in Advice Session", 3_000),
             ("Befriending Service", 3_000), ("Zumba", 2_500), ("Chair Based Exercise", 2_500), ("Youth Club", 2_500),
             ("Job Club", 2_000), ("Knit and Natter", 2_000), ("Food Bank", 2_000)]
ACTIVITIES = ["Yoga", "Tai Chi", "Aqua Aerobics", "Swimming Lessons", "Gymnastics", "Walking Football", "Walking Netball",
              "Badminton", "Table Tennis", "Spin Class", "Body Pump", "Boxing Fitness", "Circuit Training", "Netball",
              "Bowls", "Dance", "Ballet", "Street Dance", "Karate", "Judo", "Climbing", "Cycling", "Running Club",
              "Book Group", "Art Group", "Craft Group", "Sewing Group", "Choir", "Singing Group", "Drama Group",
              "Film Club", "Chess Club", "Board Games", "Code Club", "Homework Club", "Reading Group", "Writing Group",
              "Photography Club", "Gardening Club", "Allotment Group", "Repair Cafe", "Men's Shed", "Community Cafe",
              "Memory Cafe", "Dementia Support", "Carers Support Group", "Bereavement Support", "Wellbeing Cafe",
              "Peer Support Group", "Hearing Voices Group", "Stroke Club", "Diabetes Support Group", "Parkinson's Group",
              "Breastfeeding Support", "Baby Massage", "Rhymetime", "Story Time", "Stay and Play", "Messy Church",
              "ESOL Class", "English Conversation", "Digital Skills", "Employment Support", "Debt Advice", "Benefits Advice",
              "Housing Advice", "Energy Advice", "Legal Advice", "Immigration Advice", "Counselling", "Stop Smoking",
              "Weight Management", "Falls Prevention", "Exercise Class", "Over 50s Swim", "Family Swim", "Youth Theatre",
              "Scouts", "Guides", "Brownies", "Cubs", "Beavers", "Rainbows", "Cadets", "Football Club", "Cricket Club",
              "Rugby Club", "Tennis Club", "Golf Club", "Angling Club", "Rambling Group", "Nordic Walking", "Parkrun"]
QUALIFIERS = ["", "", "", "", "Junior", "Senior", "Adult", "Family", "Women's", "Men's", "Over 50s", "Over 60s", "Beginners",
              "Intermediate", "Evening", "Saturday", "Weekday", "Community", "Young People's", "Children's"]
ORG_KINDS = ["Community Association", "Community Centre", "Neighbourhood Centre", "Good Neighbours", "Community Trust",
             "Parish Church", "Methodist Church", "Sports Club", "Residents Association", "Youth Project", "Library",
             "Leisure Centre", "Baptist Church", "Village Hall", "Development Trust"]
VENUE_KINDS = ["Community Centre", "Village Hall", "Library", "Leisure Centre", "Church Hall", "Methodist Church",
               "Park", "Sports Centre", "Primary School", "Neighbourhood Centre", "Community Hub", "Health Centre"]
N_SOURCES = 20
# Listings per service: mean 2.05, so that about half of all records duplicate another.
LISTINGS = [(1, 0.35), (2, 0.35), (3, 0.20), (4, 0.10)]
STYLE = Style(abbreviate=0.06, typo=0.05, case=0.05, phone_missing=0.12)


def read_postcodes() -> tuple[list[str], list[tuple]]:
    """The small-user postcodes of the reference file, each with its council."""
    by_code = {c[1]: c for c in COUNCILS}
    pcs, councils = [], []
    with POSTCODES.open(newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["usertype"] == "0" and r["lad22cd"] in by_code:
                pcs.append(r["postcode"])
                councils.append(by_code[r["lad22cd"]])
    return pcs, councils


def town_of(postcode: str, council: tuple) -> str:
    outward = postcode.split()[0]
    return next((t for _a, d, t in council[5] if d == outward), council[0])


class ScaleWorld:
    def __init__(self, n_records: int, seed: int):
        self.n = n_records
        self.rng = random.Random(seed)
        self.np = np.random.default_rng(seed)
        pcs, councils = read_postcodes()
        # A slice of the national set: as many postcodes as N records fill at the national density
        # (15 a postcode on average at 1,000,000), so that blocks are as big at 100,000 as at 1,000,000.
        keep = sorted(self.np.permutation(len(pcs))[: max(1, min(len(pcs), round(len(pcs) * n_records / SCALE)))])
        self.pcs, self.councils = [pcs[i] for i in keep], [councils[i] for i in keep]
        weights = self.np.lognormal(0.0, 1.1, len(self.pcs))
        self.cum = np.cumsum(weights / weights.sum())
        self.venues: dict[int, list[dict]] = {}

    def postcode(self) -> int:
        return int(min(np.searchsorted(self.cum, self.rng.random()), len(self.pcs) - 1))

    def scaled(self, at_million: int) -> int:
        return max(1, round(at_million * self.n / SCALE))

    def entities(self):
        """(name, org name, org phone, web site, postcode index or None, venue name, day, time) per service,
        with the number of listings, until the listings reach N."""
        rng = self.rng
        quotas = []     # (kind, payload, listings still to make)
        quotas.append(("national", NATIONAL_LINE, self.scaled(NATIONAL_LINE[3])))
        quotas += [("brand", b, self.scaled(b[2])) for b in BRANDS]
        quotas += [("template", t, self.scaled(t[1])) for t in TEMPLATES]
        share = sum(q[2] for q in quotas) / self.n
        made = 0
        while made < self.n:
            kind, payload, left = self._pick(quotas, share)
            k = rng.choices([k for k, _ in LISTINGS], [p for _, p in LISTINGS])[0]
            if kind != "plain":
                k = min(k, max(1, left))
                quotas[[q[1] for q in quotas].index(payload)] = (kind, payload, left - k)
            made += k
            yield self._service(kind, payload), k

    def _pick(self, quotas, share: float):
        """A skewed family (in proportion to what its quota has left) for that share of the services
        while quotas last, else a plain service."""
        left = sum(q[2] for q in quotas if q[2] > 0)
        if left and self.rng.random() < share:
            r = self.rng.random() * left
            for q in quotas:
                if q[2] > 0:
                    r -= q[2]
                    if r <= 0:
                        return q
        return ("plain", None, 0)

    def _venue(self, i: int | None, council: tuple) -> dict:
        """A venue at postcode i with its own local organisation (phone, web site): an existing one of
        that postcode half the time, so a venue hosts a few services and a local organisation runs a
        few, as in real directories."""
        rng = self.rng
        here = self.venues.setdefault(i, []) if i is not None else []
        if here and rng.random() < 0.5:
            return rng.choice(here)
        area = rng.choice(council[5])[0]
        place = rng.choice([area, rng.choice(STREETS).split()[0], f"St {rng.choice(SAINTS)}'s", rng.choice(STREETS)])
        name = f"{place} {rng.choice(VENUE_KINDS)}"
        org = rng.choice([name, f"Friends of {name}", f"{place} {rng.choice(ORG_KINDS)}", f"{area} {rng.choice(ORG_KINDS)}"])
        slug = "".join(c for c in org.lower() if c.isalnum())[:24]
        v = {"name": name if i is not None else None, "org": org, "site": f"{slug}{rng.randint(1, 99)}.org.uk",
             "phone": f"0{rng.randint(1100, 1999)} {rng.randint(100000, 999999)}" if rng.random() < 0.85 else
             f"07{rng.randint(100, 999)} {rng.randint(100000, 999999)}", "address": f"{rng.randint(1, 300)} {rng.choice(STREETS)}",
             "area": area}
        if i is not None:
            here.append(v)
        return v

    def _service(self, kind: str, payload) -> dict:
        rng = self.rng
        i = self.postcode() if rng.random() > 0.08 else None
        council = self.councils[i] if i is not None else rng.choice(COUNCILS)
        v = self._venue(i, council)
        org, phone, site = v["org"], v["phone"], v["site"]
        if kind == "national":
            org, phone, site = payload[0] + f" {council[0]}", payload[1], payload[2]
            name = rng.choice(["Debt Advice", "Benefits Advice", "Housing Advice", "Drop-in Advice Session", "Energy Advice",
                               "Help to Claim", "Money Advice", "Employment Advice"])
        elif kind == "brand":
            org, site = payload[0], payload[1]
            name = f"{rng.choice(QUALIFIERS)} {rng.choice(ACTIVITIES)}".strip()
        elif kind == "template":
            name = payload[0]
        else:
            q = rng.choice(QUALIFIERS)
            base = rng.choice(ACTIVITIES)
            name = rng.choice([f"{q} {base}".strip(), f"{v['area']} {base}", f"{base} at {v['name'] or v['area']}",
                               f"{q} {base}".strip()])
        return {"name": name, "org": org, "phone": phone, "site": site, "pc": i, "venue": v["name"],
                "address": v["address"], "day": rng.choice(["MO", "TU", "WE", "TH", "FR", "SA"]),
                "time": f"{rng.choice([9, 10, 11, 13, 14, 18, 19]):02d}:{rng.choice(['00', '30'])}", "kind": kind}

    def listing(self, e: dict, source: str, rid: str) -> tuple[dict, dict]:
        rng = self.rng
        name = e["name"]
        if rng.random() < STYLE.abbreviate:
            name = abbreviate(rng, name)
        if rng.random() < STYLE.typo:
            name = typo(rng, name)
        if rng.random() < 0.05:
            name = name.upper()
        if rng.random() < 0.12:
            name = f"{e['org']}: {name}"
        phone = publish_phone(rng, e["phone"], STYLE)
        url = rng.choice([f"https://www.{e['site']}/", f"http://{e['site']}", None, f"https://www.{e['site']}/whats-on"])
        email = f"info@{e['site']}" if rng.random() < 0.5 else None
        obj = {"source_id": source, "id": rid, "name": name, "url": url, "email": email, "status": "active",
               "description": f"{e['name']} run by {e['org']}.",
               "organization": {"id": f"{rid}-o", "name": e["org"], "website": f"https://{e['site']}" if rng.random() < 0.5 else None},
               "phones": [{"id": f"{rid}-p", "number": phone}] if phone else [],
               "schedules": [{"id": f"{rid}-s", "freq": "WEEKLY", "byday": e["day"], "opens_at": e["time"]}] if rng.random() < 0.7 else [],
               "service_at_locations": []}
        flat = {"unique_id": f"{source}/{rid}", "source_id": source, "record_id": rid, "name": name, "org": e["org"],
                "phone": phone or "", "email": email or "", "website": url or "", "postcode": "", "city": "", "lat": "",
                "lon": "", "day": e["day"] if obj["schedules"] else ""}
        if e["pc"] is not None:
            pc = self.pcs[e["pc"]]
            council = self.councils[e["pc"]]
            lat, lon = coordinates(pc, council)
            published = publish_postcode(rng, pc)
            town = town_of(pc, council)
            loc = {"id": f"{rid}-l", "name": e["venue"] if rng.random() < 0.7 else None,
                   "addresses": [{"id": f"{rid}-a", "address_1": e["address"], "city": town, "postal_code": published,
                                  "address_type": "physical"}]}
            if rng.random() < 0.6:
                loc["latitude"], loc["longitude"] = lat, lon
                flat["lat"], flat["lon"] = lat, lon
            obj["service_at_locations"] = [{"id": f"{rid}-sal", "location": loc}]
            flat["postcode"], flat["city"] = published or "", town
        return obj, flat


FLAT_COLUMNS = ["unique_id", "source_id", "record_id", "entity", "name", "org", "phone", "email", "website", "postcode",
                "city", "lat", "lon", "day"]


def generate(n_records: int, seed: int, folder: Path) -> dict:
    t0 = time.perf_counter()
    world = ScaleWorld(n_records, seed)
    rng = world.rng
    folder.mkdir(parents=True, exist_ok=True)
    sources = [f"directory-{i:02d}" for i in range(N_SOURCES)]
    source_weights = [1.0 / (1 + i * 0.15) for i in range(N_SOURCES)]   # some directories much bigger than others
    counts = {"records": 0, "entities": 0}
    blocks, phones, sites, names = Counter(), Counter(), Counter(), Counter()
    with (folder / "records.jsonl").open("w") as out, (folder / "flat.csv").open("w", newline="") as flat_f, \
            (folder / "truth.csv").open("w", newline="") as truth_f:
        flat_w = csv.DictWriter(flat_f, fieldnames=FLAT_COLUMNS)
        flat_w.writeheader()
        truth_w = csv.writer(truth_f)
        truth_w.writerow(["source_id", "record_id", "entity_id"])
        for e, k in world.entities():
            entity = f"S{counts['entities']:07d}"
            counts["entities"] += 1
            chosen: set[str] = set()
            while len(chosen) < k:
                chosen.add(rng.choices(sources, source_weights)[0])
            for source in sorted(chosen):
                if counts["records"] >= n_records:
                    break
                rid = f"r{counts['records']:08d}"
                obj, flat = world.listing(e, source, rid)
                flat["entity"] = entity
                out.write(json.dumps(obj, separators=(",", ":")) + "\n")
                flat_w.writerow(flat)
                truth_w.writerow([source, rid, entity])
                counts["records"] += 1
                if e["pc"] is not None:
                    blocks[e["pc"]] += 1
                phones[e["phone"]] += 1
                sites[e["site"]] += 1
                names[e["name"]] += 1
    sizes = sorted(blocks.values())
    manifest = {"records": counts["records"], "services": counts["entities"], "seed": seed, "sources": N_SOURCES,
                "duplicate_share": round(1 - counts["entities"] / counts["records"], 3),
                "postcodes_available": len(world.pcs), "postcodes_used": len(blocks),
                "records_per_postcode": {"mean": round(sum(sizes) / len(sizes), 1), "median": sizes[len(sizes) // 2],
                                         "p99": sizes[int(len(sizes) * 0.99)], "max": sizes[-1]},
                "top_phones": phones.most_common(3), "top_web_sites": sites.most_common(5), "top_names": names.most_common(8),
                "seconds": round(time.perf_counter() - t0, 1)}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def ensure(n_records: int, seed: int, root: Path) -> tuple[Path, dict]:
    """The set for (N, seed) under root, generated the first time."""
    folder = root / f"{n_records}-{seed}"
    if not (folder / "manifest.json").exists():
        generate(n_records, seed, folder)
    return folder, json.loads((folder / "manifest.json").read_text())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="/tmp/placecat-scale")
    a = ap.parse_args(argv)
    folder = Path(a.out) / f"{a.records}-{a.seed}"
    m = generate(a.records, a.seed, folder)
    print(f"wrote {folder}: {json.dumps(m)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
