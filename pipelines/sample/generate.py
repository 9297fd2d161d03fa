"""Writes the bundled demo sample: three ORUK v3 sources for Leeds, with shared services.

The data is invented for placecat (no real directory's records), but shaped like real feeds:
the same service appears in several directories with different phone formats, name spellings,
descriptions and freshness; a leisure centre runs several classes at one address and phone; a
charity has branches in several places. Run `python pipelines/sample/generate.py` to rewrite it.
"""
from __future__ import annotations

import json
import random
import uuid
from pathlib import Path

HERE = Path(__file__).parent
NS = uuid.UUID("0b6f3c1e-8a7d-4f3e-9c21-5d4b7a6e2f10")


def uid(*parts: str) -> str:
    return str(uuid.uuid5(NS, "/".join(parts)))


# (key, name, org, description, postcode, address, lat, lon, phone, email, url, esd term, day, opens, closes)
SERVICES = [
    ("coffee-chat", "Coffee & Chat", "Age UK Leeds", "A friendly weekly drop-in for older people to meet, have a cuppa and make new friends.", "LS2 7EY", "Arthington House, Cookridge Street", 53.8019, -1.5456, "0113 389 3000", "info@ageukleeds.org.uk", "https://www.ageukleeds.org.uk/coffee-chat", ("1002", "Befriending"), "WE", "10:00", "12:00"),
    ("memory-cafe", "Memory Cafe", "Age UK Leeds", "Relaxed cafe for people living with dementia and their carers.", "LS11 5RN", "Holbeck Community Centre, Jenkinson Lawn", 53.7861, -1.5532, "0113 389 3000", "info@ageukleeds.org.uk", "https://www.ageukleeds.org.uk/memory-cafe", ("1093", "Dementia support"), "TH", "13:30", "15:30"),
    ("food-bank-chapeltown", "Chapeltown Food Bank", "Leeds North and East Foodbank", "Emergency food parcels for people in crisis; referral voucher needed.", "LS7 3EA", "New Testament Church of God, Chapeltown Road", 53.8147, -1.5301, "0113 262 8420", "info@leedsnortheast.foodbank.org.uk", "https://leedsnortheast.foodbank.org.uk", ("1427", "Food banks"), "TU", "11:00", "14:00"),
    ("food-bank-armley", "Armley Food Bank", "Leeds West Foodbank", "Food parcels and signposting to debt advice.", "LS12 3HP", "Armley Christ Church, Armley Ridge Road", 53.7994, -1.5887, "0113 263 9002", "hello@leedswest.foodbank.org.uk", "https://leedswest.foodbank.org.uk", ("1427", "Food banks"), "FR", "10:00", "13:00"),
    ("carers-support", "Carers Support Group", "Carers Leeds", "Peer support group for unpaid carers, with information about breaks and benefits.", "LS1 6AL", "6-14 Wharf Street", 53.7958, -1.5384, "0113 380 4300", "advice@carersleeds.org.uk", "https://www.carersleeds.org.uk/support-groups", ("1120", "Carers support"), "MO", "18:00", "20:00"),
    ("debt-advice", "Debt Advice Drop-in", "Citizens Advice Leeds", "Free, confidential advice on debts, benefits and budgeting.", "LS1 3JH", "31 New York Street", 53.7969, -1.5371, "0300 330 1193", "advice@citizensadviceleeds.org.uk", "https://www.citizensadviceleeds.org.uk", ("1452", "Debt advice"), "TU", "09:30", "16:00"),
    ("mens-shed", "Beeston Men's Shed", "Beeston Community Action", "A workshop where men can share skills, make things and chat.", "LS11 8PN", "Cross Flatts Park Pavilion", 53.7794, -1.5585, "0113 277 4122", "shed@beestonaction.org.uk", "https://beestonaction.org.uk/mens-shed", ("1002", "Befriending"), "SA", "10:00", "13:00"),
    ("baby-bank", "Leeds Baby Bank", "Zarach", "Beds, clothes and essentials for babies and children in families living in poverty.", "LS9 8AN", "Unit 3, Cross Green Way", 53.7903, -1.5048, "07700 900412", "hello@zarach.org", "https://www.zarach.org", ("1427", "Food banks"), "TH", "10:00", "15:00"),
    ("stop-smoking", "Stop Smoking Clinic", "One You Leeds", "Free stop-smoking support with a trained adviser and nicotine replacement.", "LS10 1LT", "Hunslet Health Centre, Church Street", 53.7782, -1.5313, "0800 169 4219", "oneyouleeds@reedwellbeing.com", "https://oneyouleeds.co.uk", ("1512", "Stop smoking"), "WE", "13:00", "17:00"),
    ("talking-therapy", "Mindwell Talking Therapies", "Leeds Mental Wellbeing Service", "Free NHS talking therapies for anxiety, low mood and stress.", "LS2 9JT", "Woodhouse Lane", 53.8067, -1.5517, "0113 843 4388", "leedsmentalwellbeing@nhs.net", "https://www.leedsmentalwellbeingservice.co.uk", ("1089", "Mental health support"), "MO", "09:00", "17:00"),
    ("youth-club", "Seacroft Youth Club", "Leeds Youth Service", "Open-access youth club for 11-19 year olds: sport, games and trips.", "LS14 6JD", "Seacroft Community Hub, The Green", 53.8189, -1.4612, "0113 378 5000", "youthservice@leeds.gov.uk", "https://www.leeds.gov.uk/youth", ("1277", "Youth clubs"), "TH", "18:00", "21:00"),
    ("walking-group", "Health Walks", "Leeds Parks", "Gentle guided walks of about an hour, open to everyone.", "LS8 2HH", "Roundhay Park Mansion", 53.8331, -1.4969, "0113 378 6000", "parks@leeds.gov.uk", "https://www.leeds.gov.uk/parks", ("1535", "Walking groups"), "SU", "10:00", "11:00"),
]
# A leisure centre: several different classes at one address with one phone (must NOT merge).
LEISURE = [
    ("aquafit", "Aquafit", "Low-impact water exercise class.", "MO", "10:00", "11:00"),
    ("swim-lessons", "Adult Swimming Lessons", "Learn to swim, beginners welcome.", "TU", "19:00", "20:00"),
    ("chair-yoga", "Chair Yoga", "Seated yoga for people with limited mobility.", "WE", "11:00", "12:00"),
    ("walking-football", "Walking Football", "Football at walking pace for over-50s.", "FR", "14:00", "15:00"),
    ("junior-gym", "Junior Gym", "Supervised gym sessions for 11-15 year olds.", "SA", "09:00", "10:00"),
]
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
        key, name, org, desc, pc, addr, lat, lon, phone, email, url, term, day, op, cl = s
        council.append(service_obj("council", key, name, org, desc, pc, addr, lat, lon, phone, email, url,
                                   term, day, op, cl, "2026-09-14"))
    for act_key, act_name, act_desc, day, op, cl in LEISURE:
        site, street, pc, lat, lon, phone = LEISURE_SITE
        council.append(service_obj("council", act_key, act_name, "Active Leeds", act_desc, pc, f"{site}, {street}",
                                   lat, lon, phone, "active.leeds@leeds.gov.uk", "https://active.leeds.gov.uk",
                                   ("1531", "Sport and leisure"), day, op, cl, "2026-10-01"))
    for org, name, pc, addr, lat, lon in BRANCHES:
        council.append(service_obj("council", f"lunch-{pc}", name, org, "Hot two-course lunch and company.", pc, addr,
                                   lat, lon, "0113 389 3000", "info@ageukleeds.org.uk",
                                   "https://www.ageukleeds.org.uk/lunch-clubs", ("1002", "Befriending"), "TU",
                                   "12:00", "14:00", "2026-08-20"))

    # The NHS directory lists the health and wellbeing services again, its own way.
    for s in SERVICES:
        key, name, org, desc, pc, addr, lat, lon, phone, email, url, term, day, op, cl = s
        if key not in ("talking-therapy", "stop-smoking", "memory-cafe", "carers-support", "walking-group", "coffee-chat"):
            continue
        nhs.append(service_obj("nhs", key, name.upper() if key == "stop-smoking" else name, org,
                               desc + " Self-referral accepted.", pc.replace(" ", "").lower() if key == "memory-cafe" else pc,
                               addr, round(lat + 0.0003, 4), round(lon - 0.0002, 4), variant_phone(phone, 1), email,
                               url, term, day, op, "17:30" if key == "talking-therapy" else cl, "2025-11-02"))
    nhs.append(service_obj("nhs", "physio", "MSK Physiotherapy", "Leeds Community Healthcare", "Physiotherapy for muscle and joint problems.",
                           "LS6 1PF", "Hyde Park Surgery, Woodsley Road", 53.8096, -1.5680, "0113 843 4400",
                           "lch.msk@nhs.net", "https://www.leedscommunityhealthcare.nhs.uk", ("1089", "Mental health support"),
                           "TU", "08:30", "16:30", "2026-06-30"))

    # The voluntary-sector directory: food and money help, with its own spellings.
    for s in SERVICES:
        key, name, org, desc, pc, addr, lat, lon, phone, email, url, term, day, op, cl = s
        if key not in ("food-bank-chapeltown", "food-bank-armley", "debt-advice", "baby-bank", "mens-shed", "coffee-chat"):
            continue
        vname = {"coffee-chat": "Coffee and Chat", "mens-shed": "Beeston Mens Shed"}.get(key, name)
        vcs.append(service_obj("vcs", key, vname, org, desc, pc, addr, lat, lon, variant_phone(phone, 2), email,
                               url, term, day, op, cl, "2026-03-01"))
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
