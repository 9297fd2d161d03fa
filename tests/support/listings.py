"""Hand-written listings for the matcher tests: a leisure centre whose classes every source lists,
real duplicates written three ways, a franchise in two towns and near-identical names nearby."""
import duckdb
import pandas as pd

from dedupe.records import MATCH_INPUT_DDL, key_records

SOURCES = ("council", "nhs", "vcs")


CLASSES = ["Aquafit", "Chair Yoga", "Walking Football", "Junior Gym", "Adult Swimming Lessons", "Pilates", "Zumba",
           "Table Tennis", "Badminton", "Spin Class", "Tai Chi", "Netball"]


DAYS = ["MO", "TU", "WE", "TH", "FR", "SA"]


def listing(source, rid, name, *, org="Leeds Leisure", pc="LS11 5DJ", addr="Middleton Grove", phone="0113 395 0000",
            lat=53.7717, lon=-1.5466, city="Leeds", day="MO", email=None, url=None, ids=()):
    return {"staging_id": f"{source}/{rid}", "source_id": source, "source_record_id": rid, "name": name,
            "description": f"{name} at the centre.", "url": url, "email": email, "org_name": org, "org_url": None,
            "org_email": None, "identifiers": list(ids), "phones": [phone] if phone else [], "location_name": None,
            "address": addr, "city": city, "postcode": pc, "latitude": lat, "longitude": lon,
            "schedule": [f"{day}@10:00"], "terms": ["sport"], "staging_location_id": None, "staging_org_id": None}


def leisure_world() -> list[dict]:
    """A leisure centre whose twelve classes every source lists (with formatting noise), plus
    real duplicates elsewhere, a franchise in two towns and near-identical names nearby."""
    rows = []
    phone_styles = {"council": "0113 395 0000", "nhs": "+44 113 395 0000", "vcs": "01133950000"}
    for s in SOURCES:
        for n, cls in enumerate(CLASSES):
            name = cls.upper() if s == "nhs" else cls
            rows.append(listing(s, f"{s}-class-{n}", name, phone=phone_styles[s], day=DAYS[n % 6]))
    for n, (name, pc, lat, lon, phone) in enumerate([
            ("Coffee & Chat", "LS2 7EY", 53.8019, -1.5456, "0113 389 3000"),
            ("Beeston Men's Shed", "LS11 8PN", 53.7794, -1.5585, "0113 277 4122"),
            ("Stop Smoking Clinic", "LS10 1LT", 53.7782, -1.5313, "0800 169 4219")]):
        for s in SOURCES:
            variant = {"vcs": name.replace("&", "and").replace("'", "")}.get(s, name)
            rows.append(listing(s, f"{s}-svc-{n}", variant, org=f"Org {n}", pc=pc.lower().replace(" ", "") if s == "nhs" else pc,
                                addr=f"{n + 1} Some Street", phone=phone, lat=lat, lon=lon, day="WE"))
    for s in ("council", "nhs"):     # the same franchise name and national number in two towns
        rows.append(listing(s, f"{s}-lunch-leeds", "Over 50s Lunch Club", org="Age UK", pc="LS15 8GB", addr="Cross Gates Centre",
                            phone="0800 678 1602", lat=53.8067, lon=-1.4523, day="TU"))
        rows.append(listing(s, f"{s}-lunch-york", "Over 50s Lunch Club", org="Age UK", pc="YO1 7HH", addr="York Hall",
                            phone="0800 678 1602", lat=53.9600, lon=-1.0800, city="York", day="TU"))
    rows.append(listing("council", "toddler-mary", "St Mary's Toddler Group", org="St Mary's", pc="LS6 1AA", addr="Church Lane",
                        phone="0113 111 1111", lat=53.8200, lon=-1.5700, day="TH"))
    rows.append(listing("nhs", "toddler-mark", "St Mark's Toddler Group", org="St Mark's", pc="LS6 1AB", addr="Church Road",
                        phone="0113 222 2222", lat=53.8210, lon=-1.5710, day="TH"))
    for n in range(80):     # unrelated services elsewhere, so that random pairs look like a real directory
        s = SOURCES[n % 3]
        rows.append(listing(s, f"{s}-other-{n}", f"{['Knit', 'Choir', 'Art', 'Chess', 'Book'][n % 5]} Group {n}", org=f"Group {n}",
                            pc=f"LS{n % 28 + 1} {n % 9 + 1}QT", addr=f"{n} Other Road", phone=f"0113 4{n:02d} 1234",
                            lat=53.7 + n / 400, lon=-1.6 + n / 300, day=DAYS[n % 6]))
    return rows


def keyed(rows) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA work")
    con.execute(MATCH_INPUT_DDL)
    con.register("rows_frame", pd.DataFrame(rows))
    con.execute("INSERT INTO work.match_input SELECT * FROM rows_frame")
    key_records(con)
    return con


def clusters(con) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for rid, cluster in con.execute("""SELECT r.source_record_id, c.cluster_mid FROM work.record_cluster c
                                       JOIN work.match_record r USING (mid)""").fetchall():
        out.setdefault(cluster, set()).add(rid)
    return {min(v): v for v in out.values()}


def cluster_of(groups, rid):
    return next(v for v in groups.values() if rid in v)
