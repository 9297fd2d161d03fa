"""Writes the demo's reference data: a small LGA service-type list and an invented area for Leeds.

Everything here is made up for the demo (codes start E01999/E02999/E05999 so they can never be
mistaken for real ONS codes); only the postcodes and coordinates of the demo services come from
``generate.py``. The files use the column names of the official downloads (esd CSV, ONS postcode
directory, IMD 2019 File 7, ONS lookups), so ``placecat reference load`` reads them the same way.
Run `python pipelines/sample/generate_reference.py` to rewrite ``pipelines/sample/reference/``.
"""
from __future__ import annotations

import csv
import math
import random
import sys
from pathlib import Path

HERE = Path(__file__).parent
OUT = HERE / "reference"
sys.path.insert(0, str(HERE))
from generate import BRANCHES, LEISURE_SITE, SERVICES  # noqa: E402

# The service types the demo's feeds use, plus a few with no service at all (visible gaps).
LGA_TYPES = [
    ("1002", "Befriending", "Volunteers who visit or phone people who are lonely or isolated, to chat and\nkeep them company."),
    ("1089", "Mental health support", "Support for people with anxiety, depression, low mood or other mental health needs, "
                                      "including talking therapies and peer support groups."),
    ("1093", "Dementia support", "Cafes, groups and advice for people living with dementia and their carers."),
    ("1120", "Carers support", "Help for unpaid carers: peer groups, breaks and information about benefits."),
    ("1277", "Youth clubs", "Open-access clubs and activities for young people aged 11 to 19."),
    ("1427", "Food banks", "Emergency food parcels, baby banks and essentials for people in crisis."),
    ("1452", "Debt advice", "Free advice on debts, benefits, budgeting and money problems."),
    ("1512", "Stop smoking", "Support to quit smoking: advisers, nicotine replacement and stop-smoking clinics."),
    ("1531", "Sport and leisure", "Leisure centres, swimming, gym sessions and exercise classes."),
    ("1535", "Walking groups", "Guided health walks and walking groups for all abilities."),
    ("1540", "Lunch clubs", "Lunch clubs for older people: a hot meal and company."),
    ("1550", "Parenting support", "Groups and courses for parents of babies, toddlers and teenagers."),
]
LAD = ("E08999001", "Leeds (demo)")
WARDS = [("E05999001", "City and Hunslet (demo)"), ("E05999002", "Roundhay and Seacroft (demo)"),
         ("E05999003", "Morley and Beeston (demo)")]


def demo_places() -> list[tuple[str, float, float]]:
    places = {(s["postcode"], float(s["latitude"]), float(s["longitude"])) for s in SERVICES}
    places.add((LEISURE_SITE[2], LEISURE_SITE[3], LEISURE_SITE[4]))
    places |= {(b[2], b[4], b[5]) for b in BRANCHES}
    return sorted(places)


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def main() -> None:
    rng = random.Random(8)
    OUT.mkdir(parents=True, exist_ok=True)
    # The esd CSV format: trailing comma in the header, quoted multi-line descriptions.
    with open(OUT / "lga_services.csv", "w", newline="", encoding="utf-8") as f:
        f.write("Identifier,Label,Description,Created,Modified,History notes,Type,\n")
        w = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        for esd_id, label, desc in LGA_TYPES:
            w.writerow([esd_id, label, desc, "2026-11-01", "2026-11-01", "Demo list written by placecat.", "Service", ""])
    # One LSOA per demo place (plus a few with no service), grouped into MSOAs and wards by position.
    places = demo_places()
    lsoas, postcodes = [], []
    extra = [("LS99 1AA", 53.745, -1.470), ("LS99 1AB", 53.860, -1.610), ("LS99 1AD", 53.760, -1.640)]
    for n, (pc, lat, lon) in enumerate(places + extra, start=1):
        code = f"E01999{n:03d}"
        msoa_n = 1 + int((lat - 53.73) * 40) % 6
        ward = WARDS[0] if lon > -1.56 and lat < 53.80 else WARDS[1] if lat >= 53.80 else WARDS[2]
        lsoas.append((code, f"Leeds demo {msoa_n:03d}{chr(64 + n % 26 + 1)}", f"E02999{msoa_n:03d}",
                      f"Leeds demo {msoa_n:03d}", ward, lat, lon))
        postcodes.append([pc, pc.replace(" ", ""), f"E00999{n:03d}", code, f"E02999{msoa_n:03d}", ward[0], LAD[0], 0,
                          f"{lat:.6f}", f"{lon:.6f}", ""])
        # Two invented residential postcodes around each place, so LSOA centroids are not just the venue.
        for k in range(2):
            dlat, dlon = rng.uniform(-0.004, 0.004), rng.uniform(-0.006, 0.006)
            postcodes.append([f"LS98 {n}{'AB'[k]}Z", f"LS98{n}{'AB'[k]}Z", f"E00999{n:03d}", code, f"E02999{msoa_n:03d}",
                              ward[0], LAD[0], 0, f"{lat + dlat:.6f}", f"{lon + dlon:.6f}", ""])
    write_csv(OUT / "postcodes.csv", ["pcds", "pcd", "oa11", "lsoa11", "msoa11", "osward", "oslaua", "usertype",
                                      "lat", "long", "doterm"], postcodes)
    write_csv(OUT / "areas.csv", ["LSOA11CD", "LSOA11NM", "MSOA11CD", "MSOA11NM", "LAD22CD", "LAD22NM"],
              [[c, n, m, mn, *LAD] for c, n, m, mn, _, _, _ in lsoas])
    write_csv(OUT / "wards.csv", ["LSOA11CD", "WD22CD", "WD22NM"], [[c, w[0], w[1]] for c, _, _, _, w, _, _ in lsoas])
    # IMD: deprivation falls with distance from the (invented) inner-city core; File 7 column names.
    ranked = sorted(lsoas, key=lambda r: math.hypot(r[5] - 53.795, (r[6] + 1.54) * 0.6))
    imd_rows = []
    for i, (code, name, *_rest) in enumerate(ranked):
        rank = 400 + i * int(32000 / len(ranked))
        decile = min(10, 1 + rank * 10 // 32844)
        pop = 1200 + rng.randrange(0, 900)
        imd_rows.append([code, name, LAD[0], LAD[1], rank, decile, pop])
    write_csv(OUT / "imd.csv", ["LSOA code (2011)", "LSOA name (2011)", "Local Authority District code (2019)",
                                "Local Authority District name (2019)",
                                "Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived)",
                                "Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs)",
                                "Total population: mid 2015 (excluding prisoners)"], imd_rows)
    print(f"wrote {OUT}: {len(LGA_TYPES)} service types, {len(lsoas)} LSOAs, {len(postcodes)} postcodes")


if __name__ == "__main__":
    main()
