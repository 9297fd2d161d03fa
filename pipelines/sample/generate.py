"""Writes the bundled demo sample: three ORUK v3 sources for Leeds, with shared services.

The data is invented for placecat (no real directory's records), but shaped like real feeds:
the same service appears in several directories with different phone formats, name spellings,
descriptions and freshness; a leisure centre runs several classes at one address and phone; a
charity has branches in several places. Run `python pipelines/sample/generate.py` to rewrite it.
"""
from __future__ import annotations

import csv
import json
import random
import uuid
from pathlib import Path

HERE = Path(__file__).parent
NS = uuid.UUID("0b6f3c1e-8a7d-4f3e-9c21-5d4b7a6e2f10")


def uid(*parts: str) -> str:
    return str(uuid.uuid5(NS, "/".join(parts)))


def read_rows(name: str) -> list[dict]:
    """The rows of a CSV beside this file: the sample's services are declared as data there."""
    with (HERE / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


# Services of Leeds, each listed by the council and, where `also_listed_by` says so, by the NHS
# and voluntary-sector directories too.
SERVICES = read_rows("services.csv")
# A leisure centre: several different classes at one address with one phone (must NOT merge).
LEISURE = read_rows("leisure.csv")
LEISURE_SITE = ("John Charles Centre for Sport", "Middleton Grove", "LS11 5DJ", 53.7717, -1.5466, "0113 395 0000")
# One charity, the same name in several places (must not merge across towns).
BRANCHES = [
    ("Age UK Leeds", "Over 50s Lunch Club", "LS15 8GB", "Cross Gates Community Centre", 53.8067, -1.4523),
    ("Age UK Leeds", "Over 50s Lunch Club", "LS27 8AN", "Morley Town Hall", 53.7400, -1.5986),
]


def variant_phone(phone: str, style: int) -> str:
    digits = phone.replace(" ", "")
    if style == 1:
        return "+44 " + digits[1:4] + " " + digits[4:7] + " " + digits[7:]
    if style == 2:
        return digits
    return phone


def listing(src: str, s: dict, assured: str, **changes) -> dict:
    """``s`` (a row of services.csv) as listed by directory ``src``, with ``changes`` to its fields."""
    f = {**s, **changes}
    return service_obj(src, f["key"], f["name"], f["organization"], f["description"], f["postcode"], f["address"],
                       float(f["latitude"]), float(f["longitude"]), f["phone"], f["email"], f["url"],
                       (f["esd_id"], f["esd_name"]), f["day"], f["opens"], f["closes"], assured)


def service_obj(src: str, key: str, name: str, org: str, desc: str, postcode: str, addr: str, lat, lon,
                phone: str, email: str, url: str, term, day: str, opens: str, closes: str,
                assured: str, extra_term=None) -> dict:
    sid = uid(src, "service", key)
    loc_key = f"{addr}|{postcode}"
    obj = {
        "id": sid,
        "name": name,
        "description": desc,
        "url": url,
        "email": email,
        "status": "active",
        "assured_date": assured,
        "organization": {"id": uid(src, "org", org), "name": org, "description": f"{org}, Leeds.",
                         "website": url.split("/", 3)[0] + "//" + url.split("/", 3)[2]},
        "contacts": [{"id": uid(src, "contact", key), "name": None, "title": "Enquiries",
                      "phones": [{"id": uid(src, "phone", key), "number": phone}]}],
        "schedules": [{"id": uid(src, "schedule", key), "freq": "WEEKLY", "interval": 1, "byday": day,
                       "opens_at": opens + ":00", "closes_at": closes + ":00"}],
        "service_at_locations": [{
            "id": uid(src, "sal", key),
            "location": {
                "id": uid(src, "location", loc_key), "location_type": "physical", "name": addr.split(",")[0],
                "latitude": lat, "longitude": lon,
                "addresses": [{"id": uid(src, "address", loc_key), "address_1": addr, "city": "Leeds",
                               "state_province": "West Yorkshire", "postal_code": postcode, "country": "GB",
                               "address_type": "physical"}],
            },
        }],
        "attributes": [],
    }
    if term:
        obj["attributes"].append({
            "id": uid(src, "attr", key),
            "taxonomy_term": {"id": uid("esd", term[0]), "name": term[1], "description": term[1],
                              "taxonomy": "esdServiceTypes", "term_uri": f"http://id.esd.org.uk/service/{term[0]}"},
        })
    return obj


def page(items: list[dict], n: int, per_page: int, total: int) -> dict:
    pages = (total + per_page - 1) // per_page
    return {"total_items": total, "total_pages": pages, "page_number": n, "size": len(items),
            "first_page": n == 1, "last_page": n == pages, "empty": not items, "contents": items}


def write_source(name: str, services: list[dict], per_page: int = 10) -> None:
    folder = HERE / "feeds" / name
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.json"):
        old.unlink()
    for i in range(0, len(services), per_page):
        n = i // per_page + 1
        (folder / f"services-page-{n:03d}.json").write_text(
            json.dumps(page(services[i:i + per_page], n, per_page, len(services)), indent=1, ensure_ascii=False) + "\n",
            encoding="utf-8")


def main() -> None:
    rng = random.Random(20261122)
    council, nhs, vcs = [], [], []
    for s in SERVICES:
        council.append(listing("council", s, "2026-09-14"))
    for c in LEISURE:
        site, street, pc, lat, lon, phone = LEISURE_SITE
        council.append(service_obj("council", c["key"], c["name"], "Active Leeds", c["description"], pc,
                                   f"{site}, {street}", lat, lon, phone, "active.leeds@leeds.gov.uk",
                                   "https://active.leeds.gov.uk", ("1531", "Sport and leisure"), c["day"],
                                   c["opens"], c["closes"], "2026-10-01"))
    for org, name, pc, addr, lat, lon in BRANCHES:
        council.append(service_obj("council", f"lunch-{pc}", name, org, "Hot two-course lunch and company.", pc, addr,
                                   lat, lon, "0113 389 3000", "info@ageukleeds.org.uk",
                                   "https://www.ageukleeds.org.uk/lunch-clubs", ("1002", "Befriending"), "TU",
                                   "12:00", "14:00", "2026-08-20"))

    # The NHS directory lists the health and wellbeing services again, its own way.
    for s in SERVICES:
        if "nhs" not in s["also_listed_by"].split():
            continue
        key = s["key"]
        nhs.append(listing("nhs", s, "2025-11-02", name=s["name"].upper() if key == "stop-smoking" else s["name"],
                           description=s["description"] + " Self-referral accepted.",
                           postcode=s["postcode"].replace(" ", "").lower() if key == "memory-cafe" else s["postcode"],
                           latitude=round(float(s["latitude"]) + 0.0003, 4),
                           longitude=round(float(s["longitude"]) - 0.0002, 4), phone=variant_phone(s["phone"], 1),
                           closes="17:30" if key == "talking-therapy" else s["closes"]))
    nhs.append(service_obj("nhs", "physio", "MSK Physiotherapy", "Leeds Community Healthcare", "Physiotherapy for muscle and joint problems.",
                           "LS6 1PF", "Hyde Park Surgery, Woodsley Road", 53.8096, -1.5680, "0113 843 4400",
                           "lch.msk@nhs.net", "https://www.leedscommunityhealthcare.nhs.uk", ("1089", "Mental health support"),
                           "TU", "08:30", "16:30", "2026-06-30"))

    # The voluntary-sector directory: food and money help, with its own spellings.
    for s in SERVICES:
        if "vcs" not in s["also_listed_by"].split():
            continue
        vname = {"coffee-chat": "Coffee and Chat", "mens-shed": "Beeston Mens Shed"}.get(s["key"], s["name"])
        vcs.append(listing("vcs", s, "2026-03-01", name=vname, phone=variant_phone(s["phone"], 2)))
    extra = [("credit-union", "Leeds Credit Union Savings Club", "Leeds Credit Union", "Save small amounts and borrow at fair rates.",
              "LS1 4HR", "Leeds Central Library, Calverley Street", 53.8003, -1.5488, "0113 242 3343", "info@leedscu.org",
              "https://www.leedscreditunion.co.uk", ("1452", "Debt advice"), "SA", "10:00", "12:00")]
    for s in extra:
        vcs.append(service_obj("vcs", *s, assured="2026-10-10"))
    rng.shuffle(vcs)
    write_source("leeds-council", council)
    write_source("leeds-nhs-directory", nhs)
    write_source("leeds-vcs-directory", vcs)
    print(f"wrote {len(council)} + {len(nhs)} + {len(vcs)} services")


if __name__ == "__main__":
    main()
