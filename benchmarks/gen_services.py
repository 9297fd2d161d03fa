"""A labelled generator of multi-source service listings with every hard case of real directories.

Each *service* (the truth) is listed by some of four sources, each with its own publishing
habits. Hard cases, on purpose:

* leisure centres and community hubs with many classes at one address with one phone;
* franchises in many towns sharing a name and a national (0300/0800) number;
* one organisation running several services from one office (same phone, email, website);
* near-identical names at nearby venues ("St Mary's Toddler Group" / "St Mark's Toddler Group");
* publishing noise: '&'/'and', case, 'The'/'Ltd', St/Saint, apostrophes, typos, town suffixes,
  phone formats and extensions, postcode spacing and case, missing fields, jittered coordinates,
  neighbouring postcodes, different taxonomies, rewritten descriptions, www/trailing slashes.

``generate(n_services, seed)`` returns a pandas DataFrame in the shape of ``work.match_input``
plus the truth columns ``entity``, ``venue`` and ``org`` (never shown to the matcher).
``python benchmarks/gen_services.py N OUT.jsonl`` writes ORUK v3 service objects for ``placecat match``.
"""
from __future__ import annotations

import json
import random
import sys

import pandas as pd

TOWNS = [("Leeds", "LS", 53.80, -1.55), ("Bradford", "BD", 53.79, -1.75), ("Hull", "HU", 53.74, -0.33),
         ("York", "YO", 53.96, -1.08), ("Sheffield", "S", 53.38, -1.47), ("Wakefield", "WF", 53.68, -1.50),
         ("Halifax", "HX", 53.72, -1.86), ("Huddersfield", "HD", 53.65, -1.78), ("Doncaster", "DN", 53.52, -1.13),
         ("Harrogate", "HG", 54.00, -1.54), ("Manchester", "M", 53.48, -2.24), ("Bolton", "BL", 53.58, -2.43),
         ("Oldham", "OL", 53.54, -2.11), ("Preston", "PR", 53.76, -2.70), ("Lincoln", "LN", 53.23, -0.54),
         ("Nottingham", "NG", 52.95, -1.15), ("Derby", "DE", 52.92, -1.48), ("Leicester", "LE", 52.64, -1.13),
         ("Coventry", "CV", 52.41, -1.51), ("Stoke", "ST", 53.00, -2.18)]
ACTIVITIES = ["Coffee Morning", "Lunch Club", "Memory Cafe", "Toddler Group", "Stay and Play", "Food Bank",
              "Debt Advice", "Benefits Advice", "Housing Advice", "Carers Support Group", "Men's Shed",
              "Knit and Natter", "Walking Group", "Chair Yoga", "Aquafit", "Junior Gym", "Adult Swimming Lessons",
              "Walking Football", "Youth Club", "Homework Club", "Baby Massage", "Breastfeeding Support",
              "Stop Smoking Clinic", "Talking Therapies", "Bereavement Support", "Dementia Friends", "Job Club",
              "English Conversation Club", "Digital Skills Drop-in", "Repair Cafe", "Community Choir", "Art Group",
              "Parkinson's Support Group", "Stroke Club", "Healthy Eating Course", "Family Support Drop-in",
              "Board Games Night", "Pilates", "Zumba", "Tai Chi", "Boxing Fitness", "Swimming for Over 50s",
              "Table Tennis", "Badminton", "Reading Group", "Veterans Breakfast Club", "Gardening Club",
              "Money Advice", "Welfare Rights", "Young Carers Club"]
QUALIFIERS = ["", "", "", "Over 50s", "Women's", "Family", "Community", "Evening", "Saturday", "Junior", "Senior"]
LEISURE_CLASSES = ["Aquafit", "Aqua Aerobics", "Adult Swimming Lessons", "Junior Swimming Lessons", "Chair Yoga",
                   "Yoga", "Pilates", "Walking Football", "Junior Gym", "Gym Induction", "Spin Class", "Zumba",
                   "Boxing Fitness", "Circuits", "Badminton", "Table Tennis", "Swimming for Over 50s", "Parent and Baby Swim",
                   "Family Swim", "Body Pump", "Tai Chi", "Netball", "Walking Netball", "Climbing Wall Taster"]
CHURCH_SAINTS = ["Mary", "Mark", "Matthew", "Michael", "Margaret", "Martin", "Luke", "John", "James", "Peter", "Paul", "Andrew"]
FRANCHISES = [("Age UK", "Over 50s Lunch Club", "0800 678 1602"), ("Citizens Advice", "Debt Advice Drop-in", "0800 144 8848"),
              ("Mind", "Wellbeing Cafe", "0300 123 3393"), ("Home-Start", "Family Support Group", "0800 068 6368"),
              ("Alzheimer's Society", "Memory Cafe", "0333 150 3456"), ("Samaritans", "Listening Drop-in", "0330 094 5717"),
              ("Parkrun", "Junior Parkrun", "0300 300 1000"), ("Macmillan", "Cancer Information Drop-in", "0808 808 0000")]
STREETS = ["High Street", "Church Street", "Station Road", "Park Lane", "Mill Road", "Victoria Road", "Green Lane",
           "King Street", "Queen Street", "Market Place", "Chapel Lane", "School Lane", "Cross Street", "North Road"]
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
SOURCES = [("council", 0.75), ("nhs", 0.45), ("vcs", 0.6), ("activity", 0.4)]
TERMS = {"council": ["esd:{}"], "nhs": ["esd:{}"], "vcs": ["open-eligibility:{}"], "activity": ["oa:{}"]}


def _postcode(rng: random.Random, prefix: str) -> str:
    return f"{prefix}{rng.randint(1, 29)} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"


def _phone(rng: random.Random) -> str:
    return f"01{rng.randint(13, 99)} {rng.randint(200, 999)} {rng.randint(1000, 9999)}"


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in s.lower()).strip("-")


class World:
    """Venues, organisations and the true services."""

    def __init__(self, n_services: int, seed: int):
        self.rng = random.Random(seed)
        self.services: list[dict] = []
        self.venues: list[dict] = []
        self.orgs: list[dict] = []
        self.n_target = n_services
        self._build()

    def venue(self, town, kind: str, name: str) -> dict:
        rng = self.rng
        _, prefix, lat, lon = town
        v = {"id": len(self.venues), "town": town[0], "kind": kind, "name": name,
             "address": f"{rng.randint(1, 240)} {rng.choice(STREETS)}", "postcode": _postcode(rng, prefix),
             "lat": lat + rng.uniform(-0.06, 0.06), "lon": lon + rng.uniform(-0.09, 0.09), "phone": _phone(rng),
             "uprn": str(rng.randint(10_000_000, 99_999_999_999)) if rng.random() < 0.5 else None}
        self.venues.append(v)
        return v

    def org(self, name: str, phone: str | None = None, domain: str | None = None, national: bool = False) -> dict:
        rng = self.rng
        o = {"id": len(self.orgs), "name": name, "phone": phone or _phone(rng),
             "domain": domain or f"{_slug(name).replace('-', '')[:18]}{rng.randint(1, 99)}.org.uk",
             "charity": str(rng.randint(200_000, 1_199_999)) if rng.random() < 0.6 else None, "national": national}
        self.orgs.append(o)
        return o

    def service(self, name: str, org: dict, venue: dict, term: str, phone: str | None = None, kind: str = "plain") -> None:
        rng = self.rng
        day = rng.choice(DAYS)
        hour = rng.choice([9, 10, 11, 13, 14, 18, 19])
        self.services.append({
            "entity": len(self.services), "name": name, "org": org, "venue": venue, "term": term, "kind": kind,
            "phone": phone or (venue["phone"] if rng.random() < 0.5 else org["phone"]),
            "email": f"{_slug(name)[:12].strip('-') or 'info'}@{org['domain']}" if rng.random() < 0.5 else f"info@{org['domain']}",
            "url": f"https://www.{org['domain']}/{_slug(name)}",
            "day": day, "opens": f"{hour:02d}:{rng.choice(['00', '30'])}",
            "description": f"{name} run by {org['name']} at {venue['name']}: " + rng.choice([
                "a friendly weekly session, everyone welcome.", "free, no need to book.",
                "booking essential, small charge.", "drop in any time during the session."]),
            "ofsted": f"EY{rng.randint(100000, 999999)}" if term == "childcare" and rng.random() < 0.7 else None,
        })

    def _build(self) -> None:
        rng = self.rng
        while len(self.services) < self.n_target:
            town = rng.choice(TOWNS)
            roll = rng.random()
            if roll < 0.12:     # a leisure centre: many classes, one address and phone
                v = self.venue(town, "leisure", f"{town[0]} {rng.choice(['Leisure Centre', 'Sports Centre', 'Aquatics Centre'])}")
                o = self.org(f"{town[0]} Active Leisure")
                for cls in rng.sample(LEISURE_CLASSES, rng.randint(8, 20)):
                    self.service(cls, o, v, "sport", phone=v["phone"], kind="leisure")
            elif roll < 0.22:   # a franchise: the same name and national number in many towns
                fname, sname, national = rng.choice(FRANCHISES)
                o = self.org(fname, phone=national, domain=f"{_slug(fname).replace('-', '')}.org.uk", national=True)
                for t in rng.sample(TOWNS, rng.randint(2, 5)):
                    v = self.venue(t, "hall", f"{t[0]} {rng.choice(['Community Centre', 'Methodist Church Hall', 'Library'])}")
                    self.service(sname, o, v, "support", phone=national, kind="franchise")
            elif roll < 0.34:   # one organisation, several services, one office
                o = self.org(f"{town[0]} {rng.choice(['Advice Centre', 'Community Action', 'Carers Network', 'Family Hub'])}")
                v = self.venue(town, "office", o["name"])
                for act in rng.sample(ACTIVITIES, rng.randint(3, 6)):
                    self.service(act, o, v, "advice", phone=o["phone"], kind="org-siblings")
            elif roll < 0.44:   # near-identical names at nearby churches
                saints = rng.sample(CHURCH_SAINTS, 2)
                act = rng.choice(["Toddler Group", "Lunch Club", "Coffee Morning", "Youth Club"])
                base = self.venue(town, "church", f"St {saints[0]}'s Church")
                for s in saints:
                    v = self.venue(town, "church", f"St {s}'s Church")
                    v["lat"], v["lon"] = base["lat"] + rng.uniform(-0.004, 0.004), base["lon"] + rng.uniform(-0.004, 0.004)
                    o = self.org(f"St {s}'s Parish Church")
                    self.service(f"St {s}'s {act}", o, v, "childcare" if act == "Toddler Group" else "community", kind="near-name")
            else:               # an ordinary community venue with a few unrelated groups
                v = self.venue(town, "hub", f"{rng.choice(['Northfield', 'Southside', 'Oakwood', 'Riverside', 'Hillside', 'Meadow'])} "
                                             f"{rng.choice(['Community Centre', 'Hub', 'Village Hall'])}")
                for _ in range(rng.randint(1, 4)):
                    act = rng.choice(ACTIVITIES)
                    q = rng.choice(QUALIFIERS)
                    o = self.org(f"{rng.choice(['Friends of', 'Together', 'Bright Futures', 'Open Door', 'Hope'])} {v['name'].split()[0]}")
                    self.service(f"{q} {act}".strip(), o, v, rng.choice(["community", "health", "childcare", "support"]))


# --- publishing noise --------------------------------------------------------------------------

def _typo(rng: random.Random, s: str) -> str:
    if len(s) < 6:
        return s
    i = rng.randint(1, len(s) - 3)
    return s[:i] + s[i + 1] + s[i] + s[i + 2:] if rng.random() < 0.5 else s[:i] + s[i + 1:]


def _noisy_name(rng: random.Random, name: str, town: str) -> str:
    s = name
    if rng.random() < 0.3:
        s = s.replace(" and ", " & ") if " and " in s else s.replace(" & ", " and ")
    if rng.random() < 0.2:
        s = s.replace("'", "")
    if rng.random() < 0.15:
        s = s.replace("St ", "Saint ") if "St " in s else s
    if rng.random() < 0.1:
        s = s.upper()
    elif rng.random() < 0.1:
        s = s.lower()
    if rng.random() < 0.1:
        s = "The " + s
    if rng.random() < 0.06:
        s = _typo(rng, s)
    if rng.random() < 0.08:
        s = f"{s} - {town}"
    return s


def _noisy_phone(rng: random.Random, phone: str) -> str | None:
    if rng.random() < 0.12:
        return None
    digits = phone.replace(" ", "")
    style = rng.random()
    if style < 0.25:
        return "+44 " + digits[1:4] + " " + digits[4:7] + " " + digits[7:]
    if style < 0.4:
        return digits
    if style < 0.5:
        return "+44 (0)" + digits[1:]
    if style < 0.55:
        return phone + " ext " + str(rng.randint(10, 99))
    return phone


def _noisy_postcode(rng: random.Random, pc: str) -> str | None:
    r = rng.random()
    if r < 0.08:
        return None
    if r < 0.2:
        return pc.replace(" ", "").lower()
    if r < 0.24:   # a neighbouring postcode in the same sector
        return pc[:-2] + rng.choice("ABDEFGHJ") + rng.choice("ABDEFGHJ")
    return pc


def _noisy_address(rng: random.Random, address: str, venue_name: str) -> str:
    r = rng.random()
    if r < 0.2:
        return f"{venue_name}, {address}"
    if r < 0.3:
        return address.replace("Street", "St").replace("Road", "Rd")
    return address


def listing(rng: random.Random, svc: dict, source: str) -> dict:
    v, o = svc["venue"], svc["org"]
    term = TERMS[source][0].format(svc["term"])
    jitter = rng.random() < 0.85
    desc = svc["description"] if rng.random() < 0.5 else f"{svc['name']}. " + rng.choice(
        ["Contact us for details.", "Part of our community programme.", "Run by volunteers.", "Open to all ages."])
    identifiers = []
    if o["charity"] and rng.random() < 0.4:
        identifiers.append(f"Charity Number|{o['charity']}")
    if svc["ofsted"] and rng.random() < 0.5:
        identifiers.append(f"Ofsted URN|{svc['ofsted']}")
    if v["uprn"] and rng.random() < 0.3:
        identifiers.append(f"UPRN|{v['uprn']}")
    url = svc["url"] if rng.random() < 0.6 else (None if rng.random() < 0.5 else f"http://{o['domain']}/")
    return {
        "name": _noisy_name(rng, svc["name"], v["town"]),
        "description": desc if rng.random() < 0.9 else None,
        "url": url, "email": svc["email"] if rng.random() < 0.6 else None,
        "org_name": o["name"] if rng.random() < 0.9 else o["name"] + rng.choice([" Ltd", " CIC", " (Charity)"]),
        "org_url": f"https://{o['domain']}" if rng.random() < 0.5 else None, "org_email": None,
        "identifiers": identifiers,
        "phones": [p for p in [_noisy_phone(rng, svc["phone"])] if p],
        "location_name": v["name"] if rng.random() < 0.7 else None,
        "address": _noisy_address(rng, v["address"], v["name"]) if rng.random() < 0.92 else None,
        "city": v["town"], "postcode": _noisy_postcode(rng, v["postcode"]),
        "latitude": (v["lat"] + rng.uniform(-0.0004, 0.0004)) if jitter else None,
        "longitude": (v["lon"] + rng.uniform(-0.0006, 0.0006)) if jitter else None,
        "schedule": [f"{svc['day']}@{svc['opens'] if rng.random() < 0.8 else ''}"] if rng.random() < 0.75 else [],
        "terms": [term],
        "staging_location_id": None, "staging_org_id": None,
    }


def generate(n_services: int = 5000, seed: int = 42) -> pd.DataFrame:
    world = World(n_services, seed)
    rng = random.Random(seed + 1)
    rows = []
    for svc in world.services:
        listed = [s for s, p in SOURCES if rng.random() < p]
        for source in listed:
            row = listing(rng, svc, source)
            rid = f"{source}-{svc['entity']}-{rng.randint(0, 10**6)}"
            rows.append({"staging_id": f"{source}/{rid}", "source_id": source, "source_record_id": rid, **row,
                         "entity": svc["entity"], "venue": svc["venue"]["id"], "org": svc["org"]["id"],
                         "kind": svc["kind"]})
    return pd.DataFrame(rows)


def to_oruk(row: dict) -> dict:
    """One generated listing as an ORUK v3 service object with source_id (for `placecat match`)."""
    rid = row["source_record_id"]
    ids = [{"identifier_type": t, "identifier": v} for t, v in (x.split("|", 1) for x in row["identifiers"])]
    loc = {"id": f"{rid}-loc", "name": row["location_name"], "latitude": row["latitude"], "longitude": row["longitude"],
           "addresses": [{"id": f"{rid}-addr", "address_1": row["address"], "city": row["city"], "postal_code": row["postcode"],
                          "address_type": "physical"}]}
    sched = [{"id": f"{rid}-s{n}", "freq": "WEEKLY", "byday": s.split("@")[0], **({"opens_at": s.split("@")[1]} if s.split("@")[1] else {})}
             for n, s in enumerate(row["schedule"])]
    return {"source_id": row["source_id"], "id": rid, "name": row["name"], "description": row["description"],
            "url": row["url"], "email": row["email"], "status": "active",
            "organization": {"id": f"{rid}-org", "name": row["org_name"], "website": row["org_url"],
                             "organization_identifiers": [i for i in ids if "UPRN" not in i["identifier_type"]]},
            "service_at_locations": [{"id": f"{rid}-sal", "location": loc}],
            "phones": [{"id": f"{rid}-p{n}", "number": p} for n, p in enumerate(row["phones"])],
            "schedules": sched,
            "attributes": [{"id": f"{rid}-a{n}", "taxonomy_term": {"id": t, "name": t, "term": t}} for n, t in enumerate(row["terms"])]}


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    out = sys.argv[2] if len(sys.argv) > 2 else "services.jsonl"
    frame = generate(n)
    with open(out, "w") as f:
        for row in frame.to_dict("records"):
            f.write(json.dumps(to_oruk(row)) + "\n")
    print(f"wrote {len(frame)} listings of {n} services to {out}")
