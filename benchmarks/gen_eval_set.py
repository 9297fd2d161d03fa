"""Harder labelled sets for the matcher, in the layout of ``../shared/eval/dev-2026``.

    .venv/bin/python -m benchmarks.gen_eval_set --seed 7 [--services 3000] [--out /tmp/placecat-sets/hard-7]
    .venv/bin/python -m benchmarks.gen_eval_set --kind novenue --seed 7 [--services 1200]

``--kind hard`` (the default) writes six directories of the kinds dev-2026 has (three ORUK v3 APIs
with phones in three places, an ORUK v1 API, an OpenActive RPDE feed, a CSV export) describing one
world of services on real postcodes of Leeds, Manchester, Bristol and Cornwall read at run time from
``../shared/fixtures/reference/``. The world is built around the errors issue 17 found, as
deliberate hazards:

1. sibling services whose names differ by a qualifier (Junior / Senior Youth Club; Benefits / Debt /
   Housing / Energy Advice; IMCA / IMHA; the interest groups of one U3A);
2. one organisation's branches at other venues or in another council area sharing its national phone
   and website (a foodbank's distribution centres, a national charity's memory cafes, one advocacy
   provider commissioned by two councils, a council's health walks);
3. generic names (Health Walk, Couch to 5K, Pilates, Drop-in Advice Session, Befriending Service…) in
   many places, run by different organisations;
4. a whole source with no venues (the ORUK v1 directory, as real v1 council feeds are), and
   telephone and outreach services with no venue in every source;
5. organisation or venue text in the name in one source only ("Org: Service", "Org - Service",
   "Service (Org)", "Service at Venue", "Venue - Service");
6. abbreviations (Jnr, Snr, Grp, Ctr, Assoc., UC, St) and typos (transposed, doubled, dropped letters);
7. a brand prefix: the council lists the leisure operator's sessions under its own programme brand;
8. duplicates inside one source (the v1 directory and the CSV list some services twice).

``--kind novenue`` writes one ORUK v3 source with names, organisations, e-mails and web addresses
only (no venue, phone or schedule), where some services are listed two or three times: the set for
single-source dedupe (``placecat match --dedupe``).

Both write ``manifest.json``, ``truth.csv`` (every published record's entity), ``hard_negatives.csv``
(pairs of distinct services that look alike, with a reason) and ``entities.csv`` (the hidden truth,
for debugging), so ``../shared/eval/serve.py``, ``score.py`` and ``benchmarks/bench_eval.py`` run on
them unchanged. Written outside the repository; the same seed writes the same files.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import random
import shutil
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PLACECAT_SHARED", REPO.parent / "shared"))
POSTCODES = SHARED / "fixtures" / "reference" / "postcode_lsoa11_lad22_sample.csv"

# -- the places ------------------------------------------------------------------------------------
# (council, ONS code, centre latitude, longitude, spread in degrees, [(area, postcode district, town)])
# An area's venues take real postcodes of its district; the town is what an address says.
COUNCILS = [
    ("Leeds", "E08000035", 53.80, -1.55, 0.12, [
        ("Armley", "LS12", "Leeds"), ("Bramley", "LS13", "Leeds"), ("Headingley", "LS6", "Leeds"),
        ("Chapeltown", "LS7", "Leeds"), ("Harehills", "LS8", "Leeds"), ("Beeston", "LS11", "Leeds"),
        ("Hunslet", "LS10", "Leeds"), ("Kirkstall", "LS5", "Leeds"), ("Seacroft", "LS14", "Leeds"),
        ("Garforth", "LS25", "Garforth"), ("Horsforth", "LS18", "Horsforth"), ("Pudsey", "LS28", "Pudsey"),
        ("Morley", "LS27", "Morley"), ("Otley", "LS21", "Otley"), ("Wetherby", "LS22", "Wetherby"),
        ("Rothwell", "LS26", "Rothwell"), ("Moortown", "LS17", "Leeds"), ("Halton", "LS15", "Leeds")]),
    ("Manchester", "E08000003", 53.46, -2.23, 0.08, [
        ("Ancoats", "M4", "Manchester"), ("Ardwick", "M12", "Manchester"), ("Chorlton", "M21", "Manchester"),
        ("Didsbury", "M20", "Manchester"), ("Fallowfield", "M14", "Manchester"), ("Gorton", "M18", "Manchester"),
        ("Harpurhey", "M9", "Manchester"), ("Hulme", "M15", "Manchester"), ("Levenshulme", "M19", "Manchester"),
        ("Longsight", "M13", "Manchester"), ("Moss Side", "M16", "Manchester"), ("Wythenshawe", "M22", "Manchester"),
        ("Crumpsall", "M8", "Manchester"), ("Openshaw", "M11", "Manchester"), ("Baguley", "M23", "Manchester"),
        ("Newton Heath", "M40", "Manchester")]),
    ("Bristol", "E06000023", 51.46, -2.58, 0.07, [
        ("Bedminster", "BS3", "Bristol"), ("Easton", "BS5", "Bristol"), ("Fishponds", "BS16", "Bristol"),
        ("Hartcliffe", "BS13", "Bristol"), ("Henbury", "BS10", "Bristol"), ("Horfield", "BS7", "Bristol"),
        ("Knowle", "BS4", "Bristol"), ("Redland", "BS6", "Bristol"), ("St Pauls", "BS2", "Bristol"),
        ("Stockwood", "BS14", "Bristol"), ("Westbury-on-Trym", "BS9", "Bristol"), ("Clifton", "BS8", "Bristol"),
        ("Avonmouth", "BS11", "Bristol"), ("Southmead", "BS10", "Bristol")]),
    ("Cornwall", "E06000052", 50.33, -4.95, 0.45, [
        ("Truro", "TR1", "Truro"), ("Falmouth", "TR11", "Falmouth"), ("Penzance", "TR18", "Penzance"),
        ("St Ives", "TR26", "St Ives"), ("Newquay", "TR7", "Newquay"), ("St Austell", "PL25", "St Austell"),
        ("Bodmin", "PL31", "Bodmin"), ("Liskeard", "PL14", "Liskeard"), ("Saltash", "PL12", "Saltash"),
        ("Launceston", "PL15", "Launceston"), ("Camborne", "TR14", "Camborne"), ("Redruth", "TR15", "Redruth"),
        ("Helston", "TR13", "Helston"), ("Bude", "EX23", "Bude"), ("Wadebridge", "PL27", "Wadebridge"),
        ("Looe", "PL13", "Looe"), ("Hayle", "TR27", "Hayle")]),
]
STREETS = ["High Street", "Church Street", "Station Road", "Park Lane", "Mill Road", "Victoria Road", "Green Lane",
           "King Street", "Queen Street", "Market Place", "Chapel Lane", "School Lane", "Cross Street", "North Road",
           "Albert Road", "Manor Road", "Grove Road", "Springfield Road", "Richmond Road", "Westfield Road",
           "Oak Avenue", "Elm Grove", "Beech Road", "The Crescent", "Moor Lane", "Hall Lane", "New Road"]
SAINTS = ["Mary", "Mark", "Matthew", "Michael", "Margaret", "Martin", "Luke", "John", "James", "Peter", "Paul",
          "Andrew", "Anne", "Barnabas", "Aidan", "Stephen", "Thomas", "Columba", "Bartholomew", "Chad"]

# -- the services --------------------------------------------------------------------------------
LEISURE_OPERATORS = {"Leeds": ("Active Leeds", "activeleeds.co.uk", "0113 378 3000"),
                     "Manchester": ("Better", "better.org.uk", "0333 005 0000"),
                     "Bristol": ("Everyone Active", "everyoneactive.com", "0345 241 0202"),
                     "Cornwall": ("GLL Cornwall", "better.org.uk", "0333 005 0000")}
# The council's own programme brand, put in front of the operator's sessions it lists (class 7).
COUNCIL_BRANDS = {"Leeds": "Get Set Leeds", "Manchester": "MCR Active", "Bristol": "Move More Bristol",
                  "Cornwall": "Healthy Cornwall"}
# (name, OpenActive activity) in sibling pairs where a qualifier tells them apart (class 1).
LEISURE_CLASSES = [("Junior Swimming Lessons", "Swimming Lessons"), ("Adult Swimming Lessons", "Swimming Lessons"),
                   ("Junior Gymnastics", "Gymnastics"), ("Senior Gymnastics", "Gymnastics"),
                   ("Aqua Aerobics", "Aqua Aerobics"), ("Aqua Natal", "Aqua Aerobics"), ("Walking Football", "Walking Football"),
                   ("Walking Netball", "Netball"), ("Pilates", "Pilates"), ("Beginners Pilates", "Pilates"), ("Yoga", "Yoga"),
                   ("Chair Yoga", "Chair Based Exercise"), ("Zumba", "Zumba"), ("Zumba Gold", "Zumba"), ("Spin Class", "Indoor Cycling"),
                   ("Body Pump", "Group Exercise"), ("Over 50s Swim", "Swimming"), ("Family Swim", "Swimming"),
                   ("Badminton Drop-in", "Badminton"), ("Table Tennis Drop-in", "Table Tennis"), ("Circuit Training", "Circuit Training"),
                   ("Junior Badminton", "Badminton"), ("Parent and Baby Swim", "Swimming"), ("Boxing Fitness", "Boxing")]
ADVICE_SIBLINGS = ["Benefits Advice", "Debt Advice", "Housing Advice", "Energy Advice", "Employment Advice",
                   "Help to Claim Universal Credit", "Drop-in Advice Session"]
ADVOCACY = ["IMCA Advocacy", "IMHA Advocacy", "Care Act Advocacy", "NHS Complaints Advocacy", "Independent Advocacy"]
U3A_GROUPS = ["Walking Group", "Book Group", "French Group", "Spanish Group", "Local History Group", "Photography Group",
              "Gardening Group", "Art Group", "Singing Group", "Bridge Group", "Science Group", "Poetry Group"]
# National charities with one phone line and one web site for all their local branches (class 2).
NATIONAL = [("Alzheimer's Society", "alzheimers.org.uk", "0333 150 3456", ["Memory Cafe", "Dementia Support Drop-in"]),
            ("Macmillan Cancer Support", "macmillan.org.uk", "0808 808 0000", ["Cancer Information Drop-in"]),
            ("Parkinson's UK", "parkinsons.org.uk", "0808 800 0303", ["Parkinson's Support Group"]),
            ("Diabetes UK", "diabetes.org.uk", "0345 123 2399", ["Diabetes Support Group"]),
            ("Stroke Association", "stroke.org.uk", "0303 303 3100", ["Stroke Club"])]
# Generic names run by many different organisations in many places (class 3).
GENERIC = ["Health Walk", "Couch to 5K", "Pilates", "Drop-in Advice Session", "Befriending Service", "Parent and Toddler Group",
           "Coffee Morning", "Lunch Club", "Warm Space", "Knit and Natter", "Community Cafe", "Job Club", "Tai Chi",
           "Chair Based Exercise", "Bereavement Support Group", "ESOL Conversation Club", "Men's Shed", "Code Club"]
COMMUNITY = ["Junior Youth Club", "Senior Youth Club", "Toddler Group", "Sewing Group", "Repair Cafe", "Board Games Night",
             "Homework Club", "Community Choir", "Art Group", "Baby Massage", "Breastfeeding Support", "Gardening Club",
             "Reading Group", "Veterans Breakfast Club", "Young Carers Club", "Family Fun Day", "Digital Skills Drop-in",
             "Dementia Friendly Cafe", "Singing for the Brain", "Friendship Group", "Over 60s Club", "Food Pantry"]
CATEGORY = {"leisure": "Sports and leisure", "advice": "Benefits advice and assessment", "advocacy": "Advocacy",
            "foodbank": "Food banks", "health": "Health and wellbeing", "community": "Community groups",
            "children": "Children and families", "older": "Older people", "walk": "Walking groups",
            "carers": "Carers support", "learning": "Adult learning"}
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
DAY_NAMES = {"MO": "Monday", "TU": "Tuesday", "WE": "Wednesday", "TH": "Thursday", "FR": "Friday", "SA": "Saturday", "SU": "Sunday"}
ABBREVIATIONS = [("Junior", "Jnr"), ("Senior", "Snr"), ("Group", "Grp"), ("Centre", "Ctr"), ("Association", "Assoc."),
                 ("Universal Credit", "UC"), ("Saint ", "St "), (" and ", " & ")]


def _slug(s: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in s.lower()).split())


def _h(text: str) -> float:
    """A stable number in [-1, 1) for a text: pseudo-coordinates that keep a postcode's neighbours near."""
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16) / 2 ** 31 - 1


def coordinates(postcode: str, council: tuple) -> tuple[float, float]:
    """Made-up but consistent coordinates for a real postcode: its district somewhere in its council's
    area, its sector within a kilometre or two of that, the postcode within a few hundred metres."""
    _name, _code, lat, lon, spread, _areas = council
    outward, inward = postcode.split()
    sector = f"{outward} {inward[0]}"
    return (round(lat + spread * 0.8 * _h(outward) + 0.012 * _h(sector) + 0.002 * _h(postcode), 6),
            round(lon + spread * 1.3 * _h(outward + "x") + 0.018 * _h(sector + "x") + 0.003 * _h(postcode + "x"), 6))


@dataclass
class Place:
    area: str
    council: str
    postcode: str
    town: str
    lat: float
    lon: float


@dataclass
class Venue:
    id: str
    name: str
    address: str
    place: Place
    phone: str


@dataclass
class Org:
    id: str
    name: str
    domain: str
    phone: str
    email: str
    national: bool = False


@dataclass
class Service:
    entity: str
    name: str
    kind: str              # what built it (a hazard family)
    category: str
    org: Org
    venue: Venue | None
    phone: str
    email: str | None
    url: str
    days: list[str]
    opens: str
    closes: str
    description: str
    activity: str | None = None
    age: str = ""
    sources: list[str] = field(default_factory=list)


class World:
    """Councils, areas, real postcodes, venues, organisations and the true services."""

    def __init__(self, seed: int, n_services: int):
        self.rng = random.Random(seed)
        self.n_target = n_services
        self.services: list[Service] = []
        self.orgs: dict[str, Org] = {}
        self.venues: list[Venue] = []
        self._postcodes = self._read_postcodes()
        self._home: dict[str, Venue] = {}            # a local organisation's own venue
        self._listed: set[tuple] = set()             # (organisation, name, venue): one service each

    # -- reference data and ids
    @staticmethod
    def _read_postcodes() -> dict[str, list[str]]:
        if not POSTCODES.exists():
            raise SystemExit(f"{POSTCODES}: not found; the generator reads real postcodes from ../shared/fixtures/reference "
                             "(set PLACECAT_SHARED)")
        by_district: dict[str, list[str]] = defaultdict(list)
        with POSTCODES.open(newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                if r["usertype"] == "0":
                    by_district[r["postcode"].split()[0]].append(r["postcode"])
        return by_district

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def phone(self, council: str) -> str:
        code = {"Leeds": "0113", "Manchester": "0161", "Bristol": "0117", "Cornwall": self.rng.choice(["01872", "01726", "01208", "01736"])}[council]
        rest = f"{self.rng.randint(200, 999)} {self.rng.randint(1000, 9999)}" if len(code) == 4 else f"{self.rng.randint(100000, 999999)}"
        return f"{code} {rest}"

    def mobile(self) -> str:
        return f"07{self.rng.randint(700, 999)} {self.rng.randint(100000, 999999)}"

    # -- places, venues, organisations
    def place(self, council: tuple, area: tuple) -> Place:
        name, _code, lat, lon, spread, _areas = council
        area_name, district, town = area
        pcs = self._postcodes.get(district) or [p for d, ps in self._postcodes.items() if d[:2] == district[:2] for p in ps]
        pc = self.rng.choice(pcs)
        return Place(area_name, name, pc, town, *coordinates(pc, council))

    def venue(self, council: tuple, area: tuple, name: str, phone: str | None = None) -> Venue:
        p = self.place(council, area)
        v = Venue(f"V{len(self.venues):05d}", name, f"{self.rng.randint(1, 240)} {self.rng.choice(STREETS)}", p,
                  phone or self.phone(council[0]))
        self.venues.append(v)
        return v

    def org(self, name: str, domain: str | None = None, phone: str | None = None, council: str = "Leeds",
            national: bool = False) -> Org:
        if name in self.orgs:
            return self.orgs[name]
        domain = domain or f"{_slug(name)}.org.uk"
        o = Org(f"O{len(self.orgs):05d}", name, domain, phone or self.phone(council), f"info@{domain}", national)
        self.orgs[name] = o
        return o

    def home(self, council: tuple, area: tuple, org: Org, name: str) -> Venue:
        """The one venue of a local organisation (made the first time it is asked for)."""
        if org.id not in self._home:
            self._home[org.id] = self.venue(council, area, name)
        return self._home[org.id]

    def service(self, name: str, kind: str, category: str, org: Org, venue: Venue | None, phone: str | None = None,
                activity: str | None = None, days: int = 1) -> Service | None:
        """A new service; None when this organisation already runs one of this name at this venue."""
        key = (org.id, name, venue.id if venue else None)
        if key in self._listed:
            return None
        self._listed.add(key)
        rng = self.rng
        hour = rng.choice([9, 10, 11, 13, 14, 17, 18, 19])
        minutes = rng.choice(["00", "30", "15"])
        length = rng.choice([1, 1, 2, 3])
        slug = _slug(name)
        s = Service(f"E{len(self.services):06d}", name, kind, category, org, venue,
                    phone or (venue.phone if venue and rng.random() < 0.4 else org.phone),
                    f"{slug.replace('-', '')[:14]}@{org.domain}" if rng.random() < 0.35 else org.email,
                    f"https://www.{org.domain}/{rng.choice(['activities', 'services', 'whats-on'])}/{slug}",
                    sorted(rng.sample(DAYS[:5] if days > 1 else DAYS, days), key=DAYS.index),
                    f"{hour:02d}:{minutes}", f"{hour + length:02d}:{minutes}",
                    self._describe(name, org, venue, category), activity,
                    rng.choice(["", "", "18+", "16+", "0-5", "8-13", "14-19", "60+"]))
        self.services.append(s)
        return s

    def _describe(self, name: str, org: Org, venue: Venue | None, category: str) -> str:
        where = f" at {venue.name}" if venue else ""
        return self.rng.choice([
            f"{name}{where}, run by {org.name}. Everyone welcome; no need to book.",
            f"{org.name} runs {name.lower()}{where}. A friendly, welcoming session led by trained staff and volunteers.",
            f"Join us for {name.lower()}{where}. Free or low cost; please call before your first visit.",
            f"{name}: {CATEGORY[category].lower()} from {org.name}. Referrals welcome from any agency and from people themselves.",
        ])

    # -- the hazard families
    def build(self) -> None:
        rng = self.rng
        for council in COUNCILS:
            self._leisure(council)
            self._advice(council)
            self._foodbanks(council)
            self._carers_and_mind(council)
            self._walks(council)
        self._advocacy()
        self._national()
        self._u3a()
        while len(self.services) < self.n_target:
            council = rng.choice(COUNCILS)
            r = rng.random()
            if r < 0.5:
                self._generic(council)
            elif r < 0.7:
                self._church(council)
            else:
                self._community(council)
        del self.services[self.n_target:]

    def _leisure(self, council: tuple) -> None:
        rng = self.rng
        op_name, domain, phone = LEISURE_OPERATORS[council[0]]
        op = self.org(op_name, domain, phone, council[0], national=True)
        for area in rng.sample(council[5], min(len(council[5]), rng.randint(6, 9))):
            v = self.venue(council, area, f"{area[0]} {rng.choice(['Leisure Centre', 'Sports Centre', 'Pool and Gym'])}")
            for name, activity in rng.sample(LEISURE_CLASSES, rng.randint(7, 13)):
                self.service(name, "leisure", "leisure", op, v, phone=rng.choice([v.phone, op.phone]), activity=activity)

    def _advice(self, council: tuple) -> None:
        rng = self.rng
        org = self.org(f"Citizens Advice {council[0]}", f"citizensadvice{_slug(council[0])}.org.uk", "0800 144 8848",
                       council[0], national=True)
        office = self.venue(council, rng.choice(council[5]), rng.choice(["The Old Bank", "Station House", "Oak House"]))
        for name in ADVICE_SIBLINGS:
            self.service(name, "advice-sibling", "advice", org, office, days=5)
        for area in rng.sample(council[5], 3):    # outreach at libraries: the same services elsewhere
            lib = self.venue(council, area, f"{area[0]} Library")
            for name in rng.sample(ADVICE_SIBLINGS[:4], 2):
                self.service(name, "advice-outreach", "advice", org, lib)

    def _foodbanks(self, council: tuple) -> None:
        rng = self.rng
        for part in rng.sample(["North", "South", "East", "West", "Central"], 2):
            fb = self.org(f"{council[0]} {part} Foodbank", f"{_slug(council[0])}{part.lower()}.foodbank.org.uk",
                          council=council[0])
            for area in rng.sample(council[5], rng.randint(3, 5)):
                saint = rng.choice(SAINTS)
                v = self.venue(council, area, f"St {saint}'s {rng.choice(['Church', 'Church Hall', 'Methodist Church'])}")
                self.service("Foodbank Centre", "foodbank-branch", "foodbank", fb, v, phone=fb.phone)

    def _carers_and_mind(self, council: tuple) -> None:
        rng = self.rng
        carers = self.org(f"{council[0]} Carers Centre", council=council[0])
        for name in ["Carers Advice Line", "Carers Emergency Card", "Carers Assessment Support"]:
            self.service(name, "no-venue", "carers", carers, None, days=5)
        self.service("Young Carers Club", "community", "carers", carers, self.venue(council, rng.choice(council[5]), "The Carers Hub"))
        mind = self.org(f"{council[0]} Mind", council=council[0])
        base = self.venue(council, rng.choice(council[5]), rng.choice(["Moor House", "The Old Bank", "Mill House"]))
        for name in ["Wellbeing Cafe", "Crisis Cafe", "Hearing Voices Group", "Peer Support Group"]:
            self.service(name, "org-siblings", "health", mind, base)
        self.service("Listening Line", "no-venue", "health", mind, None, days=5)

    def _walks(self, council: tuple) -> None:
        """The council's walking programme: one phone and web site, a Health Walk in many parks."""
        rng = self.rng
        prog = self.org(f"Walk It {council[0]}", council=council[0])
        for area in rng.sample(council[5], rng.randint(5, 8)):
            v = self.venue(council, area, f"{area[0]} {rng.choice(['Park', 'Library', 'Community Centre'])}")
            self.service("Health Walk", "walk-branch", "walk", prog, v, phone=prog.phone, activity="Walking")

    def _advocacy(self) -> None:
        """One provider commissioned by two councils: the same services, one phone line and web site."""
        prov = self.org("Speak Up Advocacy", "speakupadvocacy.org.uk", "0300 456 2370", national=True)
        for council in self.rng.sample(COUNCILS, 2):
            office = self.venue(council, self.rng.choice(council[5]), f"Speak Up {council[0]} Office")
            for name in ADVOCACY:
                self.service(name, "advocacy", "advocacy", prov, office if self.rng.random() < 0.3 else None, days=5)

    def _national(self) -> None:
        rng = self.rng
        for name, domain, phone, services in NATIONAL:
            org = self.org(name, domain, phone, national=True)
            for council in COUNCILS:
                for area in rng.sample(council[5], rng.randint(2, 4)):
                    v = self.venue(council, area, f"{area[0]} {rng.choice(['Community Centre', 'Methodist Church Hall', 'Library'])}")
                    self.service(rng.choice(services), "national-branch", "health", org, v, phone=phone)

    def _u3a(self) -> None:
        rng = self.rng
        for council in rng.sample(COUNCILS, 2):
            u3a = self.org(f"{council[0]} U3A", f"{_slug(council[0])}u3a.org.uk", council=council[0])
            for g in rng.sample(U3A_GROUPS, rng.randint(8, 12)):
                v = self.venue(council, rng.choice(council[5]), f"{rng.choice(council[5])[0]} Library") if rng.random() < 0.5 else None
                self.service(g, "u3a-sibling", "learning", u3a, v, phone=u3a.phone)

    def _generic(self, council: tuple) -> None:
        rng = self.rng
        area = rng.choice(council[5])
        name = rng.choice(GENERIC)
        owner = rng.choice([f"{area[0]} {name.split()[0]} Group" if name != "Health Walk" else f"{area[0]} Health Walks",
                            f"{area[0]} Community Association", f"Friends of {area[0]}", f"{area[0]} Good Neighbours"])
        org = self.org(owner, council=council[0])
        no_venue = name in ("Befriending Service", "Drop-in Advice Session") and rng.random() < 0.6
        hall = f"{area[0]} {rng.choice(['Community Centre', 'Village Hall', 'Neighbourhood Centre', 'Community Hub'])}"
        v = None if no_venue else self.home(council, area, org, hall)
        act = {"Health Walk": "Walking", "Couch to 5K": "Running", "Pilates": "Pilates", "Tai Chi": "Tai Chi",
               "Chair Based Exercise": "Chair Based Exercise"}.get(name)
        phone = self.mobile() if rng.random() < 0.25 else None
        self.service(name, "generic", "community", org, v, phone=phone, activity=act)

    def _church(self, council: tuple) -> None:
        rng = self.rng
        area = rng.choice(council[5])
        saint = rng.choice(SAINTS)
        church = self.org(f"St {saint}'s Church, {area[0]}", council=council[0])
        v = self.home(council, area, church, f"St {saint}'s {rng.choice(['Church Hall', 'Church', 'URC', 'Methodist Church'])}")
        for act in rng.sample(["Toddler Group", "Lunch Club", "Coffee Morning", "Youth Club", "Messy Church", "Warm Space"], rng.randint(1, 3)):
            name = act if rng.random() < 0.5 else f"St {saint}'s {act}"
            self.service(name, "church", "community", church, v)

    def _community(self, council: tuple) -> None:
        rng = self.rng
        area = rng.choice(council[5])
        centre = self.org(f"{area[0]} {rng.choice(['Community Association', 'Neighbourhood Centre', 'Community Hub'])}", council=council[0])
        v = self.home(council, area, centre, centre.name.replace("Association", "Centre"))
        picks = rng.sample(COMMUNITY, rng.randint(1, 4))
        if rng.random() < 0.3 and "Junior Youth Club" not in picks:
            picks += ["Junior Youth Club", "Senior Youth Club"]     # siblings by a qualifier, one venue
        for name in picks:
            self.service(name, "community", "children" if "Youth" in name or "Baby" in name else "community", centre, v,
                         phone=self.mobile() if rng.random() < 0.15 else None)


# -- how each kind of publisher writes a service -----------------------------------------------------

def typo(rng: random.Random, text: str) -> str:
    """One slip in one word of four letters or more: two letters swapped, one doubled, or one dropped."""
    words = text.split(" ")
    idx = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not idx:
        return text
    i = rng.choice(idx)
    w = words[i]
    j = rng.randint(1, len(w) - 2)
    kind = rng.random()
    if kind < 0.4:
        w = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    elif kind < 0.7:
        w = w[:j] + w[j] + w[j:]
    else:
        w = w[:j] + w[j + 1:]
    words[i] = w
    return " ".join(words)


def abbreviate(rng: random.Random, text: str) -> str:
    options = [(a, b) for a, b in ABBREVIATIONS if a in text]
    if not options:
        return text
    a, b = rng.choice(options)
    return text.replace(a, b, 1)


def with_context(rng: random.Random, s: Service, forms: list[str]) -> str:
    """The name with its organisation's or venue's text, in one of the given forms."""
    form = rng.choice(forms)
    if "venue" in form and s.venue is None:
        form = "org_colon"
    org, venue = s.org.name, s.venue.name if s.venue else ""
    return {"org_colon": f"{org}: {s.name}", "org_dash": f"{org} - {s.name}", "org_paren": f"{s.name} ({org})",
            "at_venue": f"{s.name} at {venue}", "venue_dash": f"{venue} - {s.name}", "venue_space": f"{venue} {s.name}"}[form]


def mojibake(text: str) -> str:
    return text.encode("utf-8").decode("latin-1") if any(ord(c) > 127 for c in text) else text


@dataclass
class Style:
    """How one publisher writes names, phones and the rest: probabilities of each habit."""
    context: float = 0.0          # organisation/venue text in the name (class 5)
    context_forms: tuple = ("org_colon",)
    brand: float = 0.0            # the council's programme brand in front of leisure sessions (class 7)
    abbreviate: float = 0.08      # class 6
    typo: float = 0.06            # class 6
    case: float = 0.05
    duplicate: float = 0.0        # class 8: a second listing of the same service
    phone_missing: float = 0.1


def publish_name(rng: random.Random, s: Service, style: Style, council_brand: str | None) -> str:
    name = s.name
    if style.brand and council_brand and s.kind == "leisure" and rng.random() < style.brand:
        name = rng.choice([f"{council_brand}: {name}", f"{council_brand} {name}"])
    elif rng.random() < style.context:
        name = with_context(rng, s, list(style.context_forms))
    if rng.random() < style.abbreviate:
        name = abbreviate(rng, name)
    if rng.random() < style.typo:
        name = typo(rng, name)
    r = rng.random()
    if r < style.case / 2:
        name = name.upper()
    elif r < style.case:
        name = name.lower()
    if rng.random() < 0.03:
        name += " "
    return name


def publish_phone(rng: random.Random, phone: str, style: Style, lose_zero: float = 0.0) -> str | None:
    if rng.random() < style.phone_missing:
        return None
    digits = phone.replace(" ", "")
    r = rng.random()
    if r < lose_zero:
        return digits[1:]
    if r < 0.2:
        return "+44 " + digits[1:4] + " " + digits[4:7] + " " + digits[7:]
    if r < 0.35:
        return digits
    if r < 0.45:
        return f"({digits[:5]}) {digits[5:]}"
    if r < 0.5:
        return digits[:4] + "-" + digits[4:7] + "-" + digits[7:]
    return phone


def publish_url(rng: random.Random, s: Service) -> str | None:
    r = rng.random()
    if r < 0.15:
        return None
    if r < 0.5:
        return f"https://www.{s.org.domain}/"
    if r < 0.6:
        return f"http://{s.org.domain}"
    if r < 0.65:
        return f"http://WWW.{s.org.domain}/"
    return s.url


def publish_postcode(rng: random.Random, pc: str) -> str | None:
    r = rng.random()
    if r < 0.04:
        return None
    if r < 0.15:
        return pc.lower()
    if r < 0.22:
        return pc.replace(" ", "")
    if r < 0.25:
        return pc[:-2] + rng.choice("ABDEFGHJLNPQRSTUWXYZ") + rng.choice("ABDEFGHJLNPQRSTUWXYZ")   # a neighbour's
    return pc


def publish_address(rng: random.Random, v: Venue) -> str:
    r = rng.random()
    if r < 0.15:
        return v.address.replace("Street", "St").replace("Road", "Rd").replace("Lane", "Ln")
    if r < 0.25:
        return v.address.upper()
    return v.address


def publish_description(rng: random.Random, s: Service) -> str:
    extra = rng.choice(["", " Contact us for details.", " Run by volunteers.", " Part of our community programme.",
                        " Open to all ages.", " Booking recommended."])
    return s.description + extra


# -- the six sources ---------------------------------------------------------------------------------

@dataclass
class Source:
    id: str
    kind: str          # oruk_v3 | oruk_v1 | openactive | csv (the manifest's kinds)
    base_url: str
    per_page: int
    style: Style
    takes: dict        # hazard family -> probability of listing a service of it
    default_take: float
    phones_at: str = "service"   # oruk_v3: service | contacts | location
    html: bool = False
    venues: bool = True


SOURCES = [
    Source("council-fis", "oruk_v3", "https://api.familyinfo.example.gov.uk/oruk", 50,
           Style(context=0.15, context_forms=("at_venue",), brand=0.55, typo=0.04),
           {"leisure": 0.55, "no-venue": 0.6, "u3a-sibling": 0.3}, 0.45),
    Source("hub-connect", "oruk_v3", "https://directory.hub-connect.example.org.uk/api/v3", 100,
           Style(context=0.55, context_forms=("org_colon", "org_dash", "org_dash", "venue_space"), abbreviate=0.15),
           {"leisure": 0.25, "u3a-sibling": 0.5}, 0.35, phones_at="contacts"),
    Source("care-finder", "oruk_v3", "https://care-finder.example.org.uk/oruk", 25,
           Style(context=0.3, context_forms=("org_paren", "at_venue"), typo=0.1, abbreviate=0.12, case=0.1),
           {"leisure": 0.1, "advice-sibling": 0.6, "advocacy": 0.7}, 0.35, phones_at="location", html=True),
    Source("openplace-v1", "oruk_v1", "https://vcs.openplace.example.directory/o/ServiceDirectoryService/v2", 50,
           Style(context=0.2, context_forms=("org_colon", "org_paren"), typo=0.08, duplicate=0.06),
           {"leisure": 0.05, "advocacy": 0.7, "u3a-sibling": 0.5}, 0.35, venues=False),
    Source("oa-sessions", "openactive", "https://opendata.bookings.example.co.uk/api/feeds/session-series", 100,
           Style(abbreviate=0.2, typo=0.03, phone_missing=0.3),
           {"leisure": 0.85, "walk-branch": 0.6, "generic": 0.15}, 0.0),
    Source("vcs-sheet", "csv", "https://www.vcs-network.example.org.uk/downloads", 0,
           Style(context=0.3, context_forms=("venue_dash", "at_venue"), typo=0.12, abbreviate=0.1, case=0.1, duplicate=0.04),
           {"leisure": 0.15}, 0.4),
]


def takes(src: Source, s: Service) -> float:
    if src.kind == "openactive" and s.activity is None:
        return 0.0
    if src.kind == "openactive" and s.kind == "generic":
        return src.takes["generic"]
    return src.takes.get(s.kind, src.default_take)


class Publisher:
    """Writes each source's records in its own form, and the truth."""

    def __init__(self, world: World, out: Path, seed: int):
        self.world, self.out, self.rng = world, out, random.Random(seed + 1)
        self.truth: list[tuple[str, str, str]] = []
        self.counts: dict[str, dict] = {}

    def listed(self) -> dict[str, list[Service]]:
        """Which services each source lists; a service nobody lists is given to one source, so every
        entity has at least one record."""
        rng = self.rng
        out: dict[str, list[Service]] = {src.id: [] for src in SOURCES}
        for s in self.world.services:
            chosen = [src for src in SOURCES if rng.random() < takes(src, s)]
            if not chosen:
                chosen = [rng.choice([src for src in SOURCES if takes(src, s) > 0] or SOURCES[:1])]
            for src in chosen:
                out[src.id].append(s)
        return out

    def record_ids(self, src: Source, n: int) -> list[str]:
        if src.kind == "oruk_v3":
            return [self.world.uid() for _ in range(n)]
        if src.kind == "oruk_v1":
            return [str(100000 + i * 3 + self.rng.randint(0, 2)) for i in range(n)]
        if src.kind == "csv":
            return [str(4000 + i * 3 + self.rng.randint(0, 2)) for i in range(n)]
        return [f"{self.rng.choice('ABCDEFGHJKLMNPRSTUVW')}{self.rng.choice('ABCDEFGHJKLMNPRSTUVW')}{10000000 + i * 7 + self.rng.randint(0, 6)}"
                for i in range(n)]

    def write(self) -> None:
        listed = self.listed()
        for src in SOURCES:
            rows = []
            services = listed[src.id]
            dups = [s for s in services if self.rng.random() < src.style.duplicate]
            entries = [(s, False) for s in services] + [(s, True) for s in dups]
            self.rng.shuffle(entries)
            ids = self.record_ids(src, len(entries))
            for rid, (s, again) in zip(ids, entries):
                brand = COUNCIL_BRANDS.get(s.venue.place.council) if s.venue else None
                style = src.style
                if again:   # the second listing of a service in one source differs in its name's habits
                    style = Style(**{**style.__dict__, "context": 0.5, "typo": 0.3, "abbreviate": 0.3})
                rows.append((rid, s, publish_name(self.rng, s, style, brand)))
                self.truth.append((src.id, rid, s.entity))
            folder = self.out / src.id
            folder.mkdir(parents=True)
            writer = {"oruk_v3": self.write_v3, "oruk_v1": self.write_v1, "openactive": self.write_rpde, "csv": self.write_csv}[src.kind]
            self.counts[src.id] = writer(src, folder, rows)

    # ORUK v3: full nested objects; phones on the service, under contacts, or on the location.
    def v3_object(self, src: Source, rid: str, s: Service, name: str) -> dict:
        rng = self.rng
        phone = publish_phone(rng, s.phone, src.style)
        org = {"id": f"org-{src.id}-{s.org.id}", "name": s.org.name if rng.random() < 0.9 else s.org.name + rng.choice([" CIO", " Ltd", " (Registered Charity)"]),
               "description": f"{s.org.name} is a {'national' if s.org.national else 'local'} charity.",
               "website": f"https://www.{s.org.domain}/" if rng.random() < 0.7 else None}
        if rng.random() < 0.5:
            org["email"] = s.org.email
        desc = publish_description(rng, s)
        if src.html:
            desc = f"<p>{desc}</p>\n<ul><li>{CATEGORY[s.category]}</li></ul>"
        obj = {"id": rid, "organization_id": org["id"], "name": name, "description": desc, "url": publish_url(rng, s),
               "email": s.email if rng.random() < 0.6 else None, "status": "active",
               "last_modified": f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00.000Z",
               "organization": org, "service_at_locations": []}
        if s.venue and src.venues:
            v = s.venue
            loc = {"id": f"loc-{src.id}-{v.id}", "location_type": "physical", "name": v.name if rng.random() < 0.85 else None,
                   "addresses": [{"id": self.world.uid(), "address_1": publish_address(rng, v), "city": v.place.town,
                                  "postal_code": publish_postcode(rng, v.place.postcode), "country": "GB", "address_type": "physical"}]}
            if rng.random() < 0.8:
                loc["latitude"] = round(v.place.lat + rng.uniform(-0.0003, 0.0003), 6)
                loc["longitude"] = round(v.place.lon + rng.uniform(-0.0004, 0.0004), 6)
            if src.phones_at == "location" and phone:
                loc["phones"] = [{"id": self.world.uid(), "number": phone}]
            obj["service_at_locations"] = [{"id": self.world.uid(), "service_id": rid, "location_id": loc["id"], "location": loc}]
        if phone and src.phones_at == "service":
            obj["phones"] = [{"id": self.world.uid(), "number": phone}]
        elif phone and src.phones_at == "contacts":
            obj["contacts"] = [{"id": self.world.uid(), "service_id": rid, "name": "", "title": "Contact",
                                "phones": [{"id": self.world.uid(), "number": phone}]}]
        elif phone and src.phones_at == "location" and not obj["service_at_locations"]:
            obj["phones"] = [{"id": self.world.uid(), "number": phone}]
        if rng.random() < 0.8:
            obj["schedules"] = [{"id": self.world.uid(), "service_id": rid, "freq": "WEEKLY", "interval": 1,
                                 "byday": ",".join(s.days), "opens_at": s.opens, "closes_at": s.closes}]
        obj["attributes"] = [{"id": self.world.uid(), "link_type": "service", "link_id": rid, "taxonomy_term": {
            "id": str(uuid.UUID(hashlib.md5(s.category.encode()).hexdigest())), "name": CATEGORY[s.category],
            "taxonomy": "esdServiceTypes"}}]
        return obj

    def write_v3(self, src: Source, folder: Path, rows: list) -> dict:
        items = [self.v3_object(src, rid, s, name) for rid, s, name in rows]
        (folder / "index.json").write_text(json.dumps({"version": "3.0", "profile": "https://github.com/OpenReferralUK/uk-profile"}))
        pages = self._pages(items, src.per_page, lambda chunk, n, total: {
            "total_items": len(items), "total_pages": total, "page_number": n, "size": len(chunk), "first_page": n == 1,
            "last_page": n == total, "empty": not chunk, "contents": chunk})
        self._write_pages(folder / "services", pages)
        return {"records": len(items), "endpoint": "/services", "per_page": src.per_page, "pages": len(pages),
                "files": "services/page-NNNN.json (full nested service objects); index.json = GET /"}

    # ORUK v1: list items with one-to-one fields and the organisation; the full record at /services/{id}.
    def write_v1(self, src: Source, folder: Path, rows: list) -> dict:
        rng = self.rng
        (folder / "services" / "by-id").mkdir(parents=True)
        items = []
        for rid, s, name in rows:
            name = mojibake(name) if rng.random() < 0.3 else name
            phone = publish_phone(rng, s.phone, src.style)
            item = {"id": rid, "name": name, "description": publish_description(rng, s), "url": publish_url(rng, s) or "",
                    "email": s.email if rng.random() < 0.6 else "", "status": "active", "fees": "",
                    "organization": {"id": f"org-{s.org.id}", "name": s.org.name, "description": "",
                                     "url": f"https://www.{s.org.domain}/"}}
            items.append(item)
            detail = dict(item, service_at_locations=[], regular_schedules=[
                {"id": str(rng.randint(10 ** 6, 10 ** 7)), "weekday": DAYS.index(d) + 1, "opens_at": s.opens, "closes_at": s.closes}
                for d in s.days] if rng.random() < 0.6 else [],
                contacts=[{"id": str(rng.randint(10 ** 6, 10 ** 7)), "name": "", "title": "", "phones": [{"id": "p" + rid, "number": phone}]}]
                if phone else [],
                service_taxonomys=[{"id": str(rng.randint(10 ** 6, 10 ** 7)), "taxonomy": {
                    "id": f"esdServiceType:{int(hashlib.md5(s.category.encode()).hexdigest()[:3], 16)}", "name": CATEGORY[s.category], "vocabulary": "esdServiceTypes"}}],
                eligibilitys=[], languages=[{"id": "l" + rid, "language": "English"}], holiday_schedules=[], fundings=[],
                service_areas=[], cost_options=[], reviews=[])
            (folder / "services" / "by-id" / f"{rid}.json").write_text(json.dumps(detail, ensure_ascii=False), encoding="utf-8")
        pages = self._pages(items, src.per_page, lambda chunk, n, total: {
            "totalElements": len(items), "totalPages": total, "number": n, "size": src.per_page, "first": n == 1,
            "last": n == total, "empty": not chunk, "content": chunk})
        self._write_pages(folder / "services", pages)
        return {"records": len(items), "endpoint": "/services", "per_page": src.per_page, "pages": len(pages),
                "files": "services/page-NNNN.json (list items: one-to-one fields + organization only); "
                         "services/by-id/<id>.json = GET /services/{id} (full nested, no locations)"}

    # OpenActive: SessionSeries in an RPDE feed ordered by (modified, id), with tombstones and ties.
    def write_rpde(self, src: Source, folder: Path, rows: list) -> dict:
        rng = self.rng
        base = "https://opendata.bookings.example.co.uk/session-series"
        items, stamp = [], 1_740_787_000_000
        for rid, s, name in rows:
            stamp += rng.choice([0, 0, 1, 37, 1250])      # ties in `modified` on purpose
            v = s.venue
            data = {"@context": ["https://openactive.io/", "https://openactive.io/ns-beta"], "@type": "SessionSeries",
                    "@id": f"{base}/{rid}", "identifier": rid, "name": name, "description": publish_description(rng, s),
                    "activity": [{"@type": "Concept", "@id": f"https://openactive.io/activity-list#{uuid.uuid5(uuid.NAMESPACE_URL, s.activity or 'x')}",
                                  "prefLabel": s.activity, "inScheme": "https://openactive.io/activity-list"}],
                    "organizer": {"@type": "Organization", "name": s.org.name, "url": f"https://www.{s.org.domain}/",
                                  **({"telephone": p} if (p := publish_phone(rng, s.phone, src.style)) else {})},
                    "url": f"https://bookings.{s.org.domain}/activities/{_slug(s.name)}/{rid.lower()}",
                    "eventSchedule": [{"@type": "Schedule", "scheduledEventType": "ScheduledSession",
                                       "byDay": [f"https://schema.org/{DAY_NAMES[d]}" for d in s.days],
                                       "startTime": s.opens, "endTime": s.closes, "repeatFrequency": "P1W",
                                       "scheduleTimezone": "Europe/London", "startDate": "2025-01-06"}]}
            if v:
                data["location"] = {"@type": "Place", "name": v.name,
                                    "address": {"@type": "PostalAddress", "streetAddress": publish_address(rng, v),
                                                "addressLocality": v.place.town, "postalCode": publish_postcode(rng, v.place.postcode),
                                                "addressCountry": "GB"},
                                    "geo": {"@type": "GeoCoordinates", "latitude": v.place.lat, "longitude": v.place.lon}}
            items.append({"state": "updated", "kind": "SessionSeries", "id": rid, "modified": stamp, "data": data})
        for _ in range(max(3, len(items) // 40)):   # tombstones of series withdrawn
            stamp += rng.choice([0, 13, 900])
            items.append({"state": "deleted", "kind": "SessionSeries", "id": f"DEL{rng.randint(10 ** 7, 10 ** 8)}", "modified": stamp})
        items.sort(key=lambda x: (x["modified"], x["id"]))
        (folder / "feed").mkdir()
        lines, after = [], None
        n = 0
        for start in range(0, len(items) + 1, src.per_page):
            n += 1
            chunk = items[start:start + src.per_page]
            url = src.base_url + (f"?afterTimestamp={after[0]}&afterId={after[1]}" if after else "")
            nxt = f"{src.base_url}?afterTimestamp={chunk[-1]['modified']}&afterId={chunk[-1]['id']}" if chunk else url
            (folder / "feed" / f"page-{n:04d}.json").write_text(json.dumps({"next": nxt, "items": chunk, "license":
                                                                            "https://creativecommons.org/licenses/by/4.0/"}))
            lines.append(f"page-{n:04d}.json\t{url}")
            if chunk:
                after = (chunk[-1]["modified"], chunk[-1]["id"])
        (folder / "feed" / "pages.txt").write_text("\n".join(lines) + "\n")
        live = sum(1 for i in items if i["state"] == "updated")
        return {"records": live, "endpoint": "/feed (RPDE, afterTimestamp+afterId ordering)", "per_page": src.per_page,
                "pages": n, "tombstones": len(items) - live,
                "files": "feed/page-NNNN.json in crawl order; feed/pages.txt maps each file to the URL that serves it"}

    # CSV: an Excel-style export; free-text days and times, phones that lost their zero, cut descriptions.
    def write_csv(self, src: Source, folder: Path, rows: list) -> dict:
        rng = self.rng
        header = ["ID", "Service Name", "Organisation", "Description", "Address 1", "Address 2", "Town", "Postcode",
                  "Telephone", "Email", "Website", "Day", "Start", "End", "Category", "Age Range", "Last Updated"]
        with (folder / "services.csv").open("w", newline="", encoding="utf-8-sig") as f:
            w = csv.writer(f)
            w.writerow(header)
            for rid, s, name in rows:
                v = s.venue
                day = self._free_text_days(s.days)
                w.writerow([rid, name, s.org.name, publish_description(rng, s)[:255],
                            (v.name if rng.random() < 0.5 else publish_address(rng, v)) if v else "",
                            (publish_address(rng, v) if rng.random() < 0.5 else v.place.area) if v else "",
                            v.place.town if v else "", publish_postcode(rng, v.place.postcode) or "" if v else "",
                            publish_phone(rng, s.phone, src.style, lose_zero=0.3) or "",
                            s.email if rng.random() < 0.7 else "", publish_url(rng, s) or "", day,
                            self._free_text_time(s.opens), self._free_text_time(s.closes), CATEGORY[s.category], s.age,
                            f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.choice([2022, 2023, 2024, 2025])}"])
        return {"records": len(rows), "files": "services.csv (UTF-8 with BOM, Excel-style export, one row per service)"}

    def _free_text_days(self, days: list[str]) -> str:
        rng = self.rng
        if len(days) == 5 and days == DAYS[:5]:
            return rng.choice(["Weekdays", "Mon-Fri", "Monday to Friday"])
        d = DAY_NAMES[days[0]]
        return rng.choice([d, d[:3], f"Every {d}", f"{d}s", f"1st {d} of month"])

    def _free_text_time(self, hhmm: str) -> str:
        h, m = int(hhmm[:2]), hhmm[3:]
        return self.rng.choice([hhmm, f"{h}.{m}", f"{h % 12 or 12}{'' if m == '00' else '.' + m}{'am' if h < 12 else 'pm'}"])

    @staticmethod
    def _pages(items: list, per_page: int, envelope) -> list[dict]:
        total = max(1, math.ceil(len(items) / per_page))
        return [envelope(items[(n - 1) * per_page: n * per_page], n, total) for n in range(1, total + 1)]

    @staticmethod
    def _write_pages(folder: Path, pages: list[dict]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for n, page in enumerate(pages, start=1):
            (folder / f"page-{n:04d}.json").write_text(json.dumps(page, ensure_ascii=False), encoding="utf-8")


# -- hard negatives ----------------------------------------------------------------------------------

def _one_word_apart(a: str, b: str) -> bool:
    wa, wb = a.lower().split(), b.lower().split()
    return len(wa) == len(wb) and sum(x != y for x, y in zip(wa, wb)) == 1 or \
        (abs(len(wa) - len(wb)) == 1 and (set(wa) <= set(wb) or set(wb) <= set(wa)))


def hard_negatives(services: list[Service]) -> list[tuple[str, str, str]]:
    """Pairs of distinct services that look alike, each with its strongest reason:
    qualifier_sibling (one organisation, names a word apart), same_venue, same_org, shared_phone,
    same_franchise_service_other_town (one name, another town), similar_name_nearby (one name, same
    town, another venue)."""
    groups: dict[tuple, list[Service]] = defaultdict(list)
    for s in services:
        if s.venue:
            groups[("venue", s.venue.id)].append(s)
        groups[("org", s.org.id)].append(s)
        groups[("phone", s.phone.replace(" ", ""))].append(s)
        groups[("name", s.name.lower())].append(s)
    reasons: dict[tuple[str, str], str] = {}
    rank = {"qualifier_sibling": 0, "same_venue": 1, "same_org": 2, "shared_phone": 3,
            "same_franchise_service_other_town": 4, "similar_name_nearby": 5}
    for (what, _), members in groups.items():
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                if what == "org" and _one_word_apart(a.name, b.name) and a.name != b.name:
                    reason = "qualifier_sibling"
                elif what == "venue":
                    reason = "same_venue"
                elif what == "org":
                    reason = "same_org"
                elif what == "phone":
                    reason = "shared_phone"
                else:
                    ta = a.venue.place.town if a.venue else None
                    tb = b.venue.place.town if b.venue else None
                    reason = "similar_name_nearby" if ta and ta == tb else "same_franchise_service_other_town"
                key = (a.entity, b.entity) if a.entity < b.entity else (b.entity, a.entity)
                if key not in reasons or rank[reason] < rank[reasons[key]]:
                    reasons[key] = reason
    return [(a, b, r) for (a, b), r in sorted(reasons.items())]


# -- the no-venue single-source set ------------------------------------------------------------------

def novenue_records(world: World, rng: random.Random) -> list[tuple[dict, str]]:
    """(ORUK v3 object, entity) for a directory of names, organisations, e-mails and web sites only;
    about one service in eight is listed again (twice or three times) with other habits."""
    out = []
    style_first = Style(context=0.1, context_forms=("org_colon", "org_dash", "org_paren"), typo=0.03)
    style_again = Style(context=0.45, context_forms=("org_colon", "org_dash", "org_paren"), typo=0.25, abbreviate=0.3, case=0.15)
    for s in world.services:
        copies = 1 + (rng.random() < 0.12) + (rng.random() < 0.02)
        for n in range(copies):
            name = publish_name(rng, s, style_first if n == 0 else style_again, None)
            obj = {"id": world.uid(), "name": name, "description": publish_description(rng, s) if rng.random() < 0.7 else None,
                   "url": publish_url(rng, s), "email": (s.email if rng.random() < 0.7 else s.org.email) if rng.random() < 0.8 else None,
                   "status": "active",
                   "organization": {"id": f"org-{s.org.id}-{n}", "name": s.org.name if rng.random() < 0.9 else s.org.name.upper(),
                                    "website": f"https://www.{s.org.domain}/" if rng.random() < 0.6 else None,
                                    "email": s.org.email if rng.random() < 0.4 else None},
                   "service_at_locations": []}
            out.append((obj, s.entity))
    rng.shuffle(out)
    return out


# -- writing a set -----------------------------------------------------------------------------------

def write_common(out: Path, seed: int, services: list[Service], truth: list[tuple[str, str, str]],
                 sources_meta: list[dict], started: float) -> dict:
    with (out / "truth.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["source_id", "record_id", "entity_id"])
        w.writerows(truth)
    listed = {e for _, _, e in truth}
    hn = hard_negatives([s for s in services if s.entity in listed])
    with (out / "hard_negatives.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["entity_a", "entity_b", "reason"])
        w.writerows(hn)
    with (out / "entities.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["entity_id", "name", "hazard", "organisation", "venue", "postcode", "town", "phone"])
        for s in services:
            if s.entity in listed:
                w.writerow([s.entity, s.name, s.kind, s.org.name, s.venue.name if s.venue else "",
                            s.venue.place.postcode if s.venue else "", s.venue.place.town if s.venue else "", s.phone])
    per_entity = Counter(Counter(e for _, _, e in truth).values())
    manifest = {"seed": seed, "generator": "benchmarks/gen_eval_set.py", "n_entities": len(listed), "sources": sources_meta,
                "n_records": len(truth), "records_per_entity": {str(k): v for k, v in sorted(per_entity.items())},
                "true_pairs": sum(v * k * (k - 1) // 2 for k, v in per_entity.items()),
                "hazards": dict(Counter(s.kind for s in services if s.entity in listed)),
                "hard_negative_entity_pairs": len(hn), "hard_negative_reasons": dict(Counter(r for _, _, r in hn)),
                "truth": "truth.csv", "hard_negatives": "hard_negatives.csv", "entities": "entities.csv (hidden truth, debugging only)",
                "seconds": round(time.perf_counter() - started, 1)}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def generate_hard(out: Path, seed: int, n_services: int) -> dict:
    started = time.perf_counter()
    world = World(seed, n_services)
    world.build()
    pub = Publisher(world, out, seed)
    pub.write()
    meta = [{"id": src.id, "kind": src.kind, "path": src.id, "publisher_base_url": src.base_url, **pub.counts[src.id]}
            for src in SOURCES]
    return write_common(out, seed, world.services, pub.truth, meta, started)


def generate_novenue(out: Path, seed: int, n_services: int) -> dict:
    started = time.perf_counter()
    world = World(seed, n_services)
    world.build()
    rng = random.Random(seed + 2)
    records = novenue_records(world, rng)
    sid = "council-directory"
    folder = out / sid
    (folder / "services").mkdir(parents=True)
    (folder / "index.json").write_text(json.dumps({"version": "3.0"}))
    objs = [o for o, _ in records]
    pages = Publisher._pages(objs, 100, lambda chunk, n, total: {
        "total_items": len(objs), "total_pages": total, "page_number": n, "size": len(chunk), "first_page": n == 1,
        "last_page": n == total, "empty": not chunk, "contents": chunk})
    Publisher._write_pages(folder / "services", pages)
    meta = [{"id": sid, "kind": "oruk_v3", "path": sid, "publisher_base_url": "https://directory.council.example.gov.uk/oruk",
             "records": len(objs), "endpoint": "/services", "per_page": 100, "pages": len(pages),
             "files": "services/page-NNNN.json (names, organisations, e-mails and web sites only: no venues)"}]
    truth = [(sid, o["id"], e) for o, e in records]
    return write_common(out, seed, world.services, truth, meta, started)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", choices=["hard", "novenue"], default="hard")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--services", type=int, help="services in the world (default 3000 hard, 1200 novenue)")
    ap.add_argument("--out", help="the folder to write (default /tmp/placecat-sets/<kind>-<seed>); replaced if it exists")
    a = ap.parse_args(argv)
    n = a.services or (3000 if a.kind == "hard" else 1200)
    out = Path(a.out or f"/tmp/placecat-sets/{a.kind}-{a.seed}")
    if out.resolve().is_relative_to(REPO):
        sys.exit(f"--out {out}: write labelled sets outside the repository (e.g. /tmp/placecat-sets)")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    manifest = (generate_hard if a.kind == "hard" else generate_novenue)(out, a.seed, n)
    print(f"wrote {out}: {manifest['n_records']} records of {manifest['n_entities']} services from "
          f"{len(manifest['sources'])} source(s); true pairs {manifest['true_pairs']}; records per service "
          f"{manifest['records_per_entity']}; hard negatives {manifest['hard_negative_reasons']} ({manifest['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
